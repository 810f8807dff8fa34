/**
 * A simulated fleet: N vehicles, each with its own agent and its own MQTT connection, exactly as
 * N cars would connect. Used by `fleetpulse simulate fleet`, `fleetpulse up` and the tests.
 */
import { Agent, type AgentStats } from '../agent/agent.ts';
import { SimulatedSource } from '../agent/simulated-source.ts';
import { type Logger, silentLogger } from '../common/logger.ts';

export interface FleetOptions {
  vehicles: number;
  idPrefix: string;
  seed: number;
  mqttUrl: string;
  sampleRateHz: number;
  batchIntervalMs: number;
  maxBatchSamples: number;
  outboxSamples: number;
  /** Broker credentials per vehicle; none means anonymous. */
  credentials?: (vehicleId: string) => { username: string; password: string } | undefined;
  logger?: Logger;
}

export function fleetVehicleIds(count: number, prefix: string): string[] {
  const width = Math.max(3, String(count).length);
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i + 1).padStart(width, '0')}`);
}

export class SimulatedFleet {
  readonly agents: Agent[];

  constructor(options: FleetOptions) {
    const logger = options.logger ?? silentLogger;
    this.agents = fleetVehicleIds(options.vehicles, options.idPrefix).map(
      (vehicleId) =>
        new Agent({
          vehicleId,
          mqttUrl: options.mqttUrl,
          source: new SimulatedSource({ vehicleId, seed: options.seed, sampleRateHz: options.sampleRateHz }),
          batchIntervalMs: options.batchIntervalMs,
          maxBatchSamples: options.maxBatchSamples,
          outboxSamples: options.outboxSamples,
          ...options.credentials?.(vehicleId),
          logger,
        }),
    );
  }

  async start(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.start()));
  }

  stats(): AgentStats[] {
    return this.agents.map((a) => a.stats());
  }

  /** Stops every vehicle, waiting for their last batches to be acknowledged. */
  stop(): Promise<AgentStats[]> {
    return Promise.all(this.agents.map((a) => a.stop()));
  }
}
