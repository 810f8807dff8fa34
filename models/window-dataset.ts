/**
 * Labelled windows from a simulated fleet: the training, validation and test data of the anomaly
 * model.
 *
 * Windowing is ingest's own: each vehicle's samples go through the keyed event-time windows of
 * common/windows/ with ingest's window length and a window's samples kept as ingest's
 * `VehicleWindows` keeps them (event-time order, one per event time), and every closed window
 * becomes a feature vector through `computeFeatures` (models/features.ts). There is no second
 * implementation of either.
 *
 * Labelling (per window, from the simulator's ground truth at the window's end):
 * - 0  healthy vehicle, or a faulty vehicle before its fault's onset (severity 0);
 * - 1  the fault's severity ≥ `labelSeverity` (default 0.5, half-way to failure; failed parts stay at 1);
 * - −1 ambiguous: 0 < severity < `labelSeverity`. Left out of training and of the
 *      classification metrics (a fault barely begun has no signature yet), kept for lead time.
 * Ground-truth severity and time to failure are kept per window for the lead-time evaluation.
 *
 * Splits are by vehicle: a vehicle's windows are all in train, all in validation or all in test.
 */
import { createHash } from 'node:crypto';
import { insertByEventTime } from '../common/windows/insert-by-event-time.ts';
import { KeyedWindows } from '../common/windows/keyed-windows.ts';
import type { Sample } from '../contracts/telemetry.ts';
import { FAULT_KINDS, type FaultKind, type GroundTruth } from '../simulator/faults.ts';
import { createSimulatedVehicle } from '../simulator/fleet-generator.ts';
import { planFleet } from '../simulator/fleet-plan.ts';
import { drawObservationProfile, FULL_OBSERVATION, type ObservationProfile, Observer } from '../simulator/observation.ts';
import { createRng } from '../simulator/rng.ts';
import type { VehicleSpec } from '../simulator/simulated-vehicle.ts';
import { FEATURE_NAMES, FEATURE_SET_ID, FEATURE_VERSION, type FeatureVector, WINDOW_FEATURE_NAMES } from './features.ts';
import { VehicleFeaturePath } from './vehicle-feature-path.ts';
import type { BaselineOptions } from './vehicle-baseline.ts';

export const DEFAULT_LABEL_SEVERITY = 0.5;
export const DEFAULT_WINDOW_MS = 30_000;

export type Split = 'train' | 'validation' | 'test';
export const SPLITS: readonly Split[] = ['train', 'validation', 'test'];

export interface DatasetVehicle {
  id: string;
  profile: string;
  style: string;
  fault: FaultKind | null;
  onsetMs: number | null;
  failureMs: number | null;
  split: Split;
  /** When the car's own diagnosis first had a pending / a confirmed code (MIL on), event time ms; null if never. */
  firstPendingDtcMs?: number | null;
  firstConfirmedDtcMs?: number | null;
  /** How the car was read (rates, PIDs …), for the report. */
  observation?: { fastHz: number; slowHz: number; absent: readonly string[] };
  /** Faulty already when the simulation (and so the baseline's learning) began. */
  faultyFromStart?: boolean;
}

export interface WindowDataset {
  featureNames: readonly string[];
  featureSetId: string;
  featureVersion: number;
  windowMs: number;
  labelSeverity: number;
  /** How it was made (fleet size, days, seed…), for the metadata and the report. */
  source: Record<string, string | number>;
  vehicles: DatasetVehicle[];
  /** Row-major n × F, float32 as the model sees it; NaN where a feature is absent. */
  x: Float32Array;
  /** Index into `vehicles`. */
  vehicle: Uint32Array;
  /** Window start, event time ms. */
  t: Float64Array;
  /** Ground-truth severity at the window's end. */
  severity: Float32Array;
  /** Seconds to failure at the window's end; NaN for a healthy vehicle. */
  ttfS: Float64Array;
  /** 1 faulty, 0 healthy, −1 ambiguous (see the module comment). */
  label: Int8Array;
  /** 1 when the window was scored with the vehicle's baseline already learned. */
  learned: Uint8Array;
  /**
   * The windows' own features (WINDOW_FEATURE_NAMES order, NaN where absent), row-major: what
   * ingest stores in `features`, and what drift compares (a model input is a vehicle's recent
   * evidence, which moves with the trips a few vehicles happened to make).
   */
  own?: Float32Array;
}

export function rowCount(d: WindowDataset): number {
  return d.label.length;
}

export interface FleetDatasetOptions {
  vehicles: number;
  days: number;
  /** Share (0…1) of vehicles with a developing fault. */
  faultyFraction: number;
  seed: number;
  startMs: number;
  windowMs?: number;
  labelSeverity?: number;
  onsetDays?: readonly [number, number];
  failureAfterDays?: readonly [number, number];
  /** Share of vehicles in validation and test (each). */
  holdoutFraction?: number;
  /**
   * Domain randomisation (default true): every car gets its own calibration and sensor character
   * (simulator/vehicle-variation.ts) and is read with its own poll rates, PID set, resolution and
   * logger habits (simulator/observation.ts). False: nominal cars read at 1 Hz with every PID.
   */
  randomise?: boolean;
  /** Share of the faulty vehicles whose fault is already half-developed when the simulation starts (default 0.15). */
  faultyFromStartFraction?: number;
  baseline?: BaselineOptions;
  /** Called after each vehicle. */
  onProgress?: (done: number, total: number, windows: number) => void;
}

export function labelFor(truth: GroundTruth, labelSeverity: number): -1 | 0 | 1 {
  if (truth.fault === null || truth.severity <= 0) return 0;
  return truth.severity >= labelSeverity ? 1 : -1;
}

/**
 * Assigns splits by vehicle, stratified by fault kind (healthy is its own stratum) so that each
 * fault kind appears in validation and test whenever it has three or more vehicles.
 */
export function splitVehicles(specs: readonly VehicleSpec[], seed: number, holdoutFraction: number): Split[] {
  const rng = createRng(seed).fork('split');
  const strata = new Map<string, number[]>();
  specs.forEach((s, i) => {
    const key = s.fault?.kind ?? 'healthy';
    strata.set(key, [...(strata.get(key) ?? []), i]);
  });
  const out: Split[] = specs.map(() => 'train');
  for (const members of strata.values()) {
    for (let i = members.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [members[i], members[j]] = [members[j]!, members[i]!];
    }
    const n = members.length;
    const holdout = n >= 3 ? Math.max(1, Math.round(n * holdoutFraction)) : 0;
    members.forEach((index, rank) => {
      out[index] = rank < holdout ? 'test' : rank < 2 * holdout ? 'validation' : 'train';
    });
  }
  return out;
}

interface WindowedSample {
  t: number;
  wire: Sample;
  truth: GroundTruth;
}

/** Grows typed-array columns without knowing the final row count. */
class ColumnBuilder {
  n = 0;
  private cap = 1024;
  x: Float32Array;
  vehicle = new Uint32Array(this.cap);
  t = new Float64Array(this.cap);
  severity = new Float32Array(this.cap);
  ttfS = new Float64Array(this.cap);
  label = new Int8Array(this.cap);
  learned = new Uint8Array(this.cap);
  own: Float32Array;
  constructor(private readonly width: number) {
    this.x = new Float32Array(this.cap * width);
    this.own = new Float32Array(this.cap * WINDOW_FEATURE_NAMES.length);
  }
  push(x: ArrayLike<number>, own: ArrayLike<number>, vehicle: number, t: number, severity: number, ttfS: number, label: number, learned: boolean): void {
    if (this.n === this.cap) this.grow();
    this.learned[this.n] = learned ? 1 : 0;
    this.own.set(own, this.n * WINDOW_FEATURE_NAMES.length);
    this.x.set(x, this.n * this.width);
    this.vehicle[this.n] = vehicle;
    this.t[this.n] = t;
    this.severity[this.n] = severity;
    this.ttfS[this.n] = ttfS;
    this.label[this.n] = label;
    this.n++;
  }
  private grow(): void {
    this.cap *= 2;
    const g = <T extends Float32Array | Float64Array | Uint32Array | Int8Array | Uint8Array>(a: T, per = 1): T => {
      const b = new (a.constructor as new (n: number) => T)(this.cap * per);
      b.set(a);
      return b;
    };
    this.x = g(this.x, this.width);
    this.vehicle = g(this.vehicle);
    this.t = g(this.t);
    this.severity = g(this.severity);
    this.ttfS = g(this.ttfS);
    this.label = g(this.label);
    this.learned = g(this.learned);
    this.own = g(this.own, WINDOW_FEATURE_NAMES.length);
  }
}

/**
 * One vehicle's windows fed in pieces (`push` samples in time order, then `end`), closed exactly
 * as ingest closes them: the incremental form of `vehicleWindows`, for sources that arrive in
 * chunks (the archive).
 */
export function vehicleWindower<S extends { t: number }>(windowMs: number): { push(samples: readonly S[]): { startMs: number; samples: S[] }[]; end(): { startMs: number; samples: S[] }[] } {
  // Lateness 0 and an idle close at the end: for in-order batch data this yields the same windows
  // ingest closes with any lateness (lateness only delays when a window closes, not what is in it).
  // One vehicle and no bound: ingest's bounds only close windows early under load.
  const windows = new KeyedWindows<S, S[]>({
    shapes: [{ sizeMs: windowMs, slideMs: windowMs }],
    allowedLatenessMs: 0,
    idleTimeoutMs: 0,
    timeOf: (s) => s.t,
    open: () => [],
    add: (samples, s) => void insertByEventTime(samples, s),
  });
  const out = (closed: readonly { startMs: number; contents: S[] }[]) => closed.map((w) => ({ startMs: w.startMs, samples: w.contents }));
  return {
    push(samples) {
      const closed: { startMs: number; samples: S[] }[] = [];
      for (let i = 0; i < samples.length; i += 64) closed.push(...out(windows.add('v', samples.slice(i, i + 64), 0).closed));
      return closed;
    },
    end: () => out(windows.closeIdle(Number.POSITIVE_INFINITY)),
  };
}

/** Windows of one vehicle, closed exactly as ingest closes them, in event-time order. */
export function* vehicleWindows(samples: Iterable<WindowedSample>, windowMs: number): Generator<{ startMs: number; samples: WindowedSample[] }> {
  const windower = vehicleWindower<WindowedSample>(windowMs);
  let batch: WindowedSample[] = [];
  for (const s of samples) {
    batch.push(s);
    if (batch.length < 64) continue;
    yield* windower.push(batch);
    batch = [];
  }
  if (batch.length) yield* windower.push(batch);
  yield* windower.end();
}

/** Feature row of a feature vector, NaN where absent (FEATURE_NAMES order). */
export function featureRow(f: FeatureVector, names: readonly string[] = FEATURE_NAMES): Float32Array {
  const row = new Float32Array(names.length);
  names.forEach((n, i) => (row[i] = f[n] ?? Number.NaN));
  return row;
}

/** Simulates the fleet and returns its labelled windows. Deterministic for the same options. */
export function buildFleetDataset(o: FleetDatasetOptions): WindowDataset {
  const windowMs = o.windowMs ?? DEFAULT_WINDOW_MS;
  const labelSeverity = o.labelSeverity ?? DEFAULT_LABEL_SEVERITY;
  const randomise = o.randomise ?? true;
  const specs = planFleet({
    vehicles: o.vehicles,
    idPrefix: 'train-',
    seed: o.seed,
    faultyFraction: o.faultyFraction,
    startMs: o.startMs,
    schedule: 'daily',
    randomiseVariation: randomise,
    ...(o.onsetDays ? { onsetDays: o.onsetDays } : {}),
    ...(o.failureAfterDays ? { failureAfterDays: o.failureAfterDays } : {}),
  });
  const fromStart = faultyFromStart(specs, o.seed, o.startMs, o.faultyFromStartFraction ?? 0.15);
  const splits = splitVehicles(specs, o.seed, o.holdoutFraction ?? 0.2);
  const cols = new ColumnBuilder(FEATURE_NAMES.length);
  const endMs = o.startMs + o.days * 86_400_000;
  const vehicles: DatasetVehicle[] = [];
  specs.forEach((spec, vi) => {
    const rng = createRng(o.seed).fork(`observe-${spec.vehicleId}`);
    const profile: ObservationProfile = randomise ? drawObservationProfile(rng) : FULL_OBSERVATION;
    const dtc = simulateVehicleWindows(spec, o.seed, o.startMs, endMs, windowMs, profile, rng, o.baseline ?? {}, (w) => {
      cols.push(featureRow(w.features), featureRow(w.own, WINDOW_FEATURE_NAMES), vi, w.startMs, w.truth.severity, w.truth.timeToFailureS ?? Number.NaN, labelFor(w.truth, labelSeverity), w.learned);
    });
    vehicles.push({
      id: spec.vehicleId,
      profile: spec.profile.id,
      style: spec.style,
      fault: spec.fault?.kind ?? null,
      onsetMs: spec.fault?.onsetMs ?? null,
      failureMs: spec.fault?.failureMs ?? null,
      split: splits[vi]!,
      firstPendingDtcMs: dtc.firstPendingMs,
      firstConfirmedDtcMs: dtc.firstConfirmedMs,
      observation: { fastHz: Math.round(profile.fastHz * 100) / 100, slowHz: Math.round(profile.slowHz * 100) / 100, absent: profile.absent },
      ...(fromStart.has(spec.vehicleId) ? { faultyFromStart: true } : {}),
    });
    o.onProgress?.(vi + 1, specs.length, cols.n);
  });
  const n = cols.n;
  return {
    featureNames: FEATURE_NAMES,
    featureSetId: FEATURE_SET_ID,
    featureVersion: FEATURE_VERSION,
    windowMs,
    labelSeverity,
    source: { generator: 'simulator', vehicles: o.vehicles, days: o.days, faultyPercent: Math.round(o.faultyFraction * 100), seed: o.seed, startTime: new Date(o.startMs).toISOString(), randomised: randomise ? 'yes' : 'no' },
    vehicles,
    x: cols.x.slice(0, n * FEATURE_NAMES.length),
    vehicle: cols.vehicle.slice(0, n),
    t: cols.t.slice(0, n),
    severity: cols.severity.slice(0, n),
    ttfS: cols.ttfS.slice(0, n),
    label: cols.label.slice(0, n),
    learned: cols.learned.slice(0, n),
    own: cols.own.slice(0, n * WINDOW_FEATURE_NAMES.length),
  };
}

/**
 * Moves the fault of a share of the faulty vehicles so that it is 70–95 % of the way to failure
 * when the simulation starts: the baseline then learns a faulty car as normal, and the model must
 * flag it on fleet-level evidence alone. Returns the ids of those vehicles.
 */
function faultyFromStart(specs: VehicleSpec[], seed: number, startMs: number, fraction: number): Set<string> {
  const rng = createRng(seed).fork('faulty-from-start');
  const out = new Set<string>();
  for (const spec of specs) {
    const f = spec.fault;
    if (!f || rng.next() >= fraction) continue;
    const duration = f.failureMs - f.onsetMs;
    const u = rng.uniform(0.7, 0.95);
    spec.fault = { ...f, onsetMs: Math.round(startMs - u * duration), failureMs: Math.round(startMs + (1 - u) * duration) };
    out.add(spec.vehicleId);
  }
  return out;
}

interface SimulatedWindow {
  startMs: number;
  features: FeatureVector;
  own: FeatureVector;
  learned: boolean;
  truth: GroundTruth;
}

/**
 * One simulated vehicle through its observer, ingest's windows and its baseline, handing every
 * closed window to `onWindow` in event-time order. Returns when its ECU first reported a pending
 * and a confirmed trouble code. `path` (default: a new one with `baseline`) is the feature path the
 * windows go through: pass one to keep what it learnt (`fleetpulse up` seeds its demo baselines so).
 */
export function simulateVehicleWindows(
  spec: VehicleSpec,
  seed: number,
  startMs: number,
  endMs: number,
  windowMs: number,
  profile: ObservationProfile,
  rng: ReturnType<typeof createRng>,
  baseline: BaselineOptions,
  onWindow: (w: SimulatedWindow) => void,
  path: VehicleFeaturePath = new VehicleFeaturePath(baseline),
): { firstPendingMs: number | null; firstConfirmedMs: number | null } {
  const vehicle = createSimulatedVehicle(spec, seed, startMs, profile.fastHz);
  const observer = new Observer(profile, rng.fork('observer'));
  const windower = vehicleWindower<Sample & { truth?: GroundTruth }>(windowMs);
  let firstPendingMs: number | null = null;
  let firstConfirmedMs: number | null = null;
  let nextDtcCheck = Number.NEGATIVE_INFINITY;
  const emit = (closed: Array<{ startMs: number; samples: Array<Sample & { truth?: GroundTruth }> }>): void => {
    for (const w of closed) {
      const truth = w.samples[w.samples.length - 1]!.truth!;
      const samples = w.samples.map(({ truth: _, ...wire }) => wire as Sample);
      const { features, own, learned } = path.window(w.startMs, samples);
      onWindow({ startMs: w.startMs, features, own, learned, truth });
    }
  };
  let batch: Array<Sample & { truth?: GroundTruth }> = [];
  for (;;) {
    const s = vehicle.nextSample(endMs - 1);
    if (!s) break;
    if (s.t >= nextDtcCheck && (firstPendingMs === null || firstConfirmedMs === null)) {
      nextDtcCheck = s.t + 60_000;
      const dtcs = vehicle.dtcs();
      if (firstPendingMs === null && (dtcs.pending.length > 0 || dtcs.stored.length > 0)) firstPendingMs = s.t;
      if (firstConfirmedMs === null && dtcs.stored.length > 0) firstConfirmedMs = s.t;
    }
    const observed = observer.observe(s.t, s.values) as Sample & { truth?: GroundTruth };
    observed.truth = s.truth;
    batch.push(observed);
    if (batch.length >= 256) {
      emit(windower.push(batch));
      batch = [];
    }
  }
  emit(windower.push(batch));
  emit(windower.end());
  return { firstPendingMs, firstConfirmedMs };
}

/** Row indices of a split, optionally only labelled rows (label ≠ −1). */
export function splitRows(d: WindowDataset, split: Split, labelledOnly = true): number[] {
  const rows: number[] = [];
  for (let i = 0; i < d.label.length; i++) {
    if (d.vehicles[d.vehicle[i]!]!.split !== split) continue;
    if (labelledOnly && d.label[i] === -1) continue;
    rows.push(i);
  }
  return rows;
}

/** A stable content hash: the same windows, labels and feature contract give the same hash. */
export function datasetHash(d: WindowDataset): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ f: d.featureNames, id: d.featureSetId, w: d.windowMs, l: d.labelSeverity, v: d.vehicles }));
  for (const a of [d.x, d.vehicle, d.t, d.severity, d.ttfS, d.label, d.learned]) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return `sha256:${h.digest('hex')}`;
}

export { FAULT_KINDS };

export { VehicleFeaturePath };
