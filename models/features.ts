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
/** Engine running (above cranking speed). */
const MIN_RUNNING_RPM = 400;
/** Coolant at which every profile's thermostat has started to open. */
const WARM_COOLANT_C = 80;
/** Speed with enough ram air through the radiator. */
const MOVING_KMH = 50;
/** Throttle opening (absolute %) at which an unrestricted intake is close to ambient pressure. */
const HIGH_THROTTLE_PCT = 50;
/** Successive readings further apart than this are not compared (a gap in the data). */
const MAX_STEP_S = 5;

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
    name: 'control_module_voltage_ripple',
    needs: ['CONTROL_MODULE_VOLTAGE'],
    description: 'Median |change| of control-module voltage between successive readings at most 5 s apart (V): regulator ripple of a failing alternator, robust to load steps',
    compute: (samples, times) => median(successiveChanges(samples, times, 'CONTROL_MODULE_VOLTAGE').map(Math.abs)),
  },
  {
    name: 'control_module_voltage_vs_rpm_slope',
    needs: ['CONTROL_MODULE_VOLTAGE', 'RPM'],
    description: 'Least-squares slope of control-module voltage on RPM/1000 with the engine running (V per 1000 rpm): a healthy regulator holds its set point at any speed, a weak alternator only at high speed',
    compute: (samples) => regressionSlope(pairs(samples, 'RPM', 'CONTROL_MODULE_VOLTAGE').filter(([rpm]) => rpm >= MIN_RUNNING_RPM).map(([rpm, v]) => [rpm / 1000, v])),
  },
  {
    name: 'coolant_temp_warm_slope',
    needs: ['COOLANT_TEMP'],
    description: `Least-squares slope of coolant temperature over time while at or above ${WARM_COOLANT_C} °C (°C/s): a thermostat regulates a warm engine flat`,
    compute: (samples, times) => regressionSlope(timed(samples, times, 'COOLANT_TEMP').filter(([, c]) => c >= WARM_COOLANT_C)),
  },
  {
    name: 'coolant_temp_ripple',
    needs: ['COOLANT_TEMP'],
    description: 'Mean |change| of coolant temperature between successive readings at most 5 s apart (°C): steam pockets, fan cycling',
    compute: (samples, times) => mean(successiveChanges(samples, times, 'COOLANT_TEMP').map(Math.abs)),
  },
  {
    name: 'coolant_warmup_rate_per_load',
    needs: ['COOLANT_TEMP', 'ENGINE_LOAD', 'RPM'],
    description: `Slope of coolant temperature over time below ${WARM_COOLANT_C} °C (°C/s) divided by the mean of load/100 · RPM/1000 (a proxy of fuel burnt, so of heat in): a warming engine with a closed thermostat keeps its heat, a stuck-open one loses it to the radiator`,
    compute: (samples, times) => {
      const cold: Array<[number, number]> = [];
      const work: number[] = [];
      samples.forEach((s, i) => {
        const c = s.COOLANT_TEMP;
        const load = s.ENGINE_LOAD;
        const rpm = s.RPM;
        if (c === undefined || load === undefined || rpm === undefined || c >= WARM_COOLANT_C || rpm < MIN_RUNNING_RPM) return;
        cold.push([times[i]!, c]);
        work.push((load / 100) * (rpm / 1000));
      });
      const slope = regressionSlope(cold);
      const w = mean(work);
      return slope === undefined || w === undefined || w < 0.05 ? undefined : slope / w;
    },
  },
  {
    name: 'coolant_temp_moving_mean',
    needs: ['COOLANT_TEMP', 'SPEED'],
    description: `Mean coolant temperature while faster than ${MOVING_KMH} km/h and warm (°C): with ram air through the radiator a working thermostat holds its set point`,
    compute: (samples) => mean(pairs(samples, 'SPEED', 'COOLANT_TEMP').filter(([v, c]) => v >= MOVING_KMH && c >= WARM_COOLANT_C).map(([, c]) => c)),
  },
  {
    name: 'manifold_pressure_deficit_high_throttle',
    needs: ['ENGINE_LOAD', 'THROTTLE_POS', 'INTAKE_TEMP', 'BAROMETRIC_PRESSURE'],
    description: `Mean barometric pressure minus the manifold pressure (measured MAP where reported, else estimated from load and intake temperature) over samples with throttle ≥ ${HIGH_THROTTLE_PCT} % (kPa): the pressure an intake restriction (clogged filter) takes away at high flow`,
    compute: (samples) => {
      const out: number[] = [];
      for (const s of samples) {
        const th = s.THROTTLE_POS;
        const baro = s.BAROMETRIC_PRESSURE;
        if (th === undefined || baro === undefined || th < HIGH_THROTTLE_PCT) continue;
        const map = manifoldPressure(s);
        if (map !== undefined) out.push(baro - map);
      }
      return mean(out);
    },
  },
  {
    name: 'manifold_pressure_ratio_max',
    needs: ['ENGINE_LOAD', 'INTAKE_TEMP', 'BAROMETRIC_PRESSURE', 'RPM'],
    description: 'Highest manifold / barometric pressure with the engine running (MAP where reported, else estimated from load): close to 1 at wide-open throttle unless the intake is restricted',
    compute: (samples) => {
      let best: number | undefined;
      for (const s of samples) {
        const baro = s.BAROMETRIC_PRESSURE;
        if (baro === undefined || !(baro > 0) || (s.RPM ?? 0) < MIN_RUNNING_RPM) continue;
        const map = manifoldPressure(s);
        if (map !== undefined && (best === undefined || map / baro > best)) best = map / baro;
      }
      return best;
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

/**
 * Manifold absolute pressure (kPa): the MAP sensor where the engine reports one; otherwise
 * estimated from calculated load, which scales with MAP × the intake air density correction
 * √(298 K / intake temperature).
 */
function manifoldPressure(s: Values): number | undefined {
  if (s.INTAKE_PRESSURE !== undefined) return s.INTAKE_PRESSURE;
  const load = s.ENGINE_LOAD;
  const iat = s.INTAKE_TEMP;
  if (load === undefined || iat === undefined) return undefined;
  return (load * 1.013) / Math.sqrt(298 / (273 + iat));
}

/** [time s, value] of one signal, in time order. */
function timed(samples: readonly Values[], times: readonly number[], signal: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  samples.forEach((s, i) => {
    const v = s[signal];
    if (v !== undefined) out.push([times[i]!, v]);
  });
  return out;
}

/** Differences between successive readings of one signal at most MAX_STEP_S apart. */
function successiveChanges(samples: readonly Values[], times: readonly number[], signal: string): number[] {
  const pts = timed(samples, times, signal);
  const out: number[] = [];
  for (let i = 1; i < pts.length; i++) if (pts[i]![0] - pts[i - 1]![0] <= MAX_STEP_S) out.push(pts[i]![1] - pts[i - 1]![1]);
  return out;
}

function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
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
