/**
 * Hardware-in-the-loop, the model on the serial path: an emulated ELM327 on a real pty (socat), a
 * simulated car behind it, read by the agent's OBD-II source (ELM327 session → multi-PID poller) at
 * its default rates (5 Hz fast PIDs, 0.5 Hz the others) and at 1 Hz, and the samples it produced
 * judged by the serving path (windows, features, baseline, shipped model, alert hysteresis).
 *
 * Thirty simulated minutes run in under four: the car and the poller share a clock that runs eight times
 * faster than the wall (the emulator is unpaced, with a 2 ms ECU latency, so the line keeps up).
 * The model sees exactly the event times the poller stamped. A healthy car must raise no alert,
 * a car with a fault near failure must raise one. (The same with `fleetpulse agent` in real time:
 * `npm run bench:serial-model`, docs/benchmarks.md.)
 */
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_FAST_PIDS, DEFAULT_SLOW_PIDS, ObdSource } from '../../agent/obd/obd-source.ts';
import type { Sample } from '../../contracts/telemetry.ts';
import { sleep } from '../../common/backoff.ts';
import { evaluateDrives } from '../../models/drive-evaluation.ts';
import { FEATURE_SET_ID } from '../../models/features.ts';
import { OnnxModel } from '../../models/onnx-model.ts';
import type { FaultKind } from '../../simulator/faults.ts';
import { defaultVehicleSpec } from '../../simulator/fleet-plan.ts';
import { heldFault, LiveVehicle } from '../../simulator/elm327/live-vehicle.ts';
import { startEmulatorOnPty } from '../../simulator/elm327/test-support.ts';
import { PROFILES } from '../../simulator/profiles.ts';

const SPEED = 8;
const SIMULATED_MINUTES = 30;
const MODEL = new URL('../../models/default/model.onnx', import.meta.url).pathname;

/** A clock that runs SPEED times faster than the wall, from now on. */
function fastClock(): { now: () => number; sleep: (ms: number, signal: AbortSignal) => Promise<void> } {
  const wall0 = Date.now();
  return { now: () => wall0 + (Date.now() - wall0) * SPEED, sleep: (ms, signal) => sleep(ms / SPEED, signal) };
}

/** Reads an emulated car for SIMULATED_MINUTES and returns what the agent's source produced. */
async function readCar(o: { seed: number; fault?: FaultKind; fastHz: number; slowHz: number }): Promise<Sample[]> {
  const clock = fastClock();
  const base = defaultVehicleSpec('hil-model', o.seed, 'continuous');
  const profile = o.fault === 'maf_drift' ? PROFILES['compact-2.0-maf'] : base.profile;
  const spec = { ...base, profile, ...(o.fault ? { fault: heldFault(o.fault, 0.9, clock.now()) } : {}) };
  // The car has driven two trips (warm engine, the fault's history) and drives on.
  const vehicle = new LiveVehicle({ spec, seed: o.seed, speed: 1, now: clock.now, preDriveTrips: 2 });
  const emu = await startEmulatorOnPty({ vehicle, seed: o.seed, baudRate: 0, ecuLatencyMs: 2 });
  const samples: Sample[] = [];
  const source = new ObdSource({ path: emu.path, fastPids: DEFAULT_FAST_PIDS, slowPids: DEFAULT_SLOW_PIDS, fastHz: o.fastHz, slowHz: o.slowHz, dtcIntervalMs: 0, now: clock.now, sleep: clock.sleep });
  try {
    await source.start((s) => samples.push(s));
    await sleep((SIMULATED_MINUTES * 60_000) / SPEED);
  } finally {
    await source.stop();
    await emu.close();
  }
  return samples;
}

describe('the model on the serial path (emulated ELM327 on a pty, agent OBD source)', () => {
  let model: OnnxModel | undefined;
  afterAll(async () => model?.close());

  it(`raises no alert for a healthy car in ${SIMULATED_MINUTES} simulated minutes at the default rates and at 1 Hz, and one for a car near failure`, async () => {
    model = await OnnxModel.load(MODEL, FEATURE_SET_ID);
    const m = model;
    const [healthyDefault, healthy1Hz, faulty] = await Promise.all([
      readCar({ seed: 4, fastHz: 5, slowHz: 0.5 }),
      readCar({ seed: 4, fastHz: 1, slowHz: 1 }),
      readCar({ seed: 4, fault: 'vacuum_leak', fastHz: 5, slowHz: 0.5 }),
    ]);
    const scorer = { featureNames: m.metadata.featureNames, threshold: m.metadata.threshold, score: (rows: Float32Array, n: number) => m.scoreMatrix(rows, n) };
    const judge = async (samples: Sample[], name: string) => (await evaluateDrives([{ source: name, vehicle: name, samples }], scorer)).total;
    const a = await judge(healthyDefault, 'healthy, 5 Hz / 0.5 Hz');
    const b = await judge(healthy1Hz, 'healthy, 1 Hz');
    const c = await judge(faulty, 'vacuum leak, 5 Hz / 0.5 Hz');
    // Enough data to judge: the windows of thirty minutes, with the engine running.
    for (const t of [a, b, c]) {
      expect(t.windows).toBeGreaterThanOrEqual(SIMULATED_MINUTES * 2 - 4);
      expect(t.drivingHours).toBeGreaterThan(0.3);
    }
    // The poll rate changes how many samples there are (as far as the line keeps up), not what the model makes of them.
    expect(healthyDefault.length).toBeGreaterThan(1.5 * healthy1Hz.length);
    expect({ alerts: a.alertsRaised, flagged: a.flagged }).toEqual({ alerts: 0, flagged: 0 });
    expect({ alerts: b.alertsRaised, flagged: b.flagged }).toEqual({ alerts: 0, flagged: 0 });
    expect(c.alertsRaised).toBeGreaterThanOrEqual(1);
  }, 300_000);
});
