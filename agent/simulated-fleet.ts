/**
 * A simulated fleet: N vehicles, each with its own agent and its own MQTT connection, exactly as
 * N cars would connect. Used by `fleetpulse simulate fleet`, `fleetpulse up` and the tests.
 * Which vehicles carry which fault is ground truth: it is in `specs`, never on the wire.
 */
import { Agent, type AgentStats } from './agent.ts';
import { SimulatedSource } from './simulated-source.ts';
import { type Logger, silentLogger } from '../common/logger.ts';
import type { FaultKind, SeverityCurve } from '../simulator/faults.ts';
import { createRng } from '../simulator/rng.ts';
import { planFleet } from '../simulator/fleet-plan.ts';
import type { VehicleSpec } from '../simulator/simulated-vehicle.ts';
import type { ScheduleKind } from '../simulator/trip-schedule.ts';

export { fleetVehicleIds } from '../simulator/fleet-plan.ts';

export interface FleetOptions {
  vehicles: number;
  idPrefix: string;
  seed: number;
  mqttUrl: string;
  sampleRateHz: number;
  batchIntervalMs: number;
  maxBatchSamples: number;
  outboxSamples: number;
  /** Share of vehicles (0…1) with a developing fault; default 0. */
  faultyFraction?: number;
  /** Fault kinds the faulty vehicles get in turn; every kind by default (simulator/fleet-plan.ts). */
  faultKinds?: readonly FaultKind[];
  /** Simulated seconds per wall second; default 1. */
  speed?: number;
  /** `continuous` (default): engines always on, for demos; `daily`: real trips, parked most of the day. */
  schedule?: ScheduleKind;
  /** Event time where the simulation starts (ms); default: now. */
  startMs?: number;
  faultOnsetDays?: readonly [number, number];
  failureAfterDays?: readonly [number, number];
  curve?: SeverityCurve;
  /** Simulated seconds each vehicle drove before the first sample is sent, drawn per vehicle (default: SimulatedSource's 10–400 s). */
  preRollS?: readonly [number, number];
  /** Broker credentials per vehicle; none means anonymous. */
  credentials?: (vehicleId: string) => { username: string; password: string } | undefined;
  logger?: Logger;
}

export class SimulatedFleet {
  readonly agents: Agent[];
  readonly specs: VehicleSpec[];
  readonly sources: SimulatedSource[];

  constructor(options: FleetOptions) {
    const logger = options.logger ?? silentLogger;
    const startMs = options.startMs ?? Date.now();
    this.specs = planFleet({
      vehicles: options.vehicles,
      idPrefix: options.idPrefix,
      seed: options.seed,
      faultyFraction: options.faultyFraction ?? 0,
      ...(options.faultKinds ? { faultKinds: options.faultKinds } : {}),
      startMs,
      schedule: options.schedule ?? 'continuous',
      ...(options.faultOnsetDays ? { onsetDays: options.faultOnsetDays } : {}),
      ...(options.failureAfterDays ? { failureAfterDays: options.failureAfterDays } : {}),
      ...(options.curve ? { curve: options.curve } : {}),
    });
    this.sources = this.specs.map(
      (spec) =>
        new SimulatedSource({
          vehicleId: spec.vehicleId, seed: options.seed, sampleRateHz: options.sampleRateHz, spec, speed: options.speed ?? 1, startMs,
          // A fork of its own: the vehicle's other draws stay as they were.
          ...(options.preRollS ? { preRollS: Math.floor(createRng(options.seed).fork(`fleet-pre-roll-${spec.vehicleId}`).uniform(options.preRollS[0], options.preRollS[1])) } : {}),
        }),
    );
    this.agents = this.specs.map(
      (spec, i) =>
        new Agent({
          vehicleId: spec.vehicleId,
          mqttUrl: options.mqttUrl,
          source: this.sources[i]!,
          batchIntervalMs: options.batchIntervalMs,
          maxBatchSamples: options.maxBatchSamples,
          outboxSamples: options.outboxSamples,
          ...options.credentials?.(spec.vehicleId),
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
