/**
 * A vehicle living through simulated time: parked, then a trip from its schedule, then parked
 * again. It hands out samples at a fixed rate while the ignition is on and skips parked time in
 * one closed-form step, which is what makes a month of a fleet cheap to generate.
 *
 * No timers: the caller decides how fast simulated time runs (`nextSample` as fast as it
 * likes for batch generation, or paced against the wall clock by SimulatedSource).
 */
import type { Sample } from '../contracts/telemetry.ts';
import { planTrip } from './driving-cycle.ts';
import type { DriverStyle } from './driver-style.ts';
import type { ActiveDtcs } from './ecu-monitors.ts';
import type { FaultSpec, GroundTruth } from './faults.ts';
import { type VehicleProfile } from './profiles.ts';
import type { Rng } from './rng.ts';
import { type PlannedTrip, type ScheduleKind, TripSchedule } from './trip-schedule.ts';
import { VehicleModel, type VehicleSignals } from './vehicle-model.ts';
import type { VehicleVariation } from './vehicle-variation.ts';

/** Everything that defines one simulated vehicle; with the seed it fixes every sample. */
export interface VehicleSpec {
  vehicleId: string;
  profile: VehicleProfile;
  style: DriverStyle;
  ambientC: number;
  altitudeM: number;
  schedule: ScheduleKind;
  /** 1 = private car; more = more trips per day. */
  usage: number;
  fault?: FaultSpec;
  /** How this car differs from its model's nominal physics (simulator/vehicle-variation.ts); nominal when absent. */
  variation?: VehicleVariation;
}

export interface SimulatedSample {
  /** Event time, ms. */
  t: number;
  values: VehicleSignals;
  truth: GroundTruth;
  /** Trip number since the simulation started (1-based). */
  trip: number;
}

/** Shortest stop between trips: a real car's errand, or a driver change in the demo. */
const MIN_PARK_MS = { daily: 3 * 60_000, continuous: 20_000 } as const;

export class SimulatedVehicle {
  readonly model: VehicleModel;
  private readonly schedule: TripSchedule;
  private readonly tripRng: Rng;
  private readonly intervalMs: number;
  private nextT: number;
  private tripCount = 0;
  private planned: PlannedTrip | undefined;

  /**
   * @param startMs event time of the first possible sample
   * @param sampleRateHz samples per simulated second while the ignition is on
   */
  constructor(
    readonly spec: VehicleSpec,
    rng: Rng,
    startMs: number,
    sampleRateHz: number,
  ) {
    this.intervalMs = 1000 / sampleRateHz;
    this.schedule = new TripSchedule(rng.fork('schedule'), spec.schedule, spec.usage);
    this.tripRng = rng.fork('trips');
    // The car has been parked overnight: coolant starts near ambient.
    this.model = new VehicleModel({
      rng: rng.fork('model'),
      profile: spec.profile,
      style: spec.style,
      ambientC: spec.ambientC,
      altitudeM: spec.altitudeM,
      fault: spec.fault,
      ...(spec.variation ? { variation: spec.variation } : {}),
      startMs,
    });
    this.nextT = startMs;
  }

  get tripsStarted(): number {
    return this.tripCount;
  }

  /** Event time of the next sample this vehicle would produce if it were driving now. */
  get clockMs(): number {
    return this.nextT;
  }

  /**
   * The next sample, skipping parked time. Event times strictly increase and are whole ms.
   * Returns undefined only if the next sample would be later than `untilMs`; then the vehicle
   * has advanced no further than `untilMs`.
   */
  nextSample(untilMs = Number.POSITIVE_INFINITY): SimulatedSample | undefined {
    const m = this.model;
    if (!m.ignitionOn || m.tripFinished) {
      if (m.ignitionOn) {
        m.endTrip();
        this.planned = undefined;
      }
      const trip = (this.planned ??= this.schedule.nextTrip(m.timeMs + (this.tripCount > 0 ? MIN_PARK_MS[this.spec.schedule] : 0)));
      if (trip.startMs > untilMs) {
        if (untilMs > m.timeMs) m.park((untilMs - m.timeMs) / 1000);
        this.nextT = Math.max(this.nextT, Math.ceil(untilMs));
        return undefined;
      }
      if (trip.startMs > m.timeMs) m.park((trip.startMs - m.timeMs) / 1000);
      this.planned = undefined;
      m.refuelIfLow();
      m.startTrip(planTrip(trip.kind, this.tripRng.fork(`trip-${trip.startMs}`), m.coolantTemperatureC < 50));
      this.tripCount++;
      this.nextT = Math.max(this.nextT, Math.ceil(m.timeMs));
    }
    if (this.nextT > untilMs) return undefined;
    const dtS = (this.nextT - m.timeMs) / 1000;
    if (dtS > 0) m.step(dtS);
    const t = Math.round(this.nextT);
    this.nextT = t + Math.max(1, Math.round(this.intervalMs));
    return { t, values: m.read(), truth: m.groundTruth(), trip: this.tripCount };
  }

  dtcs(): ActiveDtcs {
    return this.model.dtcs();
  }

  /** Only what an OBD-II reader sees: the sample the agent sends. */
  static toWire(sample: SimulatedSample): Sample {
    return { t: sample.t, ...sample.values };
  }
}
