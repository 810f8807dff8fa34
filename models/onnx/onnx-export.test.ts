import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { gbtPredict, trainGbt } from '../gbt.ts';
import { mlpPredict, trainMlp } from '../mlp.ts';
import { balanceRows, selectRows, type Matrix } from '../training-data.ts';
import { buildFleetDataset, splitRows } from '../window-dataset.ts';
import { exportOnnx, INPUT_NAME, OUTPUT_NAME } from './onnx-export.ts';

async function runOnnx(bytes: Uint8Array, x: Matrix): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  const out = await session.run({ [INPUT_NAME]: new ort.Tensor('float32', x.data, [x.rows, x.cols]) });
  await session.release();
  expect(out[OUTPUT_NAME]!.dims).toEqual([x.rows, 1]);
  return out[OUTPUT_NAME]!.data as Float32Array;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('ONNX export equals the TypeScript forward pass', () => {
  let x: Matrix;
  let y: Uint8Array;
  beforeAll(() => {
    const d = buildFleetDataset({ vehicles: 8, days: 6, faultyFraction: 0.6, seed: 3, startMs: Date.UTC(2025, 0, 6), onsetDays: [0.5, 1], failureAfterDays: [3, 4] });
    ({ x, y } = selectRows(d, balanceRows(d, splitRows(d, 'train'), 2, 3000)));
    // Absent features (MAP cars have no MAF) must go through the graph's imputation.
    expect(x.data.some((v) => Number.isNaN(v))).toBe(true);
    expect(y.some((v) => v === 1) && y.some((v) => v === 0)).toBe(true);
  });

  it('MLP: onnxruntime within 1e-5 of mlpPredict', async () => {
    const model = trainMlp(x, y, { hidden: [16, 8], epochs: 3, batchSize: 64, learningRate: 3e-3, l2: 1e-5, seed: 1 });
    const ts = mlpPredict(model, x);
    const onnx = await runOnnx(exportOnnx(model, { featureCount: x.cols, modelVersion: 1 }), x);
    expect(maxAbsDiff(ts, onnx)).toBeLessThan(1e-5);
    // Not a constant function: the equivalence must be tested on varied outputs.
    expect(Math.max(...onnx) - Math.min(...onnx)).toBeGreaterThan(0.5);
  });

  it('gradient-boosted trees: onnxruntime TreeEnsembleRegressor within 1e-5 of gbtPredict', async () => {
    const model = trainGbt(x, y, { rounds: 25, maxDepth: 3, learningRate: 0.2, lambda: 1, minChildWeight: 1, minSamplesLeaf: 10, maxBins: 32, subsample: 0.7, seed: 1 });
    const ts = gbtPredict(model, x);
    const onnx = await runOnnx(exportOnnx(model, { featureCount: x.cols, modelVersion: 1 }), x);
    expect(maxAbsDiff(ts, onnx)).toBeLessThan(1e-5);
    expect(Math.max(...onnx) - Math.min(...onnx)).toBeGreaterThan(0.5);
  });

  it('training is deterministic from the seed', () => {
    const a = trainGbt(x, y, { rounds: 5, maxDepth: 3, learningRate: 0.2, lambda: 1, minChildWeight: 1, minSamplesLeaf: 10, maxBins: 32, subsample: 0.7, seed: 9 });
    const b = trainGbt(x, y, { rounds: 5, maxDepth: 3, learningRate: 0.2, lambda: 1, minChildWeight: 1, minSamplesLeaf: 10, maxBins: 32, subsample: 0.7, seed: 9 });
    expect(Buffer.from(exportOnnx(a, { featureCount: x.cols, modelVersion: 1 }))).toEqual(Buffer.from(exportOnnx(b, { featureCount: x.cols, modelVersion: 1 })));
  });
});
