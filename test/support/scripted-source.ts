/**
 * A TelemetrySource that emits exactly the samples a test asks for (`push(n)`), one millisecond
 * apart from `t0`, so what was produced is known to the sample — and the health readings it is
 * given (`health(state)`).
 */
import type { HealthReading, TelemetrySource } from '../../agent/telemetry-source.ts';
import type { Sample } from '../../contracts/telemetry.ts';
import type { VehicleHealthState } from '../../contracts/vehicle-health.ts';

/**
 * An hour ago, to the second, fixed for the run: recent enough for the raw telemetry retention
 * policy (30 days; older points are refused by InfluxDB, counted as `beyondRetention`) and for
 * ingest's clock sanity, and in the past so no sample is ahead of the receive time.
 */
export const SCRIPTED_T0 = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;

export class ScriptedSource implements TelemetrySource {
  readonly name = 'scripted';
  private emit: ((s: Sample) => void) | undefined;
  private emitHealth: ((r: HealthReading) => void) | undefined;
  /** Samples emitted while started. */
  pushed = 0;

  constructor(private t = SCRIPTED_T0) {}

  async start(onSample: (s: Sample) => void, onHealth?: (r: HealthReading) => void): Promise<void> {
    this.emit = onSample;
    this.emitHealth = onHealth;
  }

  async stop(): Promise<void> {
    this.emit = undefined;
    this.emitHealth = undefined;
  }

  /** A health reading at the source's clock (then 1 ms later). */
  health(state: VehicleHealthState): void {
    this.emitHealth?.({ t: this.t++, state });
  }

  push(n: number, values: Omit<Sample, 't'> = { RPM: 800, SPEED: 10 }): void {
    for (let i = 0; i < n; i++) {
      if (!this.emit) return;
      this.emit({ t: this.t++, ...values });
      this.pushed += 1;
    }
  }
}
