/**
 * ONNX graphs for the two model families. Both take `features` float32 [N, F] (NaN = absent
 * feature, in the metadata's feature order) and give `score` float32 [N, 1], the probability that
 * the window shows a fault. The first nodes impute NaN with the training mean (IsNaN + Where) and
 * clip each feature to its bounds (Max + Min), so callers need no preprocessing of their own.
 *
 * - MLP: standardisation (Sub, Mul), then Gemm (+ ReLU) per layer, Sigmoid.
 * - GBT: ai.onnx.ml TreeEnsembleRegressor (BRANCH_LEQ, SUM, base value) giving a logit, Sigmoid.
 *
 * Opsets: ai.onnx 17, ai.onnx.ml 3; IR version 8.
 */
import type { GbtModel } from '../gbt.ts';
import type { MlpModel } from '../mlp.ts';
import type { InputBounds } from '../training-data.ts';
import { AttributeType, DataType, ModelProto } from './onnx-schema.ts';

export const INPUT_NAME = 'features';
export const OUTPUT_NAME = 'score';

type Attr = Record<string, unknown>;
type Node = { input: string[]; output: string[]; name: string; opType: string; domain?: string; attribute?: Attr[] };

const attr = {
  int: (name: string, i: number): Attr => ({ name, type: AttributeType.INT, i }),
  float: (name: string, f: number): Attr => ({ name, type: AttributeType.FLOAT, f }),
  string: (name: string, s: string): Attr => ({ name, type: AttributeType.STRING, s: Buffer.from(s) }),
  ints: (name: string, ints: ArrayLike<number>): Attr => ({ name, type: AttributeType.INTS, ints: Array.from(ints) }),
  floats: (name: string, floats: ArrayLike<number>): Attr => ({ name, type: AttributeType.FLOATS, floats: Array.from(floats) }),
  strings: (name: string, strings: readonly string[]): Attr => ({ name, type: AttributeType.STRINGS, strings: strings.map((s) => Buffer.from(s)) }),
};

function floatTensor(name: string, dims: number[], values: Float32Array): Attr {
  const raw = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  // raw_data is little-endian by the spec; so is every platform Node runs on here.
  return { name, dims, dataType: DataType.FLOAT, rawData: Buffer.from(raw) };
}

function valueInfo(name: string, dims: Array<number | string>): Attr {
  return {
    name,
    type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

/**
 * IsNaN + Where: NaN → fill value; then, when the model has input bounds, Max + Min clip every
 * feature to them (the fill values lie inside). Returns the name of the resulting tensor.
 */
function imputeNodes(fill: Float32Array, bounds: InputBounds | undefined, nodes: Node[], init: Attr[]): string {
  init.push(floatTensor('fill_values', [1, fill.length], fill));
  nodes.push({ input: [INPUT_NAME], output: ['is_absent'], name: 'is_absent', opType: 'IsNaN' });
  nodes.push({ input: ['is_absent', 'fill_values', INPUT_NAME], output: ['imputed'], name: 'impute', opType: 'Where' });
  if (!bounds) return 'imputed';
  init.push(floatTensor('lower_bounds', [1, fill.length], bounds.lower));
  init.push(floatTensor('upper_bounds', [1, fill.length], bounds.upper));
  nodes.push({ input: ['imputed', 'lower_bounds'], output: ['above_lower'], name: 'clip_lower', opType: 'Max' });
  nodes.push({ input: ['above_lower', 'upper_bounds'], output: ['bounded'], name: 'clip_upper', opType: 'Min' });
  return 'bounded';
}

function mlpGraph(model: MlpModel): { nodes: Node[]; init: Attr[] } {
  const nodes: Node[] = [];
  const init: Attr[] = [];
  const imputed = imputeNodes(model.fill, model.bounds, nodes, init);
  init.push(floatTensor('centre', [1, model.centre.length], model.centre));
  init.push(floatTensor('scale', [1, model.scale.length], model.scale));
  nodes.push({ input: [imputed, 'centre'], output: ['centred'], name: 'centre', opType: 'Sub' });
  nodes.push({ input: ['centred', 'scale'], output: ['standardised'], name: 'standardise', opType: 'Mul' });
  let current = 'standardised';
  model.layers.forEach((layer, l) => {
    init.push(floatTensor(`w${l}`, [layer.outputs, layer.inputs], layer.weights));
    init.push(floatTensor(`b${l}`, [layer.outputs], layer.bias));
    const out = `dense${l}`;
    nodes.push({ input: [current, `w${l}`, `b${l}`], output: [out], name: out, opType: 'Gemm', attribute: [attr.int('transB', 1)] });
    current = out;
    if (l + 1 < model.layers.length) {
      nodes.push({ input: [current], output: [`relu${l}`], name: `relu${l}`, opType: 'Relu' });
      current = `relu${l}`;
    }
  });
  nodes.push({ input: [current], output: [OUTPUT_NAME], name: 'sigmoid', opType: 'Sigmoid' });
  return { nodes, init };
}

function gbtGraph(model: GbtModel): { nodes: Node[]; init: Attr[] } {
  const nodes: Node[] = [];
  const init: Attr[] = [];
  const imputed = imputeNodes(model.fill, model.bounds, nodes, init);
  const treeIds: number[] = [];
  const nodeIds: number[] = [];
  const featureIds: number[] = [];
  const values: number[] = [];
  const modes: string[] = [];
  const trueIds: number[] = [];
  const falseIds: number[] = [];
  const tTree: number[] = [];
  const tNode: number[] = [];
  const tWeight: number[] = [];
  model.trees.forEach((tree, ti) => {
    for (let k = 0; k < tree.feature.length; k++) {
      const leaf = tree.feature[k]! < 0;
      treeIds.push(ti);
      nodeIds.push(k);
      featureIds.push(leaf ? 0 : tree.feature[k]!);
      values.push(leaf ? 0 : tree.threshold[k]!);
      modes.push(leaf ? 'LEAF' : 'BRANCH_LEQ');
      trueIds.push(leaf ? 0 : tree.left[k]!);
      falseIds.push(leaf ? 0 : tree.right[k]!);
      if (leaf) {
        tTree.push(ti);
        tNode.push(k);
        tWeight.push(tree.value[k]!);
      }
    }
  });
  nodes.push({
    input: [imputed],
    output: ['logit'],
    name: 'trees',
    opType: 'TreeEnsembleRegressor',
    domain: 'ai.onnx.ml',
    attribute: [
      attr.int('n_targets', 1),
      attr.string('aggregate_function', 'SUM'),
      attr.string('post_transform', 'NONE'),
      attr.floats('base_values', [model.base]),
      attr.ints('nodes_treeids', treeIds),
      attr.ints('nodes_nodeids', nodeIds),
      attr.ints('nodes_featureids', featureIds),
      attr.floats('nodes_values', values),
      attr.strings('nodes_modes', modes),
      attr.ints('nodes_truenodeids', trueIds),
      attr.ints('nodes_falsenodeids', falseIds),
      attr.ints('target_treeids', tTree),
      attr.ints('target_nodeids', tNode),
      attr.ints('target_ids', tTree.map(() => 0)),
      attr.floats('target_weights', tWeight),
    ],
  });
  nodes.push({ input: ['logit'], output: [OUTPUT_NAME], name: 'sigmoid', opType: 'Sigmoid' });
  return { nodes, init };
}

export interface ExportOptions {
  featureCount: number;
  modelVersion: number;
  /** Stored as ONNX metadata_props too (the JSON file beside the model is the contract). */
  metadata?: Record<string, string>;
}

/** Serialises a trained model as an ONNX ModelProto. */
export function exportOnnx(model: MlpModel | GbtModel, o: ExportOptions): Uint8Array {
  const { nodes, init } = model.family === 'mlp' ? mlpGraph(model) : gbtGraph(model);
  const message = {
    irVersion: 8,
    producerName: 'fleetpulse',
    producerVersion: '1',
    domain: 'fleetpulse.models',
    modelVersion: o.modelVersion,
    docString: `fleetpulse engine anomaly model (${model.family})`,
    opsetImport: [
      { domain: '', version: 17 },
      { domain: 'ai.onnx.ml', version: 3 },
    ],
    metadataProps: Object.entries(o.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: `fleetpulse_${model.family}`,
      node: nodes,
      initializer: init,
      input: [valueInfo(INPUT_NAME, ['N', o.featureCount])],
      output: [valueInfo(OUTPUT_NAME, ['N', 1])],
    },
  };
  const problem = ModelProto.verify(message);
  // A programmer error: the graph built above does not fit the declared schema.
  if (problem) throw new Error(`ONNX model does not verify: ${problem}`);
  return ModelProto.encode(ModelProto.fromObject(message)).finish();
}
