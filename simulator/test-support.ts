/**
 * Helpers for tests and reports: run one vehicle with a fault held at a fixed severity, so a
 * signature can be compared with the same car, driver and roads without the fault.
 */
import { createSimulatedVehicle } from './fleet-generator.ts';
import type { FaultKind } from './faults.ts';
import type { VehicleProfile } from './profiles.ts';
import type { SimulatedSample, VehicleSpec } from './simulated-vehicle.ts';

export const TEST_START_MS = Date.UTC(2025, 0, 6); // a Monday
const DAY_MS = 86_400_000;
/** A fault this long from onset to failure changes severity by < 0.001 over a few days. */
const STRETCH_MS = 10_000 * DAY_MS;

export function specWithSeverity(base: Omit<VehicleSpec, 'fault'>, kind: FaultKind | undefined, severity: number): VehicleSpec {
  if (!kind) return { ...base };
  return {
    ...base,
    fault: { kind, onsetMs: TEST_START_MS - severity * STRETCH_MS, failureMs: TEST_START_MS + (1 - severity) * STRETCH_MS + 1, curve: { kind: 'linear' } },
  };
}

export function baseSpec(profile: VehicleProfile, vehicleId = 'test-car'): Omit<VehicleSpec, 'fault'> {
  return { vehicleId, profile, style: 'normal', ambientC: 18, altitudeM: 100, schedule: 'daily', usage: 1 };
}

export interface DriveResult {
  samples: SimulatedSample[];
  dtcs: { stored: string[]; pending: string[] };
}

export function drive(spec: VehicleSpec, days: number, seed = 5, sampleRateHz = 1): DriveResult {
  const vehicle = createSimulatedVehicle(spec, seed, TEST_START_MS, sampleRateHz);
  const samples: SimulatedSample[] = [];
  for (;;) {
    const s = vehicle.nextSample(TEST_START_MS + days * DAY_MS - 1);
    if (!s) break;
    samples.push(s);
  }
  return { samples, dtcs: vehicle.dtcs() };
}
