/**
 * Feature drift by the population stability index (PSI): the training windows' distribution of
 * each feature (decile bins, stored beside the model as `reference.json`) against recent windows.
 *
 * PSI = Σ (recent% − reference%) · ln(recent% / reference%) over the bins, with an "absent" bin
 * for windows without the feature. Conventional reading: < 0.1 stable, 0.1–0.25 moderate shift,
 * > 0.25 major shift. The advice is to retrain when three or more engine features shift majorly,
 * or a fifth or more of them shift at least moderately.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../common/errors.ts';
import { type FeatureVector, WINDOW_FEATURE_NAMES } from './features.ts';
import type { WindowDataset } from './window-dataset.ts';

export const PSI_MODERATE = 0.1;
export const PSI_MAJOR = 0.25;
const BINS = 10;
/** One feature alone (battery charge after a cold week) is not a new driving pattern. */
const MIN_MAJOR = 3;
/** Floor for empty bins so the logarithm stays finite (a common PSI convention). */
const EPS = 1e-4;

const referenceSchema = z.object({
  schema: z.literal('fleetpulse.drift-reference/1'),
  featureSetId: z.string(),
  windows: z.number().int(),
  features: z.array(z.object({ name: z.string(), edges: z.array(z.number()), shares: z.array(z.number()) })),
});
export type DriftReference = z.infer<typeof referenceSchema>;

/** Bin index: bin 0 is "absent", then value bins split by `edges` (x ≤ edge goes left). */
function binOf(edges: readonly number[], v: number | undefined): number {
  if (v === undefined || Number.isNaN(v)) return 0;
  let b = 0;
  // Relative tolerance: float32 storage and sensor quantisation must not move a value across an edge.
  while (b < edges.length && v > edges[b]! + 1e-6 * Math.max(1, Math.abs(edges[b]!))) b++;
  return b + 1;
}

/** Reference distributions from rows of a row-major matrix (NaN = absent). */
export function buildReference(names: readonly string[], featureSetId: string, data: Float32Array, rows: number): DriftReference {
  const F = names.length;
  const features = names.flatMap((name, j) => (CONTEXT_FEATURE.test(name) ? [] : [{ name, j }])).map(({ name, j }) => {
    const present: number[] = [];
    for (let i = 0; i < rows; i++) {
      const v = data[i * F + j]!;
      if (!Number.isNaN(v)) present.push(v);
    }
    present.sort((a, b) => a - b);
    const edges: number[] = [];
    for (let k = 1; k < BINS; k++) {
      const v = present[Math.floor((k * present.length) / BINS)];
      if (v !== undefined && (edges.length === 0 || v > edges[edges.length - 1]!)) edges.push(v);
    }
    const counts = new Array<number>(edges.length + 2).fill(0);
    for (let i = 0; i < rows; i++) counts[binOf(edges, data[i * F + j]!)]!++;
    return { name, edges, shares: counts.map((c) => c / Math.max(1, rows)) };
  });
  return { schema: 'fleetpulse.drift-reference/1', featureSetId, windows: rows, features };
}

export function writeReference(path: string, r: DriftReference): void {
  writeFileSync(path, `${JSON.stringify(r)}\n`);
}

export function readReference(path: string): DriftReference {
  try {
    return referenceSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  } catch (error) {
    throw new ConfigError('drift reference', [{ field: 'model', message: `cannot use ${path}: ${(error as Error).message}` }]);
  }
}

/**
 * Features that follow the weather, the fuel tank and trip length rather than how the engine
 * behaves: reported, but not counted towards the retrain advice (they would raise it every week).
 */
/**
 * Deviations from each vehicle's own baseline are relative to that vehicle, absent while it learns
 * and mean nothing as a fleet distribution: they are left out of the reference and of the verdict.
 */
export const CONTEXT_FEATURE = /_dev$/;

export interface FeatureDrift {
  name: string;
  psi: number;
  level: 'stable' | 'moderate' | 'major';
}

export interface DriftResult {
  windows: number;
  features: FeatureDrift[];
  retrain: boolean;
  reason: string;
}

export function psi(reference: readonly number[], recent: readonly number[]): number {
  let s = 0;
  for (let b = 0; b < reference.length; b++) {
    const p = Math.max(reference[b]!, EPS);
    const q = Math.max(recent[b] ?? 0, EPS);
    s += (q - p) * Math.log(q / p);
  }
  return s;
}

/** Compares recent windows' features with the reference and advises whether to retrain. */
export function detectDrift(ref: DriftReference, recent: readonly FeatureVector[]): DriftResult {
  const features: FeatureDrift[] = ref.features.map((f) => {
    const counts = new Array<number>(f.shares.length).fill(0);
    for (const v of recent) counts[binOf(f.edges, v[f.name])]!++;
    const value = psi(f.shares, counts.map((c) => c / Math.max(1, recent.length)));
    return { name: f.name, psi: value, level: value > PSI_MAJOR ? 'major' : value > PSI_MODERATE ? 'moderate' : 'stable' };
  });
  features.sort((a, b) => b.psi - a.psi);
  const counted = features.filter((f) => !CONTEXT_FEATURE.test(f.name));
  const major = counted.filter((f) => f.level === 'major');
  const shifted = counted.filter((f) => f.level !== 'stable');
  if (recent.length === 0) return { windows: 0, features, retrain: false, reason: 'no recent windows to compare' };
  const retrain = major.length >= MIN_MAJOR || shifted.length >= counted.length / 5;
  const reason = retrain
    ? `${major.length} feature(s) with PSI > ${PSI_MAJOR} (${major.slice(0, 5).map((f) => f.name).join(', ') || 'none'}), ${shifted.length} of ${counted.length} engine features with PSI > ${PSI_MODERATE}`
    : `${major.length} engine feature(s) with PSI > ${PSI_MAJOR}; ${shifted.length} of ${counted.length} with PSI > ${PSI_MODERATE}`;
  return { windows: recent.length, features, retrain, reason };
}

/**
 * The drift reference of a dataset's rows: their own window features (what ingest stores in
 * `features`), or the model inputs for a dataset made before those were kept.
 */
export function datasetReference(d: WindowDataset, rows: readonly number[]): DriftReference {
  const names = d.own ? WINDOW_FEATURE_NAMES : d.featureNames;
  const src = d.own ?? d.x;
  const F = names.length;
  const data = new Float32Array(rows.length * F);
  rows.forEach((r, i) => data.set(src.subarray(r * F, (r + 1) * F), i * F));
  return buildReference(names, d.featureSetId, data, rows.length);
}
