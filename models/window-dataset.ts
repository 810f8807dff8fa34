/**
 * Labelled windows from a simulated fleet: the training, validation and test data of the anomaly
 * model.
 *
 * Windowing is ingest's own: each vehicle's samples go through `VehicleWindows` (ingest/windows)
 * with ingest's window length, and every closed window becomes a feature vector through
 * `computeFeatures` (models/features.ts). There is no second implementation of either.
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
import type { Sample } from '../contracts/telemetry.ts';
import { VehicleWindows } from '../ingest/windows/vehicle-windows.ts';
import { FAULT_KINDS, type FaultKind, type GroundTruth } from '../simulator/faults.ts';
import { generateVehicleSamples } from '../simulator/fleet-generator.ts';
import { planFleet } from '../simulator/fleet-plan.ts';
import { createRng } from '../simulator/rng.ts';
import { SimulatedVehicle, type VehicleSpec } from '../simulator/simulated-vehicle.ts';
import { computeFeatures, FEATURE_NAMES, FEATURE_SET_ID, FEATURE_VERSION } from './features.ts';

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
  constructor(private readonly width: number) {
    this.x = new Float32Array(this.cap * width);
  }
  push(x: ArrayLike<number>, vehicle: number, t: number, severity: number, ttfS: number, label: number): void {
    if (this.n === this.cap) this.grow();
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
    const g = <T extends Float32Array | Float64Array | Uint32Array | Int8Array>(a: T, per = 1): T => {
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
  const windows = new VehicleWindows<S>({ sizeMs: windowMs, slideMs: windowMs, allowedLatenessMs: 0, idleTimeoutMs: 0, maxVehicles: 1, maxBufferedSamples: Number.MAX_SAFE_INTEGER });
  const out = (closed: { startMs: number; samples: S[] }[]) => closed.map((w) => ({ startMs: w.startMs, samples: w.samples }));
  return {
    push(samples) {
      const closed: { startMs: number; samples: S[] }[] = [];
      for (let i = 0; i < samples.length; i += 64) closed.push(...out(windows.add('v', samples.slice(i, i + 64), 0, 0).closed));
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

/** Feature row of one window's wire samples, NaN where absent (FEATURE_NAMES order). */
export function featureRow(samples: readonly Sample[], names: readonly string[] = FEATURE_NAMES): Float32Array {
  const f = computeFeatures(samples);
  const row = new Float32Array(names.length);
  names.forEach((n, i) => (row[i] = f[n] ?? Number.NaN));
  return row;
}

/** Simulates the fleet and returns its labelled windows. Deterministic for the same options. */
export function buildFleetDataset(o: FleetDatasetOptions): WindowDataset {
  const windowMs = o.windowMs ?? DEFAULT_WINDOW_MS;
  const labelSeverity = o.labelSeverity ?? DEFAULT_LABEL_SEVERITY;
  const specs = planFleet({
    vehicles: o.vehicles,
    idPrefix: 'train-',
    seed: o.seed,
    faultyFraction: o.faultyFraction,
    startMs: o.startMs,
    schedule: 'daily',
    ...(o.onsetDays ? { onsetDays: o.onsetDays } : {}),
    ...(o.failureAfterDays ? { failureAfterDays: o.failureAfterDays } : {}),
  });
  const splits = splitVehicles(specs, o.seed, o.holdoutFraction ?? 0.2);
  const cols = new ColumnBuilder(FEATURE_NAMES.length);
  const endMs = o.startMs + o.days * 86_400_000;
  specs.forEach((spec, vi) => {
    const samples = (function* () {
      for (const s of generateVehicleSamples(spec, o.seed, o.startMs, endMs, 1)) yield { t: s.t, wire: SimulatedVehicle.toWire(s), truth: s.truth };
    })();
    for (const w of vehicleWindows(samples, windowMs)) {
      const truth = w.samples[w.samples.length - 1]!.truth;
      cols.push(featureRow(w.samples.map((s) => s.wire)), vi, w.startMs, truth.severity, truth.timeToFailureS ?? Number.NaN, labelFor(truth, labelSeverity));
    }
    o.onProgress?.(vi + 1, specs.length, cols.n);
  });
  const n = cols.n;
  return {
    featureNames: FEATURE_NAMES,
    featureSetId: FEATURE_SET_ID,
    featureVersion: FEATURE_VERSION,
    windowMs,
    labelSeverity,
    source: { generator: 'simulator', vehicles: o.vehicles, days: o.days, faultyPercent: Math.round(o.faultyFraction * 100), seed: o.seed, startTime: new Date(o.startMs).toISOString() },
    vehicles: specs.map((s, i) => ({
      id: s.vehicleId,
      profile: s.profile.id,
      style: s.style,
      fault: s.fault?.kind ?? null,
      onsetMs: s.fault?.onsetMs ?? null,
      failureMs: s.fault?.failureMs ?? null,
      split: splits[i]!,
    })),
    x: cols.x.slice(0, n * FEATURE_NAMES.length),
    vehicle: cols.vehicle.slice(0, n),
    t: cols.t.slice(0, n),
    severity: cols.severity.slice(0, n),
    ttfS: cols.ttfS.slice(0, n),
    label: cols.label.slice(0, n),
  };
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
  for (const a of [d.x, d.vehicle, d.t, d.severity, d.ttfS, d.label]) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return `sha256:${h.digest('hex')}`;
}

export { FAULT_KINDS };
