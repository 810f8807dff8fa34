/**
 * An emulated car read over a real pty (socat) by the agent's OBD-II source, on a clock that runs
 * `speed` times faster than the wall — shared by the serial-path model test and its benchmark.
 * The car (simulator/elm327) and the poller share that clock, so event times are simulated time;
 * the emulator is unpaced with a 2 ms ECU latency so the line keeps up.
 */
import { DEFAULT_FAST_PIDS, DEFAULT_SLOW_PIDS, ObdSource } from '../../agent/obd/obd-source.ts';
import { sleep } from '../../common/backoff.ts';
import type { Sample } from '../../contracts/telemetry.ts';
import { heldFault, LiveVehicle } from '../../simulator/elm327/live-vehicle.ts';
import { startEmulatorOnPty } from '../../simulator/elm327/test-support.ts';
import { faultApplies, type FaultKind } from '../../simulator/faults.ts';
import { defaultVehicleSpec } from '../../simulator/fleet-plan.ts';
import { PROFILES } from '../../simulator/profiles.ts';

export interface SerialCarRun {
  seed: number;
  fault?: FaultKind;
  severity?: number;
  fastHz: number;
  slowHz: number;
  simulatedMinutes: number;
  /** Simulated seconds per wall second. */
  speed: number;
}

export interface SerialCarResult {
  samples: Sample[];
  /** Polling slots the line could not serve (the configured rate was not reached). */
  missedSlots: number;
  requests: number;
}

/** Reads an emulated car for `simulatedMinutes` and returns what the agent's source produced. */
export async function readSerialCar(o: SerialCarRun): Promise<SerialCarResult> {
  const wall0 = Date.now();
  const now = (): number => wall0 + (Date.now() - wall0) * o.speed;
  const base = defaultVehicleSpec('hil-model', o.seed, 'continuous');
  const profile = o.fault && !faultApplies(o.fault, base.profile.airMetering) ? PROFILES['compact-2.0-maf'] : base.profile;
  const spec = { ...base, profile, ...(o.fault ? { fault: heldFault(o.fault, o.severity ?? 0.9, now()) } : {}) };
  // The car has driven two trips (a warm engine, the fault's history) and drives on.
  const vehicle = new LiveVehicle({ spec, seed: o.seed, speed: 1, now, preDriveTrips: 2 });
  const emu = await startEmulatorOnPty({ vehicle, seed: o.seed, baudRate: 0, ecuLatencyMs: 2 });
  const samples: Sample[] = [];
  const source = new ObdSource({
    path: emu.path,
    fastPids: DEFAULT_FAST_PIDS,
    slowPids: DEFAULT_SLOW_PIDS,
    fastHz: o.fastHz,
    slowHz: o.slowHz,
    healthIntervalMs: 0,
    now,
    sleep: (ms, signal) => sleep(ms / o.speed, signal),
  });
  try {
    await source.start((s) => samples.push(s));
    await sleep((o.simulatedMinutes * 60_000) / o.speed);
  } finally {
    await source.stop();
    await emu.close();
  }
  const counters = source.status().poller;
  return { samples, missedSlots: counters.missedSlots, requests: counters.requests };
}
