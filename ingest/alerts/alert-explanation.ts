/**
 * Why a window raised an alert, in words an operator can act on: "coolant 11 °C above this car's
 * normal at speed once warm".
 *
 * Which signals: the model is additive in logit space (family `gam`: boosted stumps, one feature
 * each, absent features imputed with the healthy median — 0 for a deviation), so occlusion is
 * exact: the window is scored again with each present input set to NaN, and the drop in logit is
 * that input's contribution. A feature and its deviation (`<feature>_dev`) count together, as one
 * signal. For a model that is not additive (an MLP) the same drop is an approximation; the text
 * says nothing different, the evidence keeps the numbers.
 *
 * Named: the `top` (3) signals that push the score up most, leaving out those that push less than a
 * tenth of the strongest one.
 *
 * Against what: the car's own normal (its learned baseline's mean for the feature) when the
 * baseline has one; otherwise the fleet's typical value (the healthy training windows' median, the
 * model metadata's `featureReference`; for an older model the middle decile of reference.json),
 * and the text says which.
 *
 * Cost: one inference of (1 + inputs present) rows per explained window; only windows that change
 * an alert's state are explained.
 */
import { featureDefinition, type FeatureVector } from '../../models/features.ts';
import type { VehicleFeaturePath } from '../../models/vehicle-feature-path.ts';
import type { LoadedModel } from '../scoring/model-provider.ts';

export interface SignalEvidence {
  /** The window feature (a deviation counts under its feature). */
  feature: string;
  /** Logit the feature and its deviation add to the window's score (occlusion). */
  contribution: number;
  /** The window's value (the vehicle's recent evidence), in `unit`. */
  value?: number;
  unit: string;
  /** What `value` is compared with: the car's own normal or the fleet's typical value. */
  reference: 'own' | 'fleet';
  normal?: number;
  /** value − normal, in `unit`. */
  delta?: number;
  phrase: string;
}

export interface Explanation {
  text: string;
  /** The `top` signals that pushed the score up most, largest first. */
  signals: SignalEvidence[];
  /** Every present signal's contribution (logit), negative ones too: they add up to the window's logit against the all-absent window. */
  contributions: Record<string, number>;
}

export interface ExplainWindow {
  features: FeatureVector;
  /** The vehicle's path: its baseline's normals (undefined: compare with the fleet only). */
  path?: VehicleFeaturePath;
}

const LOGIT_CLIP = 1e-7;
/** Signals named besides the strongest one must push the logit at least this share of its push. */
const MIN_SHARE_OF_TOP = 0.1;

function logit(p: number): number {
  const q = Math.min(1 - LOGIT_CLIP, Math.max(LOGIT_CLIP, p));
  return Math.log(q / (1 - q));
}

/** Explains each window (see the module comment); `top` signals at most each. */
export async function explainWindows(loaded: LoadedModel, windows: readonly ExplainWindow[], top = 3): Promise<Explanation[]> {
  const rows: FeatureVector[] = [];
  const plan = windows.map((w) => {
    const present = loaded.model.metadata.featureNames.filter((n) => w.features[n] !== undefined && Number.isFinite(w.features[n]));
    const first = rows.length;
    rows.push(w.features);
    for (const name of present) {
      const occluded = { ...w.features };
      delete occluded[name];
      rows.push(occluded);
    }
    return { first, present };
  });
  const scores = rows.length > 0 ? await loaded.model.score(rows) : new Float32Array(0);
  return windows.map((w, k) => {
    const { first, present } = plan[k]!;
    const base = logit(scores[first]!);
    const bySignal = new Map<string, number>();
    present.forEach((name, i) => {
      const feature = name.endsWith('_dev') ? name.slice(0, -4) : name;
      bySignal.set(feature, (bySignal.get(feature) ?? 0) + base - logit(scores[first + 1 + i]!));
    });
    const sorted = [...bySignal].filter(([, c]) => c > 1e-6).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    // A signal that adds less than a tenth of the strongest one's push is not what an operator should look at.
    const ranked = sorted.filter(([, c], i) => i === 0 || c >= MIN_SHARE_OF_TOP * sorted[0]![1]).slice(0, top);
    const signals = ranked.map(([feature, contribution]) => describeSignal(feature, contribution, w, loaded));
    return { text: signals.map((s) => s.phrase).join('; '), signals, contributions: Object.fromEntries(bySignal) };
  });
}

/** A signal against the car's normal (when learned) or the fleet's typical value, in words and units. */
export function describeSignal(feature: string, contribution: number, w: ExplainWindow, loaded: LoadedModel | undefined): SignalEvidence {
  const d = featureDefinition(feature);
  const unit = d?.unit ?? '';
  const what = d?.baseline?.what ?? feature.replace(/_/g, ' ');
  const when = d?.baseline?.when ? ` ${d.baseline.when}` : '';
  const value = w.features[feature];
  const own = w.path?.baseline.normal(feature);
  const normal = own?.mean ?? loaded?.model.metadata.featureReference?.[feature] ?? loaded?.reference?.typical(feature);
  const reference: 'own' | 'fleet' = own ? 'own' : 'fleet';
  const rounded = Math.round(contribution * 1000) / 1000;
  if (value === undefined || normal === undefined) {
    return { feature, contribution: rounded, ...(value !== undefined ? { value } : {}), unit, reference, phrase: `${what} unusual${when}` };
  }
  const delta = value - normal;
  const against = reference === 'own' ? "this car's normal" : "the fleet's typical value";
  // Within a tenth of the smallest change that matters for the feature (its baseline floor) is "at".
  const direction = Math.abs(delta) < (d?.baseline?.floor ?? 0) / 10 ? 'at' : delta > 0 ? 'above' : 'below';
  const amount = direction === 'at' ? '' : `${formatAmount(Math.abs(delta), unit)} `;
  return { feature, contribution: rounded, value, unit, reference, normal, delta, phrase: `${what} ${amount}${direction} ${against}${when}` };
}

/** What the signals of a raised alert look like in the window that clears it. */
export function describeNow(features: readonly string[], w: ExplainWindow, loaded: LoadedModel | undefined): string {
  return features.map((f) => describeSignal(f, 0, w, loaded).phrase).join('; ');
}

function decimals(unit: string, x: number): number {
  const a = Math.abs(x);
  if (unit === 'V') return a >= 1 ? 1 : a >= 0.1 ? 2 : 3;
  return a >= 10 ? 0 : a >= 1 ? 1 : a >= 0.1 ? 2 : 3;
}

function formatAmount(x: number, unit: string): string {
  const text = x.toFixed(decimals(unit, x)).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
  return unit ? `${text} ${unit}` : text;
}
