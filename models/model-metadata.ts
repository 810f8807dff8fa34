/**
 * The metadata file beside every exported model (`<name>.onnx` → `<name>.json`): the contract
 * between the trainer and whoever scores with the model (ingest).
 *
 * What a scorer must honour:
 * - feed `input.name` a float32 tensor [N, featureNames.length], columns in `featureNames` order,
 *   NaN for a feature absent from the window (the graph imputes it);
 * - refuse the model when `featureSetId` differs from models/features.ts' FEATURE_SET_ID (the
 *   features would not mean what the model learnt);
 * - read `output.name` float32 [N, 1], the probability of a fault, and call a window anomalous when
 *   score ≥ `threshold`;
 * - windows of `windowMs` (tumbling) are what the model was trained on.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../common/errors.ts';

const classMetrics = z.object({
  precision: z.number(),
  recall: z.number(),
  f1: z.number(),
  rocAuc: z.number().nullable(),
  windows: z.number().int(),
  positives: z.number().int(),
});

export const modelMetadataSchema = z.object({
  schema: z.literal('fleetpulse.model-metadata/1'),
  modelVersion: z.number().int().positive(),
  family: z.enum(['mlp', 'gbt', 'gam']),
  createdAt: z.string(),
  featureNames: z.array(z.string()).min(1),
  featureVersion: z.number().int(),
  featureSetId: z.string(),
  windowMs: z.number().int().positive(),
  threshold: z.number().min(0).max(1),
  input: z.object({ name: z.string(), dtype: z.literal('float32'), absentValue: z.literal('NaN') }),
  output: z.object({ name: z.string(), dtype: z.literal('float32'), meaning: z.string() }),
  labelSeverity: z.number(),
  trainingData: z.object({ hash: z.string(), source: z.record(z.string(), z.union([z.string(), z.number()])), windows: z.number().int(), vehicles: z.number().int() }),
  /** Held-out test vehicles at `threshold`. */
  metrics: z.object({ test: classMetrics, validation: classMetrics, perFault: z.record(z.string(), classMetrics) }),
  /** How `threshold` was chosen and what else was tried. */
  selection: z.object({ rule: z.string(), candidates: z.array(z.object({ family: z.string(), validationRocAuc: z.number().nullable() })) }),
  training: z.object({ seed: z.number().int(), durationS: z.number(), options: z.record(z.string(), z.unknown()) }),
  /**
   * The healthy fleet's median of every model input (what the graph imputes for an absent one; 0
   * for a deviation), for explanations against the fleet: "coolant 14 °C above the fleet's normal".
   */
  featureReference: z.record(z.string(), z.number()).optional(),
  /** Each input's bounds in the graph (training range, healthy side clipped at the median). */
  featureBounds: z.record(z.string(), z.tuple([z.number().nullable(), z.number().nullable()])).optional(),
});

export type ModelMetadata = z.infer<typeof modelMetadataSchema>;
export type ClassMetrics = z.infer<typeof classMetrics>;

/** `models/default/model.onnx` → `models/default/model.json`. */
export function metadataPathFor(modelPath: string): string {
  return modelPath.replace(/\.onnx$/, '') + '.json';
}

/** Reads and validates a metadata file; a missing or invalid file is a configuration error. */
export function readModelMetadata(path: string): ModelMetadata {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError('model metadata', [{ field: 'model', message: `cannot read ${path}: ${(error as Error).message}` }]);
  }
  const parsed = modelMetadataSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError('model metadata', parsed.error.issues.map((i) => ({ field: `model (${path}): ${i.path.join('.')}`, message: i.message })));
  }
  return parsed.data;
}
