/**
 * A trained model loaded for scoring with onnxruntime-node (CPU): the ONNX file plus its metadata.
 * Ingest's scorer can use it as it is; it checks the feature contract at load time.
 *
 * Guarantees: `load` fails (ConfigError) when the metadata is missing or invalid, or when its
 * feature set differs from `expectedFeatureSetId`; `score` returns one probability per row,
 * in row order, and never mutates its input.
 */
import * as ort from 'onnxruntime-node';
import { ConfigError } from '../common/errors.ts';
import { featureArray, type FeatureVector } from './features.ts';
import { metadataPathFor, readModelMetadata, type ModelMetadata } from './model-metadata.ts';

export class OnnxModel {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly metadata: ModelMetadata,
    readonly path: string,
  ) {}

  static async load(modelPath: string, expectedFeatureSetId?: string): Promise<OnnxModel> {
    const metadata = readModelMetadata(metadataPathFor(modelPath));
    if (expectedFeatureSetId !== undefined && metadata.featureSetId !== expectedFeatureSetId) {
      throw new ConfigError('model', [{ field: 'model', message: `${modelPath} was trained on feature set ${metadata.featureSetId}, this build computes ${expectedFeatureSetId}: retrain (fleetpulse train)` }]);
    }
    // One intra-op thread: scoring shares the machine with ingest's other work.
    const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    return new OnnxModel(session, metadata, modelPath);
  }

  get featureCount(): number {
    return this.metadata.featureNames.length;
  }

  /** Scores a row-major float32 matrix [rows, featureCount] (NaN = absent). */
  async scoreMatrix(data: Float32Array, rows: number): Promise<Float32Array> {
    if (rows === 0) return new Float32Array(0);
    const input = new ort.Tensor('float32', data, [rows, this.featureCount]);
    const out = await this.session.run({ [this.metadata.input.name]: input });
    const score = out[this.metadata.output.name];
    if (!score) throw new Error(`model output ${this.metadata.output.name} missing`);
    return Float32Array.from(score.data as Float32Array);
  }

  /** Scores feature vectors from `computeFeatures`, in the model's feature order. */
  async score(vectors: readonly FeatureVector[]): Promise<Float32Array> {
    const F = this.featureCount;
    const data = new Float32Array(vectors.length * F);
    vectors.forEach((v, i) => featureArray(v, this.metadata.featureNames).forEach((x, j) => (data[i * F + j] = x ?? Number.NaN)));
    return this.scoreMatrix(data, vectors.length);
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
