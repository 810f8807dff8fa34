/**
 * A vehicle's recent evidence: for each window feature, the median of its last
 * `RECENT_WINDOWS` values observed within the last `RECENT_DRIVING_S` seconds of engine running.
 *
 * Why: most faults show in one operating regime only — a clogged filter at full throttle, a stuck
 * thermostat once warm, a misfire at idle — while a fault is a property of the car, not of the
 * window. A window that does not visit the regime carries the car's latest evidence of it, so a
 * faulty car is judged faulty in every window and an operator sees one steady state instead of a
 * score that flickers with the road. The median of several windows also keeps one odd window (a
 * restart, a cold catalyst) from flagging a healthy car. Evidence expires after
 * RECENT_DRIVING_S of running without the regime, and newer evidence replaces it, so an alert
 * clears once the car shows normal values in the regime where the fault was seen.
 *
 * Replays: a window at or before the last one remembered is answered from what is remembered,
 * without remembering it again: a window rescored after a crash (ingest persists the memory before
 * it stores the window's score) gets the value it had, unless later windows of the vehicle were
 * remembered in between.
 *
 * Bounded: RECENT_WINDOWS values and their running time per feature (float32), 8 bytes each.
 */
import { type FeatureVector, WINDOW_FEATURE_NAMES } from './features.ts';

/** How many recent windows of a feature are remembered (their median is used). */
export const RECENT_WINDOWS = 5;
/** Evidence older than this much engine running time is forgotten (s). */
export const RECENT_DRIVING_S = 2 * 3600;

export interface MemoryEntry {
  /** Running seconds of the vehicle when the window closed. */
  drivenS: number;
  value: number;
}

export interface FeatureMemorySnapshot {
  drivenS: number;
  lastStartMs: number;
  entries: Record<string, MemoryEntry[]>;
}

export class FeatureMemory {
  private state: FeatureMemorySnapshot;

  constructor(snapshot?: FeatureMemorySnapshot) {
    this.state = snapshot ? cloneMemory(snapshot) : { drivenS: 0, lastStartMs: Number.NEGATIVE_INFINITY, entries: {} };
  }

  /**
   * The recent value of every window feature for a window that starts at `startMs` with these
   * features and `runningS` of engine running, remembering them when the window is new.
   */
  observe(startMs: number, features: FeatureVector, runningS: number): FeatureVector {
    const replay = startMs <= this.state.lastStartMs;
    if (!replay) {
      this.state.lastStartMs = startMs;
      this.state.drivenS += Math.max(0, runningS);
      for (const name of WINDOW_FEATURE_NAMES) {
        const value = features[name];
        if (value === undefined) continue;
        const list = (this.state.entries[name] ??= []);
        list.push({ drivenS: Math.fround(this.state.drivenS), value: Math.fround(value) });
        if (list.length > RECENT_WINDOWS) list.shift();
      }
    }
    const now = Math.fround(this.state.drivenS);
    const out: FeatureVector = {};
    for (const name of WINDOW_FEATURE_NAMES) {
      const recent = (this.state.entries[name] ?? []).filter((e) => now - e.drivenS <= RECENT_DRIVING_S);
      if (recent.length > 0) out[name] = median(recent.map((e) => e.value));
    }
    return out;
  }

  snapshot(): FeatureMemorySnapshot {
    return cloneMemory(this.state);
  }
}

/** A deep copy (structuredClone took 28 µs per vehicle, most of ingest's cost of persisting a vehicle's state). */
function cloneMemory(s: FeatureMemorySnapshot): FeatureMemorySnapshot {
  const entries: Record<string, MemoryEntry[]> = {};
  for (const name in s.entries) entries[name] = s.entries[name]!.map((e) => ({ drivenS: e.drivenS, value: e.value }));
  return { drivenS: s.drivenS, lastStartMs: s.lastStartMs, entries };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
