/**
 * Gradient-boosted decision trees for binary classification (logistic loss, second-order leaf
 * values, histogram split search over quantile bins), in the shape ONNX's ai.onnx.ml
 * TreeEnsembleRegressor evaluates: every split is `x ≤ threshold` (BRANCH_LEQ) with a float32
 * threshold, leaves carry float32 weights, the ensemble's sum plus a base value is a logit and a
 * Sigmoid turns it into the score.
 *
 * Deterministic from its seed (row subsampling per round is the only randomness). Absent inputs
 * (NaN) are imputed with the training mean before the trees, as in the MLP.
 */
import { createRng } from '../simulator/rng.ts';
import { sigmoid } from './mlp.ts';
import { applyInputBounds, fitStandardisation, impute, type InputBounds, type Matrix } from './training-data.ts';

/** A tree as flat arrays; node 0 is the root. A leaf has feature −1. */
export interface Tree {
  feature: Int32Array;
  threshold: Float32Array;
  left: Int32Array;
  right: Int32Array;
  /** Leaf weight (already multiplied by the learning rate); 0 for inner nodes. */
  value: Float32Array;
}

export interface GbtModel {
  family: 'gbt';
  fill: Float32Array;
  /** Float32, added to the tree sum (logit of the base rate). */
  base: number;
  trees: Tree[];
  /** Inputs are clipped to these after imputation (training-data.ts `InputBounds`). */
  bounds?: InputBounds;
}

export interface GbtOptions {
  rounds: number;
  maxDepth: number;
  learningRate: number;
  /** L2 regularisation of leaf values. */
  lambda: number;
  minChildWeight: number;
  minSamplesLeaf: number;
  maxBins: number;
  /** Share of rows each round sees. */
  subsample: number;
  seed: number;
  /** Columns imputed at 0 (see fitStandardisation). */
  zeroCentred?: readonly number[];
  /** Values imputed for absent features; the training mean when not given. */
  fill?: Float32Array;
  /**
   * Per feature: +1 the score may only rise with it, −1 only fall, 0 free. Enforced exactly for
   * stumps (maxDepth 1, an additive model): a split whose leaves would go the wrong way is not taken.
   */
  monotone?: Int8Array;
  onRound?: (round: number, loss: number) => void;
}

export const DEFAULT_GBT_OPTIONS: Omit<GbtOptions, 'seed'> = {
  rounds: 120,
  maxDepth: 4,
  learningRate: 0.15,
  lambda: 1,
  minChildWeight: 1,
  minSamplesLeaf: 20,
  maxBins: 32,
  subsample: 0.7,
};

/** Candidate thresholds per feature: float32 quantile values of the (imputed) training data. */
function binEdges(x: Matrix, maxBins: number): Float32Array[] {
  const edges: Float32Array[] = [];
  const col = new Float32Array(x.rows);
  for (let j = 0; j < x.cols; j++) {
    for (let i = 0; i < x.rows; i++) col[i] = x.data[i * x.cols + j]!;
    const sorted = col.slice().sort();
    const e: number[] = [];
    for (let b = 1; b < maxBins; b++) {
      const v = sorted[Math.min(sorted.length - 1, Math.floor((b * sorted.length) / maxBins))]!;
      if (e.length === 0 || v > e[e.length - 1]!) e.push(v);
    }
    // The largest value needs no edge: `x ≤ max` sends everything left.
    while (e.length > 0 && e[e.length - 1]! >= sorted[sorted.length - 1]!) e.pop();
    edges.push(Float32Array.from(e));
  }
  return edges;
}

/** Bin b holds values with edges[b−1] < x ≤ edges[b]; the last bin everything above. */
function binOf(edges: Float32Array, v: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (v <= edges[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export function trainGbt(x: Matrix, y: Uint8Array, o: GbtOptions): GbtModel {
  const rng = createRng(o.seed).fork('gbt');
  const fill = o.fill ?? fitStandardisation(x, o.zeroCentred ?? []).mean;
  const xf = impute(x, fill);
  const n = x.rows;
  const F = x.cols;
  const edges = binEdges(xf, o.maxBins);
  // Column-major bins: the histogram loop walks one feature's column at a time.
  const bins = new Uint8Array(n * F);
  for (let j = 0; j < F; j++) for (let i = 0; i < n; i++) bins[j * n + i] = binOf(edges[j]!, xf.data[i * F + j]!);
  let positives = 0;
  for (let i = 0; i < n; i++) positives += y[i]!;
  const rate = Math.min(1 - 1e-6, Math.max(1e-6, positives / Math.max(1, n)));
  const base = Math.fround(Math.log(rate / (1 - rate)));
  const margin = new Float64Array(n).fill(base);
  const g = new Float64Array(n);
  const h = new Float64Array(n);
  const trees: Tree[] = [];
  const histG = new Float64Array(o.maxBins + 1);
  const histH = new Float64Array(o.maxBins + 1);
  const histN = new Int32Array(o.maxBins + 1);

  for (let round = 1; round <= o.rounds; round++) {
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const p = sigmoid(margin[i]!);
      g[i] = p - y[i]!;
      h[i] = Math.max(p * (1 - p), 1e-12);
      loss += -(y[i] ? Math.log(Math.max(p, 1e-12)) : Math.log(Math.max(1 - p, 1e-12)));
    }
    const sample: number[] = [];
    for (let i = 0; i < n; i++) if (rng.next() < o.subsample) sample.push(i);
    const nodes: { feature: number; threshold: number; left: number; right: number; value: number }[] = [];
    const grow = (rows: number[], depth: number): number => {
      const id = nodes.length;
      let G = 0;
      let H = 0;
      for (const r of rows) {
        G += g[r]!;
        H += h[r]!;
      }
      nodes.push({ feature: -1, threshold: 0, left: -1, right: -1, value: Math.fround((-G / (H + o.lambda)) * o.learningRate) });
      if (depth >= o.maxDepth || rows.length < 2 * o.minSamplesLeaf) return id;
      const parentScore = (G * G) / (H + o.lambda);
      let best = { gain: 1e-9, feature: -1, bin: -1 };
      for (let j = 0; j < F; j++) {
        const nb = edges[j]!.length + 1;
        if (nb < 2) continue;
        histG.fill(0, 0, nb);
        histH.fill(0, 0, nb);
        histN.fill(0, 0, nb);
        const col = j * n;
        for (const r of rows) {
          const b = bins[col + r]!;
          histG[b]! += g[r]!;
          histH[b]! += h[r]!;
          histN[b]! += 1;
        }
        let gl = 0;
        let hl = 0;
        let nl = 0;
        for (let b = 0; b < nb - 1; b++) {
          gl += histG[b]!;
          hl += histH[b]!;
          nl += histN[b]!;
          const nr = rows.length - nl;
          if (nl < o.minSamplesLeaf) continue;
          if (nr < o.minSamplesLeaf) break;
          const hr = H - hl;
          if (hl < o.minChildWeight * 1e-3 || hr < o.minChildWeight * 1e-3) continue;
          const gr = G - gl;
          const direction = o.monotone?.[j] ?? 0;
          // Leaf values are −g/(h+λ): left ≤ right for a rising feature, ≥ for a falling one.
          if (direction !== 0 && direction * (-gr / (hr + o.lambda) - -gl / (hl + o.lambda)) < 0) continue;
          const gain = (gl * gl) / (hl + o.lambda) + (gr * gr) / (hr + o.lambda) - parentScore;
          if (gain > best.gain) best = { gain, feature: j, bin: b };
        }
      }
      if (best.feature < 0) return id;
      const col = best.feature * n;
      const leftRows = rows.filter((r) => bins[col + r]! <= best.bin);
      const rightRows = rows.filter((r) => bins[col + r]! > best.bin);
      const node = nodes[id]!;
      node.feature = best.feature;
      node.threshold = edges[best.feature]![best.bin]!;
      node.value = 0;
      node.left = grow(leftRows, depth + 1);
      node.right = grow(rightRows, depth + 1);
      return id;
    };
    grow(sample, 0);
    const tree: Tree = {
      feature: Int32Array.from(nodes.map((nd) => nd.feature)),
      threshold: Float32Array.from(nodes.map((nd) => nd.threshold)),
      left: Int32Array.from(nodes.map((nd) => nd.left)),
      right: Int32Array.from(nodes.map((nd) => nd.right)),
      value: Float32Array.from(nodes.map((nd) => nd.value)),
    };
    trees.push(tree);
    for (let i = 0; i < n; i++) margin[i]! += treeValue(tree, xf.data, i * F);
    o.onRound?.(round, loss / n);
  }
  return { family: 'gbt', fill, base, trees };
}

function treeValue(tree: Tree, data: Float32Array, offset: number): number {
  let node = 0;
  while (tree.feature[node]! >= 0) node = data[offset + tree.feature[node]!]! <= tree.threshold[node]! ? tree.left[node]! : tree.right[node]!;
  return tree.value[node]!;
}

/** The exported model's forward pass: probability per row. */
export function gbtPredict(model: GbtModel, x: Matrix): Float64Array {
  const xf = impute(model.bounds ? applyInputBounds(x, model.bounds) : x, model.fill);
  const out = new Float64Array(x.rows);
  for (let i = 0; i < x.rows; i++) {
    let s = model.base;
    for (const t of model.trees) s += treeValue(t, xf.data, i * x.cols);
    out[i] = sigmoid(s);
  }
  return out;
}
