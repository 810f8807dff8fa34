/**
 * Batch generation: simulated time as fast as the CPU goes, no timers. This is the API the
 * trainer and the tests use; every sample carries its ground truth, which never goes on the wire.
 */
import { createRng } from './rng.ts';
import { type SimulatedSample, SimulatedVehicle, type VehicleSpec } from './simulated-vehicle.ts';

/** Builds the simulated vehicle for a spec; seed and vehicle id fix every sample it produces. */
export function createSimulatedVehicle(spec: VehicleSpec, seed: number, startMs: number, sampleRateHz: number): SimulatedVehicle {
  return new SimulatedVehicle(spec, createRng(seed).fork(spec.vehicleId), startMs, sampleRateHz);
}

/** Every sample one vehicle produces in [startMs, endMs), in event-time order. */
export function* generateVehicleSamples(spec: VehicleSpec, seed: number, startMs: number, endMs: number, sampleRateHz = 1): Generator<SimulatedSample> {
  const vehicle = createSimulatedVehicle(spec, seed, startMs, sampleRateHz);
  for (;;) {
    const s = vehicle.nextSample(endMs - 1);
    if (!s) return;
    yield s;
  }
}

export interface FleetGenerationStats {
  vehicles: number;
  samples: number;
  simulatedDrivingS: number;
}

/**
 * Runs each vehicle of the fleet through [startMs, endMs) one after the other and hands every
 * sample to `onSample`. Vehicles are independent, so callers may split `specs` across workers.
 */
export function generateFleet(
  specs: readonly VehicleSpec[],
  seed: number,
  startMs: number,
  endMs: number,
  sampleRateHz: number,
  onSample: (spec: VehicleSpec, sample: SimulatedSample) => void,
): FleetGenerationStats {
  let samples = 0;
  for (const spec of specs) {
    for (const s of generateVehicleSamples(spec, seed, startMs, endMs, sampleRateHz)) {
      onSample(spec, s);
      samples++;
    }
  }
  return { vehicles: specs.length, samples, simulatedDrivingS: samples / sampleRateHz };
}
