/**
 * Moving an emulated car's diagnosis on in tests that read it through the agent's serial source:
 * the source reads the diagnosis when the car answers again after the ignition was off
 * (`healthIntervalMs: 0`), and simulated driving sets the ECU monitors' codes.
 */
import { expect } from 'vitest';
import type { ObdSource } from '../../agent/obd/obd-source.ts';
import type { Elm327Emulator } from '../../simulator/elm327/elm327-emulator.ts';
import type { LiveVehicle } from '../../simulator/elm327/live-vehicle.ts';
import { waitFor } from './influx.ts';

/** Ignition off until the source has seen the car go, then on, until `read` holds after a new health read. */
export async function ignitionCycle(emulator: Elm327Emulator, source: ObdSource, read: () => boolean): Promise<void> {
  const reads = source.status().healthReads;
  emulator.setIgnition(false);
  expect(await source.session.waitForState('no-ecu', 10_000)).toBe(true);
  emulator.setIgnition(true);
  expect(await source.session.waitForState('ready', 10_000)).toBe(true);
  expect(await waitFor(() => source.status().healthReads > reads && read(), 10_000)).toBe(true);
}

/** Drives (simulated, 15 s steps) until the ECU monitors hold what `until` asks for. */
export function driveUntil(car: LiveVehicle, until: () => boolean): void {
  for (let i = 0; i < 200 && !until(); i++) car.advance(15);
  expect(until()).toBe(true);
}
