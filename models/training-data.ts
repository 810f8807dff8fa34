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
