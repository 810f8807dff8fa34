/**
 * A vehicle's own normal: what each baseline feature (models/features.ts, `baseline` in its
 * definition) looks like on this car, learned from its first hours of warm driving, and the
 * deviation of a new window from it.
 *
 * Why: cars differ. One car's long-term fuel trim sits at +3 %, another's idle MAP at 38 kPa,
 * a third's charging voltage at 13.4 V — all healthy, all at the fleet's edge, where a model that
 * sees only the fleet has to choose between missing faults and crying wolf. Against its own normal
 * each car is in the middle, and a fault is a deviation.
 *
 * How (the same code runs in ingest, in the trainer and in `train evaluate-drives`):
 * - **Regimes.** Each baseline feature is already measured inside one operating regime (warm idle,
 *   warm cruise, at speed once warm, above 1500 rpm, high throttle …), so its normal is the normal
 *   of that regime; a window that never enters the regime does not have the feature and teaches
 *   nothing about it.
 * - **Learning.** While the vehicle has driven less than `learnHours` warm (the window's
 *   `warm_running_s`), every window's baseline features update a running mean and spread (Welford;
 *   once 10 values are in, a value is clipped to mean ± 4 spreads first, so one odd window cannot
 *   move the normal far). During learning no deviation exists: the model judges the car on
 *   fleet-level evidence alone, which keeps its full weight — a car that is faulty from its first
 *   hour is still caught (the model is trained with learning windows of faulty cars).
 * - **Frozen once learned.** After `learnHours`, a feature with at least `minWindows` values is
 *   frozen: its normal never follows the car again, so a fault that develops afterwards cannot
 *   teach the baseline that it is normal. A feature seen less often (high throttle is rare) keeps
 *   learning until it has `minWindows` values. A baseline learned while a fault was already there
 *   would call that fault normal; fleet-level evidence still flags it, and `reset()` (after a
 *   repair, or a cleared trouble code) starts learning again.
 * - **Deviation** = (value − normal mean) / max(normal spread, the feature's floor), clipped to
 *   ±`MAX_DEVIATION`. The floor is the resolution at which the quantity means something (1.5 °C
 *   of coolant, 1.5 % of fuel trim): a very steady car does not turn noise into alarms.
 * - **Replays are idempotent.** A window at or before the last one observed is not learned again;
 *   its deviations are computed as they were the first time (learning windows have none), so a
 *   window rescored after a crash gets the same score.
 *
 * State is small and bounded: a count, mean and sum of squares per baseline feature (21 bytes
 * each in vehicle-feature-path.ts' encoding, about 320 bytes per vehicle).
 */
import { BASELINE_FEATURES, deviationName, type FeatureVector } from './features.ts';

export const DEFAULT_LEARN_HOURS = 3;
export const DEFAULT_MIN_WINDOWS = 12;
/** Deviations are clipped here (spreads): beyond it, "very far" is all a model needs to know. */
export const MAX_DEVIATION = 30;
/** Values beyond mean ± CLIP_SPREADS spreads are clipped before they are learned (after CLIP_AFTER values). */
const CLIP_SPREADS = 4;
const CLIP_AFTER = 10;

/** The window context ingest and the trainer pass with the features (seconds of the window). */
export interface WindowContext {
  /** Seconds of the window with the engine running and warm. */
  warmRunningS: number;
}

export interface BaselineOptions {
  learnHours?: number;
  minWindows?: number;
}

export type BaselineStatus = 'learning' | 'learned';

/** The normal of one feature. */
export interface FeatureNormal {
  n: number;
  mean: number;
  /** Welford's sum of squared differences. */
  m2: number;
  frozen: boolean;
}

export interface BaselineSnapshot {
  /** Seconds of warm running learnt from. */
  warmS: number;
  /** Start (ms) of the last window observed; -Infinity before the first. */
  lastStartMs: number;
  /** Start (ms) of the window after which the vehicle counted as learned; null while learning. */
  learnedAtMs: number | null;
  normals: Record<string, FeatureNormal>;
}

/** What a window's deviations and the vehicle's state are when it is scored. */
export interface BaselineView {
  status: BaselineStatus;
  /** 0…1: share of the learning period done. */
  progress: number;
  /** `<feature>_dev` for each learned baseline feature the window has. */
  deviations: FeatureVector;
}

export class VehicleBaseline {
  private readonly learnS: number;
  private readonly minWindows: number;
  private state: BaselineSnapshot;

  constructor(options: BaselineOptions = {}, snapshot?: BaselineSnapshot) {
    this.learnS = (options.learnHours ?? DEFAULT_LEARN_HOURS) * 3600;
    this.minWindows = options.minWindows ?? DEFAULT_MIN_WINDOWS;
    if (!(this.learnS >= 0) || !(this.minWindows >= 1)) throw new RangeError('learnHours must be ≥ 0 and minWindows ≥ 1');
    this.state = snapshot ? cloneBaseline(snapshot) : { warmS: 0, lastStartMs: Number.NEGATIVE_INFINITY, learnedAtMs: null, normals: {} };
  }

  get status(): BaselineStatus {
    return this.state.learnedAtMs === null ? 'learning' : 'learned';
  }

  get progress(): number {
    return this.learnS === 0 ? 1 : Math.min(1, this.state.warmS / this.learnS);
  }

  /** The normal of a feature (mean and spread), when it is learned. */
  normal(feature: string): { mean: number; spread: number } | undefined {
    const f = this.state.normals[feature];
    if (!f || !f.frozen) return undefined;
    return { mean: f.mean, spread: spreadOf(f) };
  }

  /**
   * Scores a window against the baseline, then learns from it (when it is new and the baseline
   * is still learning) — from `learnFrom`, by default the same features (the feature path passes
   * only the features the window itself measured). Windows must come in event-time order per
   * vehicle; an older or repeated window is a replay and changes nothing.
   */
  observe(windowStartMs: number, features: FeatureVector, context: WindowContext, learnFrom: FeatureVector = features): BaselineView {
    const replay = windowStartMs <= this.state.lastStartMs;
    const learnedBefore = this.state.learnedAtMs !== null && windowStartMs > this.state.learnedAtMs;
    const view: BaselineView = { status: learnedBefore ? 'learned' : 'learning', progress: this.progress, deviations: learnedBefore ? this.deviations(features) : {} };
    if (replay) return view;
    this.state.lastStartMs = windowStartMs;
    this.learn(learnFrom, context);
    if (this.state.learnedAtMs === null && this.state.warmS >= this.learnS) {
      this.state.learnedAtMs = windowStartMs;
      for (const f of Object.values(this.state.normals)) if (f.n >= this.minWindows) f.frozen = true;
    }
    return view;
  }

  /** Forgets the normal (after a repair): the vehicle learns again from its next windows. */
  reset(): void {
    this.state = { warmS: 0, lastStartMs: this.state.lastStartMs, learnedAtMs: null, normals: {} };
  }

  snapshot(): BaselineSnapshot {
    return cloneBaseline(this.state);
  }

  /** Deviations of `features` from the frozen normals (no learning). */
  deviations(features: FeatureVector): FeatureVector {
    const out: FeatureVector = {};
    for (const d of BASELINE_FEATURES) {
      const x = features[d.name];
      const f = this.state.normals[d.name];
      if (x === undefined || !f || !f.frozen) continue;
      const z = (x - f.mean) / Math.max(spreadOf(f), d.baseline!.floor);
      out[deviationName(d.name)] = Math.max(-MAX_DEVIATION, Math.min(MAX_DEVIATION, z));
    }
    return out;
  }

  private learn(features: FeatureVector, context: WindowContext): void {
    if (this.state.learnedAtMs === null) this.state.warmS += Math.max(0, context.warmRunningS);
    for (const d of BASELINE_FEATURES) {
      let x = features[d.name];
      if (x === undefined) continue;
      let f = this.state.normals[d.name];
      if (!f) this.state.normals[d.name] = f = { n: 0, mean: 0, m2: 0, frozen: false };
      if (f.frozen) continue;
      if (f.n >= CLIP_AFTER) {
        const band = CLIP_SPREADS * Math.max(spreadOf(f), d.baseline!.floor);
        x = Math.max(f.mean - band, Math.min(f.mean + band, x));
      }
      f.n += 1;
      const delta = x - f.mean;
      f.mean += delta / f.n;
      f.m2 += delta * (x - f.mean);
      if (this.state.learnedAtMs !== null && f.n >= this.minWindows) f.frozen = true;
    }
  }
}

/** A deep copy (cheaper than structuredClone by an order of magnitude; ingest copies a state per window). */
function cloneBaseline(s: BaselineSnapshot): BaselineSnapshot {
  const normals: Record<string, FeatureNormal> = {};
  for (const name in s.normals) {
    const f = s.normals[name]!;
    normals[name] = { n: f.n, mean: f.mean, m2: f.m2, frozen: f.frozen };
  }
  return { warmS: s.warmS, lastStartMs: s.lastStartMs, learnedAtMs: s.learnedAtMs, normals };
}

function spreadOf(f: FeatureNormal): number {
  return f.n > 1 ? Math.sqrt(f.m2 / (f.n - 1)) : 0;
}
