/**
 * The training set of a retrain from the archive: the labelled simulated windows plus the archive's
 * windows, which have no ground truth.
 *
 * What an archive window may honestly say: "the fleet drove like this". It is added as a healthy
 * example (label 0) only when the model in service does not flag it (score below its threshold):
 * the new driving pattern then becomes normal for the classifier, while windows the current model
 * considers faulty stay unlabelled (−1: out of training and of every metric), because nothing tells
 * a real fault from a false alarm there.
 *
 * Splits: an archive vehicle keeps the training split the archive reader gave it (a hash of its id);
 * the others go to validation, never to test. So the threshold is chosen with the new driving
 * pattern's healthy windows among the healthy validation vehicles (the false-alert budget then holds
 * for it too), while the test metrics stay on labelled simulated vehicles only: a retrained model
 * is judged by the same yardstick as the one it replaces.
 *
 * Guarantees: the result is deterministic for the same inputs; the simulated rows come first, in
 * their order, with their splits; the archive vehicles' ids are kept (they cannot collide with the
 * simulator's `train-…` ids unless the archive holds simulated vehicles, which is harmless).
 */
import type { WindowDataset } from './window-dataset.ts';

export interface ArchiveLabelling {
  /** Archive windows added as healthy examples (current model below its threshold). */
  healthy: number;
  /** Archive windows left unlabelled (flagged by the current model). */
  unlabelled: number;
}

export function withArchiveWindows(labelled: WindowDataset, archive: WindowDataset, archiveScores: ArrayLike<number>, threshold: number): { dataset: WindowDataset; labelling: ArchiveLabelling } {
  if (labelled.featureSetId !== archive.featureSetId) throw new Error(`feature sets differ: labelled ${labelled.featureSetId}, archive ${archive.featureSetId}`);
  if (labelled.windowMs !== archive.windowMs) throw new Error(`window lengths differ: labelled ${labelled.windowMs} ms, archive ${archive.windowMs} ms`);
  const a = archive.t.length;
  if (archiveScores.length !== a) throw new Error(`${archiveScores.length} scores for ${a} archive windows`);
  const n = labelled.t.length;
  const label = new Int8Array(n + a);
  label.set(labelled.label);
  let healthy = 0;
  for (let i = 0; i < a; i++) {
    const ok = archiveScores[i]! < threshold;
    label[n + i] = ok ? 0 : -1;
    if (ok) healthy++;
  }
  const offset = labelled.vehicles.length;
  const vehicle = new Uint32Array(n + a);
  vehicle.set(labelled.vehicle);
  for (let i = 0; i < a; i++) vehicle[n + i] = archive.vehicle[i]! + offset;
  const concat = <T extends Float32Array | Float64Array>(x: T, y: T): T => {
    const out = new (x.constructor as new (n: number) => T)(x.length + y.length);
    out.set(x);
    out.set(y, x.length);
    return out;
  };
  const prefixed = (prefix: string, src: Record<string, string | number>) => Object.fromEntries(Object.entries(src).map(([k, v]) => [`${prefix}${k[0]!.toUpperCase()}${k.slice(1)}`, v]));
  const dataset: WindowDataset = {
    featureNames: labelled.featureNames,
    featureSetId: labelled.featureSetId,
    featureVersion: labelled.featureVersion,
    windowMs: labelled.windowMs,
    labelSeverity: labelled.labelSeverity,
    source: { ...labelled.source, ...prefixed('archive', archive.source), archiveWindows: a, archiveHealthyWindows: healthy },
    vehicles: [...labelled.vehicles, ...archive.vehicles.map((v) => ({ ...v, split: v.split === 'train' ? ('train' as const) : ('validation' as const) }))],
    x: concat(labelled.x, archive.x),
    vehicle,
    t: concat(labelled.t, archive.t),
    severity: concat(labelled.severity, new Float32Array(a)),
    ttfS: concat(labelled.ttfS, new Float64Array(a).fill(Number.NaN)),
    label,
    learned: Uint8Array.from([...labelled.learned, ...archive.learned]),
  };
  return { dataset, labelling: { healthy, unlabelled: a - healthy } };
}
