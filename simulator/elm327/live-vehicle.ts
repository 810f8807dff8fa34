/**
 * The car behind the emulated adapter: one VehicleModel advanced against a clock (wall time ×
 * `speed`), driving trip after trip while the ignition is on. Unlike SimulatedVehicle (which follows
 * a trip schedule and parks between trips), the ignition here is switched by whoever plays with the
 * adapter — a test or the CLI — so a reader gets answers until someone turns the key off.
 *
 * Guarantees: `values()` returns the simulator's own quantised signal values (what an ECU would send)
 * and returns the same object for the same simulated millisecond, so several requests in one
 * simulated instant see one consistent state; simulated time never runs backwards.
 */
import { planTrip } from '../driving-cycle.ts';
import type { ActiveDtcs, EcuDiagnosis, StoredFreezeFrame } from '../ecu-monitors.ts';
import type { FaultKind, FaultSpec } from '../faults.ts';
import { defaultVehicleSpec } from '../fleet-plan.ts';
import { createRng, type Rng } from '../rng.ts';
import type { VehicleSpec } from '../simulated-vehicle.ts';
import { VehicleModel, type VehicleSignals } from '../vehicle-model.ts';

export interface LiveVehicleOptions {
  /** The car (profile, driver, fault …); by default a healthy car drawn from seed and id. */
  spec?: VehicleSpec;
  seed?: number;
  vehicleId?: string;
  /** Simulated seconds per wall-clock second; 0 freezes simulated time (tests move it with `advance`). */
  speed?: number;
  /** Event time the simulation starts at (ms); default: the clock at construction. */
  startMs?: number;
  /** Seconds the car has been driving before anyone listens (so the engine runs from the start). */
  preRollS?: number;
  /** Complete trips driven (as fast as the CPU goes) before the pre-roll: a fault's history. */
  preDriveTrips?: number;
  /** Wall clock in ms; injected by tests. */
  now?: () => number;
}

/** The most simulated seconds one `sync` catches up; beyond it simulated time falls behind (counted). */
const MAX_CATCH_UP_S = 6 * 3600;

export class LiveVehicle {
  readonly spec: VehicleSpec;
  readonly model: VehicleModel;
  private readonly rng: Rng;
  private readonly now: () => number;
  private readonly speed: number;
  private wallAnchor: number;
  private simAnchor: number;
  private keyOn = true;
  private trips = 0;
  private cached: { atMs: number; values: VehicleSignals } | undefined;
  private odometerKm = 0;
  private lastRead: { atMs: number; speed: number } | undefined;
  /** Simulated seconds dropped because one sync would have had to catch up more than MAX_CATCH_UP_S. */
  droppedS = 0;

  constructor(options: LiveVehicleOptions = {}) {
    const seed = options.seed ?? 1;
    this.spec = options.spec ?? defaultVehicleSpec(options.vehicleId ?? 'elm327', seed, 'continuous');
    this.rng = createRng(seed).fork(`elm327-${this.spec.vehicleId}`);
    this.now = options.now ?? Date.now;
    this.speed = options.speed ?? 1;
    if (!(this.speed >= 0)) throw new RangeError(`speed must be ≥ 0, got ${options.speed}`);
    const wall = this.now();
    const startMs = options.startMs ?? wall;
    const preDrive = options.preDriveTrips ?? 0;
    const preRollS = options.preRollS ?? 30;
    // Each pre-drive trip is followed by a night parked; start early enough that they end at startMs.
    const historyMs = preDrive * 86_400_000 + preRollS * 1000;
    this.model = new VehicleModel({
      rng: this.rng.fork('model'),
      profile: this.spec.profile,
      style: this.spec.style,
      ambientC: this.spec.ambientC,
      altitudeM: this.spec.altitudeM,
      fault: this.spec.fault,
      startMs: startMs - historyMs,
    });
    for (let i = 0; i < preDrive; i++) {
      this.startTrip();
      while (!this.model.tripFinished) this.model.step(1);
      this.model.endTrip();
      const untilMs = startMs - preRollS * 1000 - (preDrive - 1 - i) * 86_400_000;
      if (untilMs > this.model.timeMs) this.model.park((untilMs - this.model.timeMs) / 1000);
    }
    this.startTrip();
    if (preRollS > 0) this.stepSim(preRollS);
    this.wallAnchor = wall;
    this.simAnchor = this.model.timeMs;
  }

  /** Simulated event time now (ms). */
  get timeMs(): number {
    return this.model.timeMs;
  }

  /** Trips started since construction (pre-drive trips included). */
  get tripsStarted(): number {
    return this.trips;
  }

  /** Distance driven since construction (km), for the distance PIDs. */
  get distanceKm(): number {
    return this.odometerKm;
  }

  /** The key as the tester sets it. While on, the car drives trip after trip. */
  get ignitionOn(): boolean {
    this.sync();
    return this.keyOn && this.model.ignitionOn;
  }

  /**
   * Turns the key. Off ends the trip (the ECU closes its drive cycle, which is what moves a code
   * from pending to stored on the next failing trip); on starts a new one after a few seconds of
   * key-on (RPM 0) and cranking, as a real car does.
   */
  setIgnition(on: boolean): void {
    this.sync();
    if (on === this.keyOn) return;
    this.keyOn = on;
    if (on) this.startTrip();
    else this.model.endTrip();
    this.cached = undefined;
  }

  /** Moves simulated time forward by `seconds` regardless of the clock (tests; speed 0). */
  advance(seconds: number): void {
    this.sync();
    this.stepSim(seconds);
    this.simAnchor = this.model.timeMs;
    this.wallAnchor = this.now();
  }

  /** Brings simulated time up to the clock. Called by every reader; cheap when nothing changed. */
  sync(): void {
    if (this.speed === 0) return;
    const wall = this.now();
    const targetMs = this.simAnchor + (wall - this.wallAnchor) * this.speed;
    let dtS = (targetMs - this.model.timeMs) / 1000;
    if (dtS <= 0) return;
    if (dtS > MAX_CATCH_UP_S) {
      this.droppedS += dtS - MAX_CATCH_UP_S;
      dtS = MAX_CATCH_UP_S;
      this.simAnchor = this.model.timeMs + dtS * 1000;
      this.wallAnchor = wall;
    }
    this.stepSim(dtS);
  }

  /** The signals now, as the ECU's sensors report them (quantised to PID resolution). */
  values(): VehicleSignals {
    this.sync();
    const atMs = this.model.timeMs;
    if (this.cached?.atMs !== atMs) {
      const values = this.model.read();
      // Distance from the speeds readers saw: good enough for the distance PIDs.
      if (this.lastRead && this.keyOn) this.odometerKm += (this.lastRead.speed * (atMs - this.lastRead.atMs)) / 3_600_000;
      this.lastRead = { atMs, speed: values.SPEED };
      this.cached = { atMs, values };
    }
    return this.cached.values;
  }

  dtcs(): ActiveDtcs {
    this.sync();
    return this.model.dtcs();
  }

  /** Codes, permanent codes, MIL and readiness now. */
  diagnosis(): EcuDiagnosis {
    this.sync();
    return this.model.diagnosis();
  }

  /** The ECU's freeze frame (frame 0), if it holds one. */
  freezeFrame(): StoredFreezeFrame<VehicleSignals> | undefined {
    this.sync();
    return this.model.freezeFrame();
  }

  /** Service 04 on the car's ECU (simulator/ecu-monitors.ts `clear`). */
  clearDiagnostics(): void {
    this.sync();
    this.model.clearDiagnostics();
  }

  ambientC(): number {
    return this.model.ambientC();
  }

  private startTrip(): void {
    this.model.refuelIfLow();
    this.model.startTrip(planTrip('demo', this.rng.fork(`trip-${this.trips}`), this.model.coolantTemperatureC < 50));
    this.trips++;
  }

  private stepSim(seconds: number): void {
    let left = seconds;
    // One-second steps (the model's own substep) so that trips roll over where they end.
    while (left > 1e-9) {
      const dt = Math.min(1, left);
      if (this.keyOn) {
        if (this.model.tripFinished && this.model.ignitionOn) {
          this.model.endTrip();
          this.startTrip();
        }
        this.model.step(dt);
      } else {
        this.model.park(dt);
      }
      this.cached = undefined;
      left -= dt;
    }
  }
}

/** Days over which a held fault's severity would change by 1: over a test or a demo it stays put. */
const HOLD_SPAN_MS = 10_000 * 86_400_000;

/**
 * A fault held at `severity` (0…1) around `atMs`: what a car that has been carrying it for a
 * while looks like. Misfire picks cylinder `cylinder` (DTC P030x).
 */
export function heldFault(kind: FaultKind, severity: number, atMs: number, cylinder = 1): FaultSpec {
  const s = Math.min(1, Math.max(0, severity));
  return {
    kind,
    onsetMs: atMs - s * HOLD_SPAN_MS - 1,
    failureMs: atMs + (1 - s) * HOLD_SPAN_MS + 1,
    curve: { kind: 'linear' },
    ...(kind === 'misfire' ? { cylinder } : {}),
  };
}
