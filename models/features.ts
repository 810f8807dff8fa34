/**
 * The feature contract: what one window of one vehicle's telemetry becomes before a model sees it.
 * Ingest (per closed window) and the trainer (offline, over stored telemetry) both call
 * `computeFeatures`; nothing else computes features, so training and serving cannot drift.
 *
 * Guarantees:
 * - `FEATURE_NAMES` is a stable, ordered list derived from the declared signal list
 *   (`FEATURE_SIGNALS`, i.e. the catalogue in contracts/signals.ts) and the cross-signal table
 *   below. A new signal appends its five features after the existing per-signal ones of the
 *   signals declared before it; `FEATURE_SET_ID` changes whenever the list changes, and
 *   `FEATURE_VERSION` whenever the meaning of a feature changes.
 * - The result depends only on the set of samples, not on their order or on duplicates:
 *   samples are sorted by event time and a repeated event time counts once (the last one wins,
 *   as it does in InfluxDB). The result is therefore bit-for-bit reproducible.
 * - A feature whose inputs are absent from the window is omitted, never NaN or ±Infinity.
 */
import { SIGNALS, signalField, type SignalName } from '../contracts/signals.ts';
import type { Sample } from '../contracts/telemetry.ts';

/** Bumped when the computation of an existing feature changes meaning. */
export const FEATURE_VERSION = 1;

/** Signals that get per-signal features, in catalogue order. */
export const FEATURE_SIGNALS: readonly SignalName[] = SIGNALS.map((s) => s.name as SignalName);

export const PER_SIGNAL_STATS = ['mean', 'std', 'min', 'max', 'slope'] as const;
export type PerSignalStat = (typeof PER_SIGNAL_STATS)[number];

/** Name of a per-signal feature, e.g. `coolant_temp_slope`. */
export function signalFeatureName(signal: string, stat: PerSignalStat): string {
  return `${signalField(signal)}_${stat}`;
}

type Values = Readonly<Partial<Record<string, number>>>;

interface CrossFeature {
  readonly name: string;
  /** Every signal it reads; the feature exists only if all are in the catalogue. */
  readonly needs: readonly string[];
  readonly description: string;
  readonly compute: (samples: readonly Values[], times: readonly number[]) => number | undefined;
}

/** Minimum engine speed and load for MAF per rpm·load; below it the ratio is noise. */
const MIN_RPM_FOR_MAF_RATIO = 300;
const MIN_LOAD_FOR_MAF_RATIO = 5;

const CROSS_FEATURES: readonly CrossFeature[] = [
  {
    name: 'coolant_temp_vs_load_slope',
    needs: ['COOLANT_TEMP', 'ENGINE_LOAD'],
    description: 'Least-squares slope of coolant temperature on engine load (°C per % load)',
    compute: (samples) => regressionSlope(pairs(samples, 'ENGINE_LOAD', 'COOLANT_TEMP')),
  },
  {
    name: 'coolant_temp_per_load_mean',
    needs: ['COOLANT_TEMP', 'ENGINE_LOAD'],
    description: 'Mean coolant temperature divided by (1 + load/100): running hot for the work done',
    compute: (samples) => mean(pairs(samples, 'ENGINE_LOAD', 'COOLANT_TEMP').map(([load, temp]) => temp / (1 + load / 100))),
  },
  {
    name: 'fuel_trim_total_mean',
    needs: ['SHORT_FUEL_TRIM_1', 'LONG_FUEL_TRIM_1'],
    description: 'Mean of STFT + LTFT, bank 1 (%): the total correction the ECU applies',
    compute: (samples) => mean(pairs(samples, 'SHORT_FUEL_TRIM_1', 'LONG_FUEL_TRIM_1').map(([s, l]) => s + l)),
  },
  {
    name: 'fuel_trim_total_max_abs',
    needs: ['SHORT_FUEL_TRIM_1', 'LONG_FUEL_TRIM_1'],
    description: 'Largest |STFT + LTFT|, bank 1 (%)',
    compute: (samples) => maxOf(pairs(samples, 'SHORT_FUEL_TRIM_1', 'LONG_FUEL_TRIM_1').map(([s, l]) => Math.abs(s + l))),
  },
  {
    name: 'maf_per_rpm_load_mean',
    needs: ['MAF', 'RPM', 'ENGINE_LOAD'],
    description: `Mean MAF / (RPM/1000 · LOAD/100) in g/s, over samples with RPM ≥ ${MIN_RPM_FOR_MAF_RATIO} and load ≥ ${MIN_LOAD_FOR_MAF_RATIO} %: air drawn for the work done (leaks, dirty MAF)`,
    compute: (samples) => {
      const ratios: number[] = [];
      for (const s of samples) {
        const maf = s.MAF;
        const rpm = s.RPM;
        const load = s.ENGINE_LOAD;
        if (maf === undefined || rpm === undefined || load === undefined) continue;
        if (rpm < MIN_RPM_FOR_MAF_RATIO || load < MIN_LOAD_FOR_MAF_RATIO) continue;
        ratios.push(maf / ((rpm / 1000) * (load / 100)));
      }
      return mean(ratios);
    },
  },
  {
    name: 'rpm_per_speed_mean',
    needs: ['RPM', 'SPEED'],
    description: 'Mean RPM / SPEED over samples moving faster than 5 km/h: the effective gear ratio (clutch slip)',
    compute: (samples) => mean(pairs(samples, 'SPEED', 'RPM').filter(([speed]) => speed > 5).map(([speed, rpm]) => rpm / speed)),
  },
];

const catalogue = new Set<string>(FEATURE_SIGNALS);
const activeCross = CROSS_FEATURES.filter((f) => f.needs.every((n) => catalogue.has(n)));

/** Every feature, in the order models take them. */
export const FEATURE_NAMES: readonly string[] = [
  'sample_count',
  ...FEATURE_SIGNALS.flatMap((signal) => PER_SIGNAL_STATS.map((stat) => signalFeatureName(signal, stat))),
  ...activeCross.map((f) => f.name),
];

/** Changes whenever FEATURE_NAMES or FEATURE_VERSION changes: `v<version>-<fnv1a32 of the names>`. */
export const FEATURE_SET_ID = `v${FEATURE_VERSION}-${fnv1a32(FEATURE_NAMES.join(',')).toString(16).padStart(8, '0')}`;

/** Human-readable description of every feature, for docs and the trainer's report. */
export function describeFeatures(): Array<{ name: string; description: string }> {
  return [
    { name: 'sample_count', description: 'Samples in the window (distinct event times)' },
    ...FEATURE_SIGNALS.flatMap((signal) => [
      { name: signalFeatureName(signal, 'mean'), description: `Mean of ${signal}` },
      { name: signalFeatureName(signal, 'std'), description: `Population standard deviation of ${signal}` },
      { name: signalFeatureName(signal, 'min'), description: `Minimum of ${signal}` },
      { name: signalFeatureName(signal, 'max'), description: `Maximum of ${signal}` },
      { name: signalFeatureName(signal, 'slope'), description: `Least-squares slope of ${signal} over event time, per second (0 with one sample)` },
    ]),
    ...activeCross.map((f) => ({ name: f.name, description: f.description })),
  ];
}

/** Present features only, keyed by name. */
export type FeatureVector = Record<string, number>;

/**
 * Features of one window's samples. Samples need not be sorted or unique (see the guarantees
 * above). An empty window gives `{ sample_count: 0 }`.
 */
export function computeFeatures(input: readonly Sample[]): FeatureVector {
  const samples = normalise(input);
  const out: FeatureVector = { sample_count: samples.length };
  if (samples.length === 0) return out;
  const t0 = samples[0]!.t;
  const times = samples.map((s) => (s.t - t0) / 1000);
  const values = samples as readonly Values[];
  for (const signal of FEATURE_SIGNALS) {
    const xs: number[] = [];
    const ts: number[] = [];
    for (let i = 0; i < values.length; i++) {
      const v = values[i]![signal];
      if (v === undefined) continue;
      xs.push(v);
      ts.push(times[i]!);
    }
    if (xs.length === 0) continue;
    const m = mean(xs)!;
    out[signalFeatureName(signal, 'mean')] = m;
    out[signalFeatureName(signal, 'std')] = Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / xs.length);
    out[signalFeatureName(signal, 'min')] = xs.reduce((a, x) => (x < a ? x : a));
    out[signalFeatureName(signal, 'max')] = xs.reduce((a, x) => (x > a ? x : a));
    out[signalFeatureName(signal, 'slope')] = xs.length === 1 ? 0 : (regressionSlope(ts.map((t, i) => [t, xs[i]!])) ?? 0);
  }
  for (const f of activeCross) {
    const v = f.compute(values, times);
    if (v !== undefined && Number.isFinite(v)) out[f.name] = v;
  }
  // Guard the NaN-free promise in one place rather than trusting every formula.
  for (const [k, v] of Object.entries(out)) if (!Number.isFinite(v)) delete out[k];
  return out;
}

/**
 * The vector in FEATURE_NAMES order (or a model's own order), `undefined` where a feature is
 * absent: imputation is the model's business, not the contract's.
 */
export function featureArray(features: FeatureVector, names: readonly string[] = FEATURE_NAMES): Array<number | undefined> {
  return names.map((n) => features[n]);
}

function normalise(input: readonly Sample[]): Sample[] {
  const sorted = [...input].sort((a, b) => a.t - b.t);
  const unique: Sample[] = [];
  for (const s of sorted) {
    if (unique.length > 0 && unique[unique.length - 1]!.t === s.t) unique[unique.length - 1] = s;
    else unique.push(s);
  }
  return unique;
}

function pairs(samples: readonly Values[], x: string, y: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const s of samples) {
    const a = s[x];
    const b = s[y];
    if (a !== undefined && b !== undefined) out.push([a, b]);
  }
  return out;
}

function mean(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  let sum = 0;
  for (const x of xs) sum += x;
  return sum / xs.length;
}

function maxOf(xs: readonly number[]): number | undefined {
  return xs.length === 0 ? undefined : xs.reduce((a, x) => (x > a ? x : a));
}

/** Slope of y on x by least squares; undefined with fewer than two points or constant x. */
function regressionSlope(points: ReadonlyArray<readonly [number, number]>): number | undefined {
  if (points.length < 2) return undefined;
  const mx = mean(points.map((p) => p[0]))!;
  const my = mean(points.map((p) => p[1]))!;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  return sxx === 0 ? undefined : sxy / sxx;
}

function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}
