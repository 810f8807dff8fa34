import type { Sample } from '../contracts/telemetry.ts';
import type { VehicleHealthState } from '../contracts/vehicle-health.ts';

/**
 * Where an agent's samples come from: the simulator, an ELM327 adapter, or a recorded drive.
 * A source calls `onSample` with samples whose `t` strictly increases; it never throws for
 * conditions expected in a car (no data, adapter gone): it reports them through its own state.
 *
 * A source that can read the car's diagnosis (DTCs, MIL, readiness) also calls `onHealth` with
 * what it read, whenever it read it — changed or not: the agent decides what is news
 * (agent/health-publisher.ts). Sources without a diagnosis ignore the callback.
 */
export interface TelemetrySource {
  readonly name: string;
  start(onSample: (sample: Sample) => void, onHealth?: (reading: HealthReading) => void): Promise<void>;
  stop(): Promise<void>;
}

/** One reading of the car's diagnosis at event time `t` (Unix ms, the source's clock). */
export interface HealthReading {
  t: number;
  state: VehicleHealthState;
}
