/**
 * Signals the agent derives when the car does not report them, so every vehicle sends them.
 *
 * `RUN_TIME` (time since engine start, J1979 PID 1F) tells the anomaly model when an engine should
 * be warm: without it, an engine that never warms up (a thermostat stuck open) cannot be told from
 * one that has just started. Some cars do not support PID 1F; for those the agent measures it
 * itself — seconds since it saw the engine start (RPM rising above cranking speed) — exactly as an
 * ECU counts it. Shared by the agent's sources, the offline reading of drive logs and the
 * simulator's observer of the training fleet, so all three send the same thing.
 *
 * A car that reports RUN_TIME even once is never given a derived one (its slow-polled value stands),
 * and none is derived before the engine has run DECIDE_AFTER_MS without one: a car that reports it
 * at a slow poll rate is not given a made-up value in between.
 */
import type { Sample } from './telemetry.ts';

/** Engine running: above cranking speed (rpm). */
const RUNNING_RPM = 400;
/** A gap in the data longer than this ends a run (ms): the next running sample is a new start. */
const MAX_GAP_MS = 10_000;
/** PID 1F's range (s). */
const MAX_RUN_TIME_S = 65_535;
/** Running this long without a reported RUN_TIME: the car does not report it (ms). */
const DECIDE_AFTER_MS = 60_000;

export class EngineRunClock {
  private reported = false;
  private startedAtMs: number | undefined;
  private lastRunningMs = Number.NEGATIVE_INFINITY;
  /** When the engine was first seen running, to decide whether the car reports RUN_TIME. */
  private firstRunningMs: number | undefined;

  /** The sample with RUN_TIME filled in when the car does not report it and the agent can tell. */
  fill(sample: Sample): Sample {
    if (sample.RUN_TIME !== undefined) this.reported = true;
    if (this.reported) return sample;
    const rpm = sample.RPM;
    if (rpm === undefined) {
      // A sample without engine speed (slow PIDs only): running if the engine was a moment ago.
      if (this.startedAtMs === undefined || sample.t - this.lastRunningMs > MAX_GAP_MS) return sample;
      return this.derived(sample);
    }
    if (rpm < RUNNING_RPM) {
      this.startedAtMs = undefined;
      return sample;
    }
    if (this.startedAtMs === undefined || sample.t - this.lastRunningMs > MAX_GAP_MS) this.startedAtMs = sample.t;
    this.firstRunningMs ??= sample.t;
    this.lastRunningMs = sample.t;
    return this.derived(sample);
  }

  /** The run time to send, once the car has shown it does not report one. */
  private derived(sample: Sample): Sample {
    if (this.firstRunningMs === undefined || sample.t - this.firstRunningMs < DECIDE_AFTER_MS) return sample;
    return { ...sample, RUN_TIME: this.runTimeAt(sample.t) };
  }

  private runTimeAt(t: number): number {
    return Math.min(MAX_RUN_TIME_S, Math.max(0, Math.floor((t - this.startedAtMs!) / 1000)));
  }
}
