/**
 * The model on the serial path, every case the issue names: a healthy emulated car read by the
 * agent's OBD-II source at its default rates (5 Hz fast PIDs, 0.5 Hz the others) and at 1 Hz, and
 * the same car with each fault the simulator has held near failure (severity 0.9), for 30 simulated
 * minutes each (at 8× wall speed, a few cars at a time), judged by the serving path with the shipped
 * model. Prints one row per case: samples, windows, flagged windows, alerts, first alert (simulated
 * minutes), and the line's missed polling slots.
 *
 *   npm run bench:serial-model [-- --minutes 30 --speed 8 --parallel 3 --severity 0.9]
 */
import { parseArgs } from 'node:util';
import { evaluateDrives } from '../models/drive-evaluation.ts';
import { FEATURE_SET_ID } from '../models/features.ts';
import { OnnxModel } from '../models/onnx-model.ts';
import { FAULT_KINDS, type FaultKind } from '../simulator/faults.ts';
import { readSerialCar } from '../test/support/serial-car.ts';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '30' }, speed: { type: 'string', default: '8' }, parallel: { type: 'string', default: '3' }, severity: { type: 'string', default: '0.9' }, model: { type: 'string', default: 'models/default/model.onnx' } } });
const minutes = Number(values.minutes);
const speed = Number(values.speed);
const model = await OnnxModel.load(values.model!, FEATURE_SET_ID);
const scorer = { featureNames: model.metadata.featureNames, threshold: model.metadata.threshold, score: (x: Float32Array, n: number) => model.scoreMatrix(x, n) };
const cases: Array<{ name: string; fault?: FaultKind; fastHz: number; slowHz: number }> = [
  { name: 'healthy, 5 Hz / 0.5 Hz (default)', fastHz: 5, slowHz: 0.5 },
  { name: 'healthy, 1 Hz', fastHz: 1, slowHz: 1 },
  ...FAULT_KINDS.map((fault) => ({ name: `${fault}, 5 Hz / 0.5 Hz`, fault, fastHz: 5, slowHz: 0.5 })),
];
console.log(`model v${model.metadata.modelVersion} (${model.metadata.family}, threshold ${model.metadata.threshold}); ${minutes} simulated minutes per case at ${speed}x; severity ${values.severity}`);
console.log('| case | samples | windows | flagged | alerts | first alert (sim. min) | missed slots |');
console.log('|---|---|---|---|---|---|---|');
const queue = [...cases];
const worker = async (): Promise<void> => {
  for (let c = queue.shift(); c; c = queue.shift()) {
    const run = await readSerialCar({ seed: 4, ...c, severity: Number(values.severity), simulatedMinutes: minutes, speed });
    const { files } = await evaluateDrives([{ source: c.name, vehicle: c.name, samples: run.samples }], scorer);
    const f = files[0]!;
    // The first alert: the window that completes the third anomalous one in a row.
    let run3 = 0;
    let first: number | undefined;
    for (const w of f.scores) {
      run3 = w.score >= scorer.threshold ? run3 + 1 : 0;
      if (run3 === 3 && first === undefined) first = (w.startMs - f.scores[0]!.startMs) / 60_000 + 0.5;
    }
    console.log(`| ${c.name} | ${run.samples.length} | ${f.windows} | ${f.flagged} | ${f.alertsRaised} | ${first?.toFixed(1) ?? '–'} | ${run.missedSlots} of ${run.requests + run.missedSlots} |`);
  }
};
await Promise.all(Array.from({ length: Number(values.parallel) }, worker));
await model.close();
