/**
 * Who is in a simulated fleet: one VehicleSpec per vehicle, drawn from the seed — car model,
 * driver style, climate, usage and, for a chosen share of the fleet, a fault with its onset and
 * failure time. Faulty vehicles get the fault kinds in turn, so every kind is represented.
 */
import { DRIVER_STYLES, type DriverStyle } from './driver-style.ts';
import { DEFAULT_CURVE, FAULT_KINDS, type FaultKind, type SeverityCurve, faultApplies } from './faults.ts';
import { PROFILES, type ProfileId } from './profiles.ts';
import { createRng } from './rng.ts';
import type { VehicleSpec } from './simulated-vehicle.ts';
import type { ScheduleKind } from './trip-schedule.ts';
import { drawVariation } from './vehicle-variation.ts';

export interface FleetPlanOptions {
  vehicles: number;
  idPrefix: string;
  seed: number;
  /** Share of vehicles (0…1) that carry a fault. */
  faultyFraction: number;
  /** Event time at which the simulation starts (ms). */
  startMs: number;
  schedule: ScheduleKind;
  /** Car models to draw from; all by default. */
  profiles?: readonly ProfileId[];
  /** Fault kinds to assign in turn; all by default. */
  faultKinds?: readonly FaultKind[];
  /** Onset is drawn uniformly from this range of days after start. */
  onsetDays?: readonly [number, number];
  /** Days from onset to failure, drawn uniformly from this range. */
  failureAfterDays?: readonly [number, number];
  curve?: SeverityCurve;
  /** Draw each car's calibration and sensor character from the real-world ranges (vehicle-variation.ts); nominal cars otherwise. */
  randomiseVariation?: boolean;
}

const DAY_MS = 86_400_000;

export function fleetVehicleIds(count: number, prefix: string): string[] {
  const width = Math.max(3, String(count).length);
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i + 1).padStart(width, '0')}`);
}

export function planFleet(o: FleetPlanOptions): VehicleSpec[] {
  const rng = createRng(o.seed).fork('fleet-plan');
  const ids = fleetVehicleIds(o.vehicles, o.idPrefix);
  const profiles = o.profiles ?? (Object.keys(PROFILES) as ProfileId[]);
  const kinds = o.faultKinds ?? FAULT_KINDS;
  const [onsetLo, onsetHi] = o.onsetDays ?? [1, 10];
  const [failLo, failHi] = o.failureAfterDays ?? [6, 20];
  // Which vehicles are faulty: a seeded shuffle, so exactly round(N·P) of them are.
  const order = ids.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const faultyCount = Math.round(o.vehicles * Math.min(1, Math.max(0, o.faultyFraction)));
  const faultyRank = new Map(order.slice(0, faultyCount).map((index, rank) => [index, rank]));

  return ids.map((vehicleId, index) => {
    const r = rng.fork(vehicleId);
    const profileId = profiles[Math.floor(r.next() * profiles.length)]!;
    const profile = PROFILES[profileId];
    const styleRoll = r.next();
    const style: DriverStyle = styleRoll < 0.3 ? DRIVER_STYLES[0] : styleRoll < 0.8 ? DRIVER_STYLES[1] : DRIVER_STYLES[2];
    const spec: VehicleSpec = {
      vehicleId,
      profile,
      style,
      ambientC: r.uniform(2, 30),
      altitudeM: r.uniform(0, 800),
      schedule: o.schedule,
      usage: r.next() < 0.8 ? 1 : r.uniform(2, 3),
      // A fork of its own, so that drawing variations leaves every other draw of the plan unchanged.
      ...(o.randomiseVariation ? { variation: drawVariation(r.fork('variation')) } : {}),
    };
    const rank = faultyRank.get(index);
    if (rank !== undefined) {
      const applicable = kinds.filter((k) => faultApplies(k, profile.airMetering));
      const kind = applicable.length > 0 ? applicable[rank % applicable.length]! : undefined;
      if (kind) {
        const onsetMs = o.startMs + Math.round(r.uniform(onsetLo, onsetHi) * DAY_MS);
        const failureMs = onsetMs + Math.max(1, Math.round(r.uniform(failLo, failHi) * DAY_MS));
        spec.fault = { kind, onsetMs, failureMs, curve: o.curve ?? DEFAULT_CURVE, ...(kind === 'misfire' ? { cylinder: 1 + Math.floor(r.next() * profile.cylinders) } : {}) };
      }
    }
    return spec;
  });
}

/** One vehicle without a fault, for the demo and a single simulated agent: drawn from seed and id. */
export function defaultVehicleSpec(vehicleId: string, seed: number, schedule: ScheduleKind = 'continuous'): VehicleSpec {
  const r = createRng(seed).fork(`default-${vehicleId}`);
  const ids = Object.keys(PROFILES) as ProfileId[];
  return {
    vehicleId,
    profile: PROFILES[ids[Math.floor(r.next() * ids.length)]!],
    style: DRIVER_STYLES[Math.floor(r.next() * DRIVER_STYLES.length)]!,
    ambientC: r.uniform(5, 28),
    altitudeM: r.uniform(0, 600),
    schedule,
    usage: 1,
  };
}
