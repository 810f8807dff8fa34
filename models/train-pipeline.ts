/**
 * From a window dataset to an exported model: train both families on the training vehicles,
 * choose on the validation vehicles (ROC-AUC), choose the threshold on validation (the most
 * sensitive one within a false-alarm budget on the healthy validation vehicles),
 * export ONNX, score validation and test with onnxruntime (the deployed artefact, not the
 * TypeScript copy) and write `<out>/model.onnx` + `<out>/model.json`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { DEFAULT_GBT_OPTIONS, type GbtModel, type GbtOptions, gbtPredict, trainGbt } from './gbt.ts';
import { evaluate, type Evaluation, TARGET_FALSE_ALERTS_PER_DAY, thresholdForFalseAlertRate } from './evaluation.ts';
import { rocAuc } from './metrics.ts';
import { DEFAULT_MLP_OPTIONS, type MlpModel, type MlpOptions, mlpPredict, trainMlp } from './mlp.ts';
import type { ModelMetadata } from './model-metadata.ts';
import { exportOnnx, INPUT_NAME, OUTPUT_NAME } from './onnx/onnx-export.ts';
import { createRng } from '../simulator/rng.ts';
import { featureFaultSide } from './features.ts';
import { applyInputBounds, balanceRows, fitInputBounds, type Matrix, selectRows } from './training-data.ts';
import { datasetHash, splitRows, type Split, type WindowDataset } from './window-dataset.ts';

/**
 * `mlp`: a small neural network; `gbt`: gradient-boosted trees (depth 4); `gam`: an additive model,
 * boosted stumps with every feature's direction fixed by physics (a higher catalyst temperature can
 * only raise the score) — one bounded contribution per feature, so a real car outside the
 * simulator's joint distribution cannot combine into a confident alarm.
 */
export type Family = 'mlp' | 'gbt' | 'gam';

export interface TrainOptions {
  seed: number;
  families: readonly Family[];
  modelVersion: number;
  /** Negatives kept per positive in the training rows (class balance). */
  negativesPerPositive: number;
  maxTrainRows: number;
  /**
   * Share of the training windows scored with a learned baseline whose deviations are hidden
   * (set absent) for training (default 0.35): the model must keep judging on fleet-level evidence
   * alone, as it does for every vehicle while its baseline learns.
   */
  deviationDropout?: number;
  mlp?: Partial<Omit<MlpOptions, 'seed' | 'onEpoch'>>;
  gbt?: Partial<Omit<GbtOptions, 'seed' | 'onRound'>>;
  gam?: Partial<Omit<GbtOptions, 'seed' | 'onRound'>>;
  log?: (line: string) => void;
}

export interface TrainResult {
  metadata: ModelMetadata;
  onnx: Uint8Array;
  model: MlpModel | GbtModel;
  test: Evaluation;
  testRows: number[];
  testScores: Float32Array;
}

/** Scores rows of the dataset with an ONNX model held in memory. */
export async function scoreRowsOnnx(bytes: Uint8Array, d: WindowDataset, rows: readonly number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const out = new Float32Array(rows.length);
    const F = d.featureNames.length;
    const batch = 8192;
    for (let s = 0; s < rows.length; s += batch) {
      const part = rows.slice(s, s + batch);
      const data = new Float32Array(part.length * F);
      part.forEach((r, i) => data.set(d.x.subarray(r * F, (r + 1) * F), i * F));
      const res = await session.run({ [INPUT_NAME]: new ort.Tensor('float32', data, [part.length, F]) });
      out.set(res[OUTPUT_NAME]!.data as Float32Array, s);
    }
    return out;
  } finally {
    await session.release();
  }
}

export async function trainAndExport(d: WindowDataset, o: TrainOptions): Promise<TrainResult> {
  const log = o.log ?? (() => {});
  const started = performance.now();
  const trainRows = balanceRows(d, splitRows(d, 'train'), o.negativesPerPositive, o.maxTrainRows);
  const selected = selectRows(d, trainRows);
  const y = selected.y;
  const deviationColumns = d.featureNames.flatMap((n, j) => (n.endsWith('_dev') ? [j] : []));
  hideDeviations(selected.x, deviationColumns, o.deviationDropout ?? 0.35, o.seed);
  const sides = d.featureNames.map(featureFaultSide);
  const bounds = fitInputBounds(selected.x, y, sides);
  const x = applyInputBounds(selected.x, bounds);
  // Absent means "no evidence": the healthy median (0 for a deviation), not the average window.
  const fill = healthyMedians(x, y, deviationColumns);
  const monotone = Int8Array.from(sides.map((side) => (side === 'high' ? 1 : side === 'low' ? -1 : 0)));
  const positives = y.reduce((a, b) => a + b, 0);
  log(`training rows: ${x.rows} (${positives} faulty, ${x.rows - positives} healthy) from ${d.vehicles.filter((v) => v.split === 'train').length} vehicles`);
  const valRows = splitRows(d, 'validation');
  const val = selectRows(d, valRows);
  const mlpOptions: MlpOptions = { ...DEFAULT_MLP_OPTIONS, ...o.mlp, seed: o.seed, zeroCentred: deviationColumns, fill };
  const gbtOptions: GbtOptions = { ...DEFAULT_GBT_OPTIONS, ...o.gbt, seed: o.seed, zeroCentred: deviationColumns, fill };
  const gamOptions: GbtOptions = { ...gbtOptions, ...DEFAULT_GAM_OPTIONS, ...o.gam, seed: o.seed, zeroCentred: deviationColumns, fill, monotone };
  const candidates: Array<{ family: Family; model: MlpModel | GbtModel; auc: number | null }> = [];
  for (const family of o.families) {
    const t0 = performance.now();
    let model: MlpModel | GbtModel;
    let pred: Float64Array;
    if (family === 'mlp') {
      model = { ...trainMlp(x, y, { ...mlpOptions, onEpoch: (e, loss) => log(`  mlp epoch ${e}/${mlpOptions.epochs}  loss ${loss.toFixed(4)}`) }), bounds };
      pred = mlpPredict(model, val.x);
    } else {
      const opts = family === 'gam' ? gamOptions : gbtOptions;
      const every = Math.max(1, Math.round(opts.rounds / 10));
      model = { ...trainGbt(x, y, { ...opts, onRound: (r, loss) => (r % every === 0 || r === opts.rounds ? log(`  ${family} round ${r}/${opts.rounds}  loss ${loss.toFixed(4)}`) : undefined) }), bounds };
      pred = gbtPredict(model, val.x);
    }
    const auc = rocAuc(pred, val.y);
    log(`${family}: validation ROC-AUC ${auc?.toFixed(4) ?? 'n/a'} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    candidates.push({ family, model, auc });
  }
  const chosen = [...candidates].sort((a, b) => (b.auc ?? -1) - (a.auc ?? -1))[0];
  if (!chosen) throw new Error('no model family to train');
  const provisional = exportOnnx(chosen.model, { featureCount: d.featureNames.length, modelVersion: o.modelVersion });
  const valScores = await scoreRowsOnnx(provisional, d, valRows);
  const threshold = thresholdForFalseAlertRate(d, valRows, valScores, TARGET_FALSE_ALERTS_PER_DAY);
  const valEval = evaluate(d, 'validation', valRows, valScores, threshold);
  const testRows = splitRows(d, 'test', false);
  const testScores = await scoreRowsOnnx(provisional, d, testRows);
  const test = evaluate(d, 'test', testRows, testScores, threshold);
  const durationS = (performance.now() - started) / 1000;
  const metadata: ModelMetadata = {
    schema: 'fleetpulse.model-metadata/1',
    modelVersion: o.modelVersion,
    family: chosen.family,
    createdAt: new Date().toISOString(),
    featureNames: [...d.featureNames],
    featureVersion: d.featureVersion,
    featureSetId: d.featureSetId,
    windowMs: d.windowMs,
    threshold,
    input: { name: INPUT_NAME, dtype: 'float32', absentValue: 'NaN' },
    output: { name: OUTPUT_NAME, dtype: 'float32', meaning: 'probability that the window shows a developing fault (severity ≥ labelSeverity)' },
    labelSeverity: d.labelSeverity,
    trainingData: { hash: datasetHash(d), source: d.source, windows: d.label.length, vehicles: d.vehicles.length },
    metrics: { test: test.overall, validation: valEval.overall, perFault: test.perFault },
    selection: { rule: `highest validation ROC-AUC; threshold = lowest at and above which healthy validation vehicles raise at most ${TARGET_FALSE_ALERTS_PER_DAY} alerts per driving day`, candidates: candidates.map((c) => ({ family: c.family, validationRocAuc: c.auc })) },
    featureReference: Object.fromEntries(d.featureNames.map((n, j) => [n, fill[j]!])),
    featureBounds: Object.fromEntries(d.featureNames.map((n, j) => [n, [finiteOrNull(bounds.lower[j]!), finiteOrNull(bounds.upper[j]!)]])),
    training: { seed: o.seed, durationS: Math.round(durationS * 10) / 10, options: { negativesPerPositive: o.negativesPerPositive, maxTrainRows: o.maxTrainRows, ...describeOptions(chosen.family === 'mlp' ? mlpOptions : chosen.family === 'gam' ? gamOptions : gbtOptions) } },
  };
  // The metadata travels inside the ONNX file too, for tools that only see the .onnx.
  const onnx = exportOnnx(chosen.model, { featureCount: d.featureNames.length, modelVersion: o.modelVersion, metadata: { featureSetId: d.featureSetId, threshold: String(threshold), featureNames: d.featureNames.join(',') } });
  return { metadata, onnx, model: chosen.model, test, testRows, testScores };
}

function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

/** Training options as plain JSON for the metadata (the per-feature arrays are in the graph). */
function describeOptions(o: MlpOptions | GbtOptions): Record<string, unknown> {
  const { fill: _f, zeroCentred: _z, ...rest } = o as MlpOptions & GbtOptions;
  const { monotone: _m, ...plain } = rest;
  return plain;
}

/** Stumps for the additive family: more rounds of single splits, a gentler step. */
export const DEFAULT_GAM_OPTIONS: Partial<GbtOptions> = { maxDepth: 1, rounds: 1500, learningRate: 0.1 };

/** Per feature, the median of the healthy rows' present values; 0 for `zeroColumns` (deviations). */
function healthyMedians(x: Matrix, y: Uint8Array, zeroColumns: readonly number[]): Float32Array {
  const zero = new Set(zeroColumns);
  const out = new Float32Array(x.cols);
  for (let j = 0; j < x.cols; j++) {
    if (zero.has(j)) continue;
    const values: number[] = [];
    for (let i = 0; i < x.rows; i++) {
      const v = x.data[i * x.cols + j]!;
      if (y[i] === 0 && !Number.isNaN(v)) values.push(v);
    }
    values.sort((a, b) => a - b);
    out[j] = values.length > 0 ? values[values.length >> 1]! : 0;
  }
  return out;
}

/** Sets the deviation columns of a seeded share of the rows that have any to NaN (absent). */
function hideDeviations(x: Matrix, columns: readonly number[], share: number, seed: number): void {
  if (columns.length === 0 || share <= 0) return;
  const rng = createRng(seed).fork('deviation-dropout');
  for (let i = 0; i < x.rows; i++) {
    if (!columns.some((j) => !Number.isNaN(x.data[i * x.cols + j]!))) continue;
    if (rng.next() >= share) continue;
    for (const j of columns) x.data[i * x.cols + j] = Number.NaN;
  }
}

/** Writes `<dir>/model.onnx` and `<dir>/model.json`; returns the model path. */
export function writeModel(dir: string, r: Pick<TrainResult, 'onnx' | 'metadata'>): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'model.onnx');
  writeFileSync(path, r.onnx);
  writeFileSync(join(dir, 'model.json'), `${JSON.stringify(r.metadata, null, 1)}\n`);
  return path;
}

export type { Split };
