import { MAX_EVENT_TIME_MS, type Sample } from '../contracts/telemetry.ts';
import { defaultVehicleSpec } from '../simulator/fleet-plan.ts';
import { createRng } from '../simulator/rng.ts';
import { simulatedHealthState } from '../simulator/health-state.ts';
import { SimulatedVehicle, type VehicleSpec } from '../simulator/simulated-vehicle.ts';
import type { HealthReading, TelemetrySource } from './telemetry-source.ts';

export interface SimulatedSourceOptions {
  vehicleId: string;
  seed: number;
  /** Samples per simulated second while the ignition is on. */
  sampleRateHz: number;
  /** The vehicle (profile, driver, fault …); by default a healthy car drawn from seed and id that drives continuously. */
  spec?: VehicleSpec;
  /** Simulated seconds per wall-clock second (1 = real time). */
  speed?: number;
  /** Event time at which simulated time starts (ms); defaults to the wall clock at start(). */
  startMs?: number;
  /** Simulated seconds driven before the first sample is sent, so a fleet does not start in lockstep; seeded. */
  preRollS?: number;
  /** Most samples handed out per timer tick; beyond it simulated time falls behind (counted in `lagMs`). */
  maxSamplesPerTick?: number;
  /** Injected for tests; wall-clock milliseconds. */
  now?: () => number;
  /**
   * How often the car's diagnosis is read, in simulated (event) time, ms; besides, it is read at
   * start and at every trip start (ignition on). Default 60,000; 0 = only then.
   */
  healthIntervalMs?: number;
}

/**
 * Samples a simulated vehicle paced against the wall clock: event time = startMs + speed × (wall
 * time since start). At speed 1 event times are wall-clock times; above 1 they run ahead of the
 * clock. While the simulated car is parked (engine off) no samples come, as from a real car.
 * Event times strictly increase (whole ms, one sampling interval apart) and stop before the
 * telemetry contract's upper limit. The ECU monitors' diagnosis (simulator/health-state.ts) goes to
 * `onHealth` at start, at every ignition on and every `healthIntervalMs` of event time.
 */
export class SimulatedSource implements TelemetrySource {
  readonly name = 'simulator';
  readonly vehicle: SimulatedVehicle;
  private readonly speed: number;
  private readonly now: () => number;
  private readonly maxPerTick: number;
  private readonly tickMs: number;
  private timer: NodeJS.Timeout | undefined;
  private startMs: number | undefined;
  private wallStart = 0;
  /** How far simulated time lags behind its target because of the per-tick bound. */
  lagMs = 0;

  constructor(private readonly options: SimulatedSourceOptions) {
    this.speed = options.speed ?? 1;
    this.now = options.now ?? Date.now;
    this.maxPerTick = options.maxSamplesPerTick ?? 20_000;
    // Tick often enough for smooth batches, never more often than every 20 ms.
    this.tickMs = Math.max(20, Math.min(1000, 1000 / (options.sampleRateHz * this.speed)));
    const spec = options.spec ?? defaultVehicleSpec(options.vehicleId, options.seed);
    const rng = createRng(options.seed).fork(options.vehicleId);
    const preRollS = options.preRollS ?? (spec.schedule === 'continuous' ? Math.floor(rng.fork('pre-roll').uniform(10, 400)) : 0);
    this.startMs = options.startMs;
    const simStart = (options.startMs ?? this.now()) - preRollS * 1000;
    this.vehicle = new SimulatedVehicle(spec, rng, simStart, options.sampleRateHz);
  }

  async start(onSample: (sample: Sample) => void, onHealth?: (reading: HealthReading) => void): Promise<void> {
    if (this.timer) return;
    this.wallStart = this.now();
    const startMs = (this.startMs ??= this.wallStart);
    // Drop the pre-roll: the car was already on the road before we started listening.
    while (this.vehicle.nextSample(startMs - 1)) {
      /* discard */
    }
    const everyMs = this.options.healthIntervalMs ?? 60_000;
    let healthAtMs = -Infinity;
    let trip = this.vehicle.tripsStarted;
    const readHealth = (t: number): void => {
      healthAtMs = t;
      onHealth?.({ t, state: simulatedHealthState(this.vehicle.model.diagnosis(), this.vehicle.model.freezeFrame()) });
    };
    if (onHealth) readHealth(Math.max(startMs, this.vehicle.clockMs));
    this.timer = setInterval(() => {
      const target = Math.min(startMs + (this.now() - this.wallStart) * this.speed, MAX_EVENT_TIME_MS - 1);
      let n = 0;
      while (n < this.maxPerTick) {
        const s = this.vehicle.nextSample(target);
        if (!s) break;
        onSample(SimulatedVehicle.toWire(s));
        n++;
        // Ignition on, or the interval has passed: read the diagnosis as an agent would.
        if (onHealth && (s.trip !== trip || (everyMs > 0 && s.t - healthAtMs >= everyMs))) {
          trip = s.trip;
          readHealth(s.t);
        }
      }
      this.lagMs = n === this.maxPerTick ? Math.max(0, target - this.vehicle.clockMs) : 0;
    }, this.tickMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
