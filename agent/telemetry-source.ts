import type { Sample } from '../contracts/telemetry.ts';

/**
 * Where an agent's samples come from: the simulator, an ELM327 adapter, or a recorded drive.
 * A source calls `onSample` with samples whose `t` strictly increases; it never throws for
 * conditions expected in a car (no data, adapter gone): it reports them through its own state.
 */
export interface TelemetrySource {
  readonly name: string;
  start(onSample: (sample: Sample) => void): Promise<void>;
  stop(): Promise<void>;
}
