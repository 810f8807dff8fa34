/**
 * A dense matrix view of chosen dataset rows, with the imputation both model families share:
 * an absent feature (NaN) is replaced by its training mean, inside the exported ONNX graph as well
 * as in the TypeScript forward passes, so ingest passes NaN for an absent feature and nothing else.
 */
import type { WindowDataset } from './window-dataset.ts';

export interface Matrix {
  rows: number;
  cols: number;
  /** Row-major, float32 values (NaN = absent). */
  data: Float32Array;
}

export function selectRows(d: WindowDataset, rows: readonly number[]): { x: Matrix; y: Uint8Array } {
  const cols = d.featureNames.length;
  const data = new Float32Array(rows.length * cols);
  const y = new Uint8Array(rows.length);
  rows.forEach((r, i) => {
    data.set(d.x.subarray(r * cols, (r + 1) * cols), i * cols);
    y[i] = d.label[r] === 1 ? 1 : 0;
  });
  return { x: { rows: rows.length, cols, data }, y };
}

export interface Standardisation {
  /** Per feature, float32-representable: the value imputed for NaN and subtracted. */
  mean: Float32Array;
  /** Per feature, ≥ a small floor so a constant feature cannot blow up. */
  std: Float32Array;
}

/**
 * Mean and standard deviation over present values; a feature never present gets mean 0, std 1.
 * Columns in `zeroCentred` (deviations from a vehicle's baseline: already centred, and absent
 * means "no evidence of a deviation", not "an average one") get mean 0 and the spread about 0.
 */
export function fitStandardisation(x: Matrix, zeroCentred: readonly number[] = []): Standardisation {
  const atZero = new Set(zeroCentred);
  const mean = new Float32Array(x.cols);
  const std = new Float32Array(x.cols);
  for (let j = 0; j < x.cols; j++) {
    let n = 0;
    let s = 0;
    let ss = 0;
    for (let i = 0; i < x.rows; i++) {
      const v = x.data[i * x.cols + j]!;
      if (Number.isNaN(v)) continue;
      n++;
      s += v;
      ss += v * v;
    }
    const m = n > 0 && !atZero.has(j) ? s / n : 0;
    const variance = n > 0 ? Math.max(0, ss / n - m * m) : 1;
    mean[j] = m;
    std[j] = Math.max(Math.sqrt(variance), 1e-6 * Math.max(1, Math.abs(m)));
  }
  return { mean, std };
}

/** Returns a copy with NaN replaced by the fill values (float32, as the graph does it). */
export function impute(x: Matrix, fill: Float32Array): Matrix {
  const data = new Float32Array(x.data);
  for (let i = 0; i < x.rows; i++)
    for (let j = 0; j < x.cols; j++) if (Number.isNaN(data[i * x.cols + j]!)) data[i * x.cols + j] = fill[j]!;
  return { rows: x.rows, cols: x.cols, data };
}

/**
 * Deterministic class-balanced subsample: every positive row, and at most `negativesPerPositive`
 * negatives per positive (at least `minNegatives`), spread evenly over the candidates.
 */
export function balanceRows(d: WindowDataset, rows: readonly number[], negativesPerPositive: number, maxRows: number): number[] {
  const pos = rows.filter((r) => d.label[r] === 1);
  const neg = rows.filter((r) => d.label[r] === 0);
  let wantNeg = Math.min(neg.length, Math.max(Math.round(pos.length * negativesPerPositive), Math.min(neg.length, 2000)));
  let keepPos = pos;
  if (keepPos.length + wantNeg > maxRows) {
    const scale = maxRows / (keepPos.length + wantNeg);
    keepPos = evenly(pos, Math.floor(pos.length * scale));
    wantNeg = Math.floor(wantNeg * scale);
  }
  return [...keepPos, ...evenly(neg, wantNeg)].sort((a, b) => a - b);
}

function evenly(xs: readonly number[], k: number): number[] {
  if (k >= xs.length) return [...xs];
  const out: number[] = [];
  for (let i = 0; i < k; i++) out.push(xs[Math.floor((i * xs.length) / k)]!);
  return out;
}

/**
 * Per-feature limits the models clip their inputs to (in the exported graph too, after
 * imputation): the range the training data covered, and — for a feature that faults move in one
 * direction only — the healthy median on the other side. A value on the healthy side of the
 * fleet's median carries no evidence (a real car's cool catalyst at idle is not a hint of any
 * fault), and no value leads a model beyond what it was trained on.
 */
export interface InputBounds {
  lower: Float32Array;
  upper: Float32Array;
}

export type FaultSide = 'high' | 'low' | 'both';

/** Bounds from training rows: p0.5…p99.5 of the present values; the side limit from the healthy rows' median. */
export function fitInputBounds(x: Matrix, y: Uint8Array, sides: readonly FaultSide[]): InputBounds {
  const lower = new Float32Array(x.cols);
  const upper = new Float32Array(x.cols);
  for (let j = 0; j < x.cols; j++) {
    const all: number[] = [];
    const healthy: number[] = [];
    for (let i = 0; i < x.rows; i++) {
      const v = x.data[i * x.cols + j]!;
      if (Number.isNaN(v)) continue;
      all.push(v);
      if (y[i] === 0) healthy.push(v);
    }
    if (all.length === 0) {
      lower[j] = Number.NEGATIVE_INFINITY;
      upper[j] = Number.POSITIVE_INFINITY;
      continue;
    }
    all.sort((a, b) => a - b);
    healthy.sort((a, b) => a - b);
    let lo = all[Math.floor(0.005 * (all.length - 1))]!;
    let hi = all[Math.ceil(0.995 * (all.length - 1))]!;
    const mid = healthy.length > 0 ? healthy[healthy.length >> 1]! : undefined;
    if (mid !== undefined && sides[j] === 'high') lo = Math.min(hi, Math.max(lo, mid));
    if (mid !== undefined && sides[j] === 'low') hi = Math.max(lo, Math.min(hi, mid));
    lower[j] = Math.fround(lo);
    upper[j] = Math.fround(hi);
  }
  return { lower, upper };
}

/** A copy with present values clipped to the bounds (NaN stays NaN: imputation comes first in the graph, and the fill lies inside). */
export function applyInputBounds(x: Matrix, b: InputBounds): Matrix {
  const data = new Float32Array(x.data);
  for (let i = 0; i < x.rows; i++)
    for (let j = 0; j < x.cols; j++) {
      const k = i * x.cols + j;
      const v = data[k]!;
      if (Number.isNaN(v)) continue;
      data[k] = v < b.lower[j]! ? b.lower[j]! : v > b.upper[j]! ? b.upper[j]! : v;
    }
  return { rows: x.rows, cols: x.cols, data };
}
