/**
 * Hardware-in-the-loop, the model on the serial path: an emulated ELM327 on a real pty (socat), a
 * simulated car behind it, read by the agent's OBD-II source (ELM327 session → multi-PID poller) at
 * its default rates (5 Hz fast PIDs, 0.5 Hz the others) and at 1 Hz, and the samples it produced
 * judged by the serving path (windows, features, baseline, shipped model, alert hysteresis).
 *
 * Thirty simulated minutes run in under four: the car and the poller share a clock that runs eight times
 * faster than the wall (the emulator is unpaced, with a 2 ms ECU latency, so the line keeps up).
 * The model sees exactly the event times the poller stamped. A healthy car must raise no alert,
 * a car with a fault near failure must raise one. (Every fault the simulator has, at both rates:
 * `npm run bench:serial-model`, docs/benchmarks.md.)
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Sample } from '../../contracts/telemetry.ts';
import { evaluateDrives } from '../../models/drive-evaluation.ts';
import { FEATURE_SET_ID } from '../../models/features.ts';
import { OnnxModel } from '../../models/onnx-model.ts';
import type { FaultKind } from '../../simulator/faults.ts';
import { readSerialCar } from '../support/serial-car.ts';

const SPEED = 8;
const SIMULATED_MINUTES = 30;
const MODEL = new URL('../../models/default/model.onnx', import.meta.url).pathname;

const readCar = async (o: { seed: number; fault?: FaultKind; fastHz: number; slowHz: number }): Promise<Sample[]> =>
  (await readSerialCar({ ...o, simulatedMinutes: SIMULATED_MINUTES, speed: SPEED })).samples;

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
    expect(healthyDefault.length).toBeGreaterThan(1.2 * healthy1Hz.length);
    expect({ alerts: a.alertsRaised, flagged: a.flagged }).toEqual({ alerts: 0, flagged: 0 });
    expect({ alerts: b.alertsRaised, flagged: b.flagged }).toEqual({ alerts: 0, flagged: 0 });
    expect(c.alertsRaised).toBeGreaterThanOrEqual(1);
  }, 300_000);
});
