/**
 * One vehicle's path from a closed window to the model's inputs — the same object in ingest, in
 * the trainer and in `train evaluate-drives`:
 *
 *   window samples ─▶ computeFeatures (features.ts: the window's own features and context)
 *                  ─▶ FeatureMemory   (feature-memory.ts: the vehicle's recent evidence per feature)
 *                  ─▶ VehicleBaseline (vehicle-baseline.ts: deviations from the vehicle's normal,
 *                                      learning from what the window itself measured)
 *
 * The state (memory and baseline) round-trips through `encodeVehicleState` /
 * `decodeVehicleState` exactly, so ingest can keep it as bytes, persist it and restore it after a
 * restart or on another worker and score the next window as it would have.
 */
import type { Sample } from '../contracts/telemetry.ts';
import { BASELINE_FEATURES, computeFeatures, type FeatureVector, WINDOW_CONTEXT_NAMES, WINDOW_FEATURE_NAMES } from './features.ts';
import { FeatureMemory, type FeatureMemorySnapshot, type MemoryEntry } from './feature-memory.ts';
import { type BaselineOptions, type BaselineSnapshot, type BaselineStatus, type FeatureNormal, VehicleBaseline } from './vehicle-baseline.ts';
import { fnv1a32 } from '../contracts/topics.ts';

export interface ScoredInputs {
  /** Model inputs (window features as recent evidence, deviations) plus the window's context values. */
  features: FeatureVector;
  /** The window's own features (`computeFeatures`): what ingest stores in `features` and drift compares. */
  own: FeatureVector;
  /** Whether the baseline was learned for this window (its deviations are present). */
  learned: boolean;
  status: BaselineStatus;
  /** Share of the learning period done (1 once learned). */
  progress: number;
}

export class VehicleFeaturePath {
  readonly baseline: VehicleBaseline;
  readonly memory: FeatureMemory;

  constructor(
    private readonly options: BaselineOptions = {},
    state?: { memory: FeatureMemorySnapshot; baseline: BaselineSnapshot },
  ) {
    this.baseline = new VehicleBaseline(options, state?.baseline);
    this.memory = new FeatureMemory(state?.memory);
  }

  /** Model inputs of one closed window's samples. */
  window(startMs: number, samples: readonly Sample[]): ScoredInputs {
    return this.fromFeatures(startMs, computeFeatures(samples));
  }

  /** The same from the window's own features (`computeFeatures`), e.g. read back from a spool. */
  fromFeatures(startMs: number, own: FeatureVector): ScoredInputs {
    const recent = this.memory.observe(startMs, own, own.running_s ?? 0);
    const measured: FeatureVector = {};
    for (const name of Object.keys(recent)) if (own[name] !== undefined) measured[name] = recent[name]!;
    const view = this.baseline.observe(startMs, recent, { warmRunningS: own.warm_running_s ?? 0 }, measured);
    const context: FeatureVector = {};
    for (const name of WINDOW_CONTEXT_NAMES) if (own[name] !== undefined) context[name] = own[name]!;
    return { features: { ...context, ...recent, ...view.deviations }, own, learned: view.status === 'learned', status: view.status, progress: view.progress };
  }

  /** Forgets the learned normal (after a repair); recent evidence is kept. */
  resetBaseline(): void {
    this.baseline.reset();
  }

  encode(): Buffer {
    return encodeVehicleState(this.memory.snapshot(), this.baseline.snapshot());
  }

  /** A path restored from `encode()`'s bytes; a fresh one when the bytes are of another format or feature list. */
  static decode(bytes: Buffer, options: BaselineOptions = {}): VehicleFeaturePath {
    const state = decodeVehicleState(bytes);
    return new VehicleFeaturePath(options, state);
  }
}

// ---- encoding ------------------------------------------------------------------------------------

const FORMAT = 1;

/**
 * Layout (little-endian): u8 format, u32 hash of the feature lists; baseline: f64 warm seconds,
 * f64 last window start, f64 learned-at (NaN while learning), per baseline feature u8 flag
 * (0 none, 1 learning, 2 frozen), u32 n, f64 mean, f64 m2; memory: f64 running seconds, f64 last
 * window start, per window feature u8 count and count × (f32 running seconds, f32 value).
 */
export function encodeVehicleState(memory: FeatureMemorySnapshot, baseline: BaselineSnapshot): Buffer {
  let entries = 0;
  for (const name of WINDOW_FEATURE_NAMES) entries += memory.entries[name]?.length ?? 0;
  const size = 1 + 4 + 24 + BASELINE_FEATURES.length * 21 + 16 + WINDOW_FEATURE_NAMES.length + entries * 8;
  const buf = Buffer.allocUnsafe(size);
  let o = buf.writeUInt8(FORMAT, 0);
  o = buf.writeUInt32LE(LIST_HASH, o);
  o = buf.writeDoubleLE(baseline.warmS, o);
  o = buf.writeDoubleLE(baseline.lastStartMs, o);
  o = buf.writeDoubleLE(baseline.learnedAtMs ?? Number.NaN, o);
  for (const d of BASELINE_FEATURES) {
    const f = baseline.normals[d.name];
    o = buf.writeUInt8(f ? (f.frozen ? 2 : 1) : 0, o);
    o = buf.writeUInt32LE(f?.n ?? 0, o);
    o = buf.writeDoubleLE(f?.mean ?? 0, o);
    o = buf.writeDoubleLE(f?.m2 ?? 0, o);
  }
  o = buf.writeDoubleLE(memory.drivenS, o);
  o = buf.writeDoubleLE(memory.lastStartMs, o);
  for (const name of WINDOW_FEATURE_NAMES) {
    const list = memory.entries[name] ?? [];
    o = buf.writeUInt8(list.length, o);
    for (const e of list) {
      o = buf.writeFloatLE(e.drivenS, o);
      o = buf.writeFloatLE(e.value, o);
    }
  }
  return buf;
}

export function decodeVehicleState(buf: Buffer): { memory: FeatureMemorySnapshot; baseline: BaselineSnapshot } | undefined {
  try {
    let o = 0;
    if (buf.readUInt8(o) !== FORMAT || buf.readUInt32LE(1) !== LIST_HASH) return undefined;
    o = 5;
    const warmS = buf.readDoubleLE(o);
    const lastStartMs = buf.readDoubleLE(o + 8);
    const learnedAt = buf.readDoubleLE(o + 16);
    o += 24;
    const normals: Record<string, FeatureNormal> = {};
    for (const d of BASELINE_FEATURES) {
      const flag = buf.readUInt8(o);
      const n = buf.readUInt32LE(o + 1);
      const mean = buf.readDoubleLE(o + 5);
      const m2 = buf.readDoubleLE(o + 13);
      o += 21;
      if (flag !== 0) normals[d.name] = { n, mean, m2, frozen: flag === 2 };
    }
    const drivenS = buf.readDoubleLE(o);
    const memoryLastStart = buf.readDoubleLE(o + 8);
    o += 16;
    const entries: Record<string, MemoryEntry[]> = {};
    for (const name of WINDOW_FEATURE_NAMES) {
      const count = buf.readUInt8(o);
      o += 1;
      if (count === 0) continue;
      const list: MemoryEntry[] = [];
      for (let k = 0; k < count; k++, o += 8) list.push({ drivenS: buf.readFloatLE(o), value: buf.readFloatLE(o + 4) });
      entries[name] = list;
    }
    if (o !== buf.length) return undefined;
    return {
      baseline: { warmS, lastStartMs, learnedAtMs: Number.isNaN(learnedAt) ? null : learnedAt, normals },
      memory: { drivenS, lastStartMs: memoryLastStart, entries },
    };
  } catch {
    return undefined; // truncated bytes
  }
}

const LIST_HASH = fnv1a32([...WINDOW_FEATURE_NAMES, '|', ...BASELINE_FEATURES.map((d) => d.name)].join(','));
