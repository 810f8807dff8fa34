/**
 * The model inputs of scored windows as bytes, kept with the vehicle's state until its next batch
 * (vehicle-state-store.ts), so a window scored again after a crash gets exactly the inputs it had.
 *
 * Why not recompute: the feature path answers a window at or before the last one it saw from what
 * it remembers, which is the first answer only if no later window of the vehicle was seen in
 * between — and one batch often holds several windows of a vehicle (a backlog). The inputs are
 * stored as float32, which is what the model reads, so the score is bit-for-bit the same.
 *
 * Layout (little-endian): u8 count; per window f64 start ms, f32 progress, u8 learned, u8 n,
 * n × (u8 index into FEATURE_NAMES, f32 value).
 */
import { FEATURE_NAMES, type FeatureVector } from '../../models/features.ts';
import type { BaselineStatus } from '../../models/vehicle-baseline.ts';

export interface WindowInputs {
  startMs: number;
  /** Model inputs (present features only). */
  features: FeatureVector;
  status: BaselineStatus;
  progress: number;
}

const INDEX = new Map(FEATURE_NAMES.map((n, i) => [n, i]));
if (FEATURE_NAMES.length > 255) throw new Error('window-inputs encodes feature indices in one byte');

export function encodeWindowInputs(windows: readonly WindowInputs[]): Buffer {
  const count = Math.min(255, windows.length);
  const kept = windows.slice(windows.length - count);
  let size = 1;
  const present = kept.map((w) => FEATURE_NAMES.filter((n) => w.features[n] !== undefined && Number.isFinite(w.features[n])));
  for (const names of present) size += 14 + names.length * 5;
  const buf = Buffer.allocUnsafe(size);
  let o = buf.writeUInt8(count, 0);
  kept.forEach((w, k) => {
    o = buf.writeDoubleLE(w.startMs, o);
    o = buf.writeFloatLE(w.progress, o);
    o = buf.writeUInt8(w.status === 'learned' ? 1 : 0, o);
    o = buf.writeUInt8(present[k]!.length, o);
    for (const name of present[k]!) {
      o = buf.writeUInt8(INDEX.get(name)!, o);
      o = buf.writeFloatLE(w.features[name]!, o);
    }
  });
  return buf;
}

/** The windows of `encodeWindowInputs`; empty for bytes of another layout. */
export function decodeWindowInputs(buf: Buffer): WindowInputs[] {
  try {
    const out: WindowInputs[] = [];
    const count = buf.readUInt8(0);
    let o = 1;
    for (let k = 0; k < count; k++) {
      const startMs = buf.readDoubleLE(o);
      const progress = buf.readFloatLE(o + 8);
      const status: BaselineStatus = buf.readUInt8(o + 12) === 1 ? 'learned' : 'learning';
      const n = buf.readUInt8(o + 13);
      o += 14;
      const features: FeatureVector = {};
      for (let i = 0; i < n; i++, o += 5) {
        const name = FEATURE_NAMES[buf.readUInt8(o)];
        if (name === undefined) return [];
        features[name] = buf.readFloatLE(o + 1);
      }
      out.push({ startMs, features, status, progress });
    }
    return o === buf.length ? out : [];
  } catch {
    return [];
  }
}
