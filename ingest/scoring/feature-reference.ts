/**
 * Where a window's features sit relative to the model's training windows, for alert evidence.
 *
 * `reference.json` beside the model (written by the trainer for drift detection) holds decile
 * edges per feature. A feature's deviation is a robust z-score: (value − median) / σ̂ with
 * σ̂ = (p90 − p10) / 2.563 (the p10–p90 width of a normal distribution), so one outlying
 * training window cannot hide a shift. Features with fewer than 9 edges or no spread (constant
 * in training, e.g. sample_count) have no deviation and are never evidence.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { FeatureVector } from '../../models/features.ts';

const referenceSchema = z.object({
  features: z.array(z.object({ name: z.string(), edges: z.array(z.number()) })),
});

export interface FeatureDeviation {
  name: string;
  value: number;
  deviation: number;
}

export class FeatureReference {
  private constructor(
    private readonly stats: ReadonlyMap<string, { median: number; sigma: number }>,
    private readonly middles: ReadonlyMap<string, number>,
  ) {}

  /** Reads a reference file; `undefined` when it is missing or not one (evidence then lists no features). */
  static read(path: string): FeatureReference | undefined {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, 'utf8'));
    } catch {
      return undefined;
    }
    const parsed = referenceSchema.safeParse(raw);
    if (!parsed.success) return undefined;
    const stats = new Map<string, { median: number; sigma: number }>();
    const middles = new Map<string, number>();
    for (const { name, edges } of parsed.data.features) {
      if (edges.length > 0) middles.set(name, edges[Math.floor(edges.length / 2)]!);
      if (edges.length < 9) continue;
      const sigma = (edges[edges.length - 1]! - edges[0]!) / 2.563;
      if (sigma > 0) stats.set(name, { median: edges[Math.floor((edges.length - 1) / 2)]!, sigma });
    }
    return new FeatureReference(stats, middles);
  }

  /**
   * The fleet's typical value of a feature: the middle decile edge over the training windows
   * (edges that coincide are stored once, so for a feature that is often constant this is
   * approximate). What an alert compares with while a vehicle has no baseline of its own.
   */
  typical(name: string): number | undefined {
    return this.middles.get(name);
  }

  /** The `k` features with the largest |deviation|, largest first (ties by name). */
  top(features: FeatureVector, k: number): FeatureDeviation[] {
    const out: FeatureDeviation[] = [];
    for (const [name, value] of Object.entries(features)) {
      const s = this.stats.get(name);
      if (!s || !Number.isFinite(value)) continue;
      out.push({ name, value, deviation: Math.round(((value - s.median) / s.sigma) * 100) / 100 });
    }
    out.sort((a, b) => Math.abs(b.deviation) - Math.abs(a.deviation) || a.name.localeCompare(b.name));
    return out.slice(0, k);
  }
}
