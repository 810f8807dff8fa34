/**
 * A small multilayer perceptron (ReLU hidden layers, sigmoid output) trained with Adam on binary
 * cross-entropy. Deterministic from its seed: initialisation and batch order come from the seeded
 * generator, and arithmetic is plain JavaScript doubles in a fixed order.
 *
 * The exported form (`MlpModel`) carries the standardisation into the graph as two nodes ahead of
 * the first layer, z = (x − mean) · (1/std), after absent inputs (NaN) were imputed with the mean
 * (so they contribute 0). Folding it into the first layer's weights instead would be one node less
 * but loses float32 precision: raw features of magnitude 10³ (run time, catalyst temperature) times
 * folded weights cancel against a large bias.
 */
import { createRng } from '../simulator/rng.ts';
import { applyInputBounds, fitStandardisation, impute, type InputBounds, type Matrix } from './training-data.ts';

export interface DenseLayer {
  /** out × in, row-major, float32 as exported. */
  weights: Float32Array;
  bias: Float32Array;
  inputs: number;
  outputs: number;
}

/** What is exported: imputation/centre, scale, then layers; ReLU between layers, sigmoid at the end. */
export interface MlpModel {
  family: 'mlp';
  /** Imputed for NaN. */
  fill: Float32Array;
  /** Subtracted before scaling (the training mean). */
  centre: Float32Array;
  /** 1/std per feature (float32). */
  scale: Float32Array;
  layers: DenseLayer[];
  /** Inputs are clipped to these after imputation (training-data.ts `InputBounds`). */
  bounds?: InputBounds;
}

export interface MlpOptions {
  hidden: readonly number[];
  epochs: number;
  batchSize: number;
  learningRate: number;
  l2: number;
  seed: number;
  /** Columns imputed and centred at 0 (see fitStandardisation). */
  zeroCentred?: readonly number[];
  /** Values imputed for absent features; the training mean when not given. */
  fill?: Float32Array;
  onEpoch?: (epoch: number, loss: number) => void;
}

export const DEFAULT_MLP_OPTIONS: Omit<MlpOptions, 'seed'> = { hidden: [32, 16], epochs: 12, batchSize: 128, learningRate: 2e-3, l2: 1e-5 };

export function trainMlp(x: Matrix, y: Uint8Array, o: MlpOptions): MlpModel {
  const rng = createRng(o.seed).fork('mlp');
  const fill = o.fill ?? fitStandardisation(x, o.zeroCentred ?? []).mean;
  const filled = impute(x, fill);
  const norm = fitStandardisation(filled, o.zeroCentred ?? []);
  const n = x.rows;
  const F = x.cols;
  // Standardised inputs in doubles for training.
  const z = new Float64Array(n * F);
  const scale = norm.std.map((v) => 1 / v);
  for (let i = 0; i < n; i++) for (let j = 0; j < F; j++) z[i * F + j] = standardise(filled.data[i * F + j]!, norm.mean[j]!, scale[j]!);
  const sizes = [F, ...o.hidden, 1];
  const W: Float64Array[] = [];
  const B: Float64Array[] = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const fin = sizes[l]!;
    const fout = sizes[l + 1]!;
    const w = new Float64Array(fin * fout);
    const sd = Math.sqrt(2 / fin);
    for (let k = 0; k < w.length; k++) w[k] = rng.normal(0, sd);
    W.push(w);
    B.push(new Float64Array(fout));
  }
  const adam = [...W, ...B].map((p) => ({ m: new Float64Array(p.length), v: new Float64Array(p.length) }));
  const grads = [...W, ...B].map((p) => new Float64Array(p.length));
  const L = W.length;
  const acts = sizes.map((s) => new Float64Array(s));
  const deltas = sizes.map((s) => new Float64Array(s));
  const order = Array.from({ length: n }, (_, i) => i);
  let step = 0;
  const beta1 = 0.9;
  const beta2 = 0.999;
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    let lossSum = 0;
    for (let start = 0; start < n; start += o.batchSize) {
      const end = Math.min(n, start + o.batchSize);
      for (const g of grads) g.fill(0);
      for (let b = start; b < end; b++) {
        const row = order[b]!;
        acts[0]!.set(z.subarray(row * F, (row + 1) * F));
        for (let l = 0; l < L; l++) {
          const fin = sizes[l]!;
          const fout = sizes[l + 1]!;
          const a = acts[l]!;
          const out = acts[l + 1]!;
          const w = W[l]!;
          for (let o2 = 0; o2 < fout; o2++) {
            let s = B[l]![o2]!;
            for (let k = 0; k < fin; k++) s += w[o2 * fin + k]! * a[k]!;
            out[o2] = l + 1 < L ? (s > 0 ? s : 0) : s;
          }
        }
        const logit = acts[L]![0]!;
        const p = sigmoid(logit);
        const target = y[row]!;
        lossSum += -(target ? Math.log(Math.max(p, 1e-12)) : Math.log(Math.max(1 - p, 1e-12)));
        deltas[L]![0] = p - target;
        for (let l = L - 1; l >= 0; l--) {
          const fin = sizes[l]!;
          const fout = sizes[l + 1]!;
          const a = acts[l]!;
          const d = deltas[l + 1]!;
          const gw = grads[l]!;
          const gb = grads[L + l]!;
          const w = W[l]!;
          const dPrev = deltas[l]!;
          if (l > 0) dPrev.fill(0);
          for (let o2 = 0; o2 < fout; o2++) {
            const dv = d[o2]!;
            if (dv === 0) continue;
            gb[o2]! += dv;
            for (let k = 0; k < fin; k++) {
              gw[o2 * fin + k]! += dv * a[k]!;
              if (l > 0) dPrev[k]! += dv * w[o2 * fin + k]!;
            }
          }
          if (l > 0) for (let k = 0; k < fin; k++) if (a[k]! <= 0) dPrev[k] = 0;
        }
      }
      step++;
      const m = end - start;
      const lrT = (o.learningRate * Math.sqrt(1 - beta2 ** step)) / (1 - beta1 ** step);
      [...W, ...B].forEach((p, pi) => {
        const g = grads[pi]!;
        const st = adam[pi]!;
        const decay = pi < L ? o.l2 : 0;
        for (let k = 0; k < p.length; k++) {
          const gk = g[k]! / m + decay * p[k]!;
          st.m[k] = beta1 * st.m[k]! + (1 - beta1) * gk;
          st.v[k] = beta2 * st.v[k]! + (1 - beta2) * gk * gk;
          p[k]! -= (lrT * st.m[k]!) / (Math.sqrt(st.v[k]!) + 1e-8);
        }
      });
    }
    o.onEpoch?.(epoch, lossSum / n);
  }
  return {
    family: 'mlp',
    fill: new Float32Array(fill),
    centre: new Float32Array(norm.mean),
    scale,
    layers: W.map((w, l) => ({ weights: Float32Array.from(w), bias: Float32Array.from(B[l]!), inputs: sizes[l]!, outputs: sizes[l + 1]! })),
  };
}

/** As the graph computes it: Sub then Mul, each rounded to float32. */
function standardise(x: number, mean: number, scale: number): number {
  return Math.fround(Math.fround(x - mean) * scale);
}

/** The exported model's forward pass in doubles over float32 parameters: probability per row. */
export function mlpPredict(model: MlpModel, input: Matrix): Float64Array {
  const x = model.bounds ? applyInputBounds(input, model.bounds) : input;
  const out = new Float64Array(x.rows);
  const F = x.cols;
  let a = new Float64Array(F);
  for (let i = 0; i < x.rows; i++) {
    a = new Float64Array(F);
    for (let j = 0; j < F; j++) {
      const v = x.data[i * F + j]!;
      a[j] = standardise(Number.isNaN(v) ? model.fill[j]! : v, model.centre[j]!, model.scale[j]!);
    }
    model.layers.forEach((layer, l) => {
      const next = new Float64Array(layer.outputs);
      for (let o = 0; o < layer.outputs; o++) {
        let s = layer.bias[o]!;
        for (let k = 0; k < layer.inputs; k++) s += layer.weights[o * layer.inputs + k]! * a[k]!;
        // float32 activations, as onnxruntime keeps them between nodes.
        next[o] = Math.fround(l + 1 < model.layers.length ? Math.max(0, s) : s);
      }
      a = next;
    });
    out[i] = sigmoid(a[0]!);
  }
  return out;
}

export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}
