/**
 * How a simulated car is *read*: the poll rates, the PIDs it answers, the resolution its ECU
 * reports, a logger that writes stale values, timing jitter. The simulator's physics runs the
 * same whatever the observer (vehicle-model.ts steps at most 0.25 s); the observer turns it into
 * what an agent in a car — or a phone app's log — would send.
 *
 * The training fleet draws one profile per car (`drawObservationProfile`), so the model learns
 * from data that varies the way real data does:
 * - fast PIDs (RPM, speed, load, throttle, MAF/MAP) at 0.5–10 Hz (log-uniform), the others at
 *   the fast rate divided by 1, 2, 5 or 10 but at least 0.2 Hz — the agent's two-rate scheduler
 *   (agent/obd/obd-poller.ts) with any setting an operator might choose;
 * - PID sets of real cars: O2, catalyst temperature, barometric pressure, run time, fuel level,
 *   control-module voltage or timing advance are missing on some (carOBD's Etios has no O2 PID;
 *   many cars have no catalyst PID); a car without run time gets the one the agent derives;
 * - resolution: control-module voltage at 1 mV (J1979), 0.0195 V (the Etios' ECU) or 0.1 V;
 * - stale values: a third of the profiles repeat a PID's previous value with some probability, as
 *   loggers do when the ECU has not answered yet (carOBD repeats whole rows);
 * - event-time jitter up to ±120 ms.
 */
import { EngineRunClock } from '../contracts/derived-signals.ts';
import { DEFAULT_FAST_SIGNALS, type SignalName } from '../contracts/signals.ts';
import type { Sample, SignalValues } from '../contracts/telemetry.ts';
import type { Rng } from './rng.ts';

export interface ObservationProfile {
  /** Rate of the fast PIDs (Hz): the rate the car is stepped and read at. */
  fastHz: number;
  /** Rate of every other PID (Hz). */
  slowHz: number;
  /** PIDs this car does not answer. */
  absent: readonly SignalName[];
  /** Coarser resolution than J1979's for some signals (value is rounded to a multiple). */
  quanta: Partial<Record<SignalName, number>>;
  /** Probability that a reading repeats the signal's previous value. */
  staleProbability: number;
  /** Event times move by up to ± this many ms (order kept). */
  jitterMs: number;
}

/** The observer of the simulator before domain randomisation: 1 Hz, every PID, J1979 resolution. */
export const FULL_OBSERVATION: Readonly<ObservationProfile> = Object.freeze({ fastHz: 1, slowHz: 1, absent: [], quanta: {}, staleProbability: 0, jitterMs: 0 });

const OPTIONAL_PIDS: ReadonlyArray<readonly [SignalName, number]> = [
  ['O2_B1S1', 0.5],
  ['CATALYST_TEMP_B1S1', 0.4],
  ['BAROMETRIC_PRESSURE', 0.25],
  // A car without PID 1F still has RUN_TIME: the agent counts it (contracts/derived-signals.ts).
  ['RUN_TIME', 0.3],
  ['FUEL_LEVEL', 0.3],
  ['CONTROL_MODULE_VOLTAGE', 0.15],
  ['TIMING_ADVANCE', 0.15],
  ['INTAKE_TEMP', 0.1],
];

export function drawObservationProfile(rng: Rng): ObservationProfile {
  const fastHz = Math.exp(rng.uniform(Math.log(0.5), Math.log(10)));
  const divisor = [1, 2, 5, 10][Math.floor(rng.next() * 4)]!;
  const slowHz = Math.min(fastHz, Math.max(0.2, fastHz / divisor));
  const absent = OPTIONAL_PIDS.filter(([, p]) => rng.next() < p).map(([s]) => s);
  const roll = rng.next();
  const voltageQuantum = roll < 0.5 ? undefined : roll < 0.85 ? 5 / 256 : 0.1;
  return {
    fastHz,
    slowHz,
    absent,
    quanta: voltageQuantum ? { CONTROL_MODULE_VOLTAGE: voltageQuantum } : {},
    staleProbability: rng.next() < 0.33 ? rng.uniform(0.1, 0.5) : 0,
    jitterMs: rng.uniform(0, 120),
  };
}

/**
 * Turns samples taken at `profile.fastHz` into what the profile's reader reports. Stateful (the
 * slow PIDs' due times, the previous values, the last event time); deterministic for the same rng.
 */
export class Observer {
  private readonly fast = new Set<string>(DEFAULT_FAST_SIGNALS);
  private readonly absent: Set<string>;
  private readonly slowPeriodMs: number;
  private nextSlowMs = Number.NEGATIVE_INFINITY;
  private lastT = Number.NEGATIVE_INFINITY;
  private readonly previous: Record<string, number> = {};
  private readonly runClock = new EngineRunClock();

  constructor(
    private readonly profile: ObservationProfile,
    private readonly rng: Rng,
  ) {
    this.absent = new Set(profile.absent);
    this.slowPeriodMs = 1000 / profile.slowHz;
  }

  observe(t: number, values: SignalValues): Sample {
    const slowDue = t >= this.nextSlowMs;
    if (slowDue) this.nextSlowMs = Math.max(this.nextSlowMs + this.slowPeriodMs, t + this.slowPeriodMs / 2);
    const jittered = Math.round(t + (this.rng.next() * 2 - 1) * this.profile.jitterMs);
    const sample: Sample = { t: Math.max(jittered, this.lastT + 1) };
    this.lastT = sample.t;
    const out = sample as Record<string, number>;
    for (const key in values) {
      const signal = key as SignalName;
      let v = values[signal];
      if (v === undefined || this.absent.has(signal)) continue;
      if (!slowDue && !this.fast.has(signal)) continue;
      const q = this.profile.quanta[signal];
      if (q !== undefined) v = Math.round(v / q) * q;
      const before = this.previous[signal];
      if (before !== undefined && this.profile.staleProbability > 0 && this.rng.next() < this.profile.staleProbability) v = before;
      this.previous[signal] = v;
      out[signal] = v;
    }
    return this.runClock.fill(sample);
  }
}
