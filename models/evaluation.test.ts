import { beforeAll, describe, expect, it } from 'vitest';
import { healthyFalseAlertsPerDay, thresholdForFalseAlertRate } from './evaluation.ts';
import { buildFleetDataset, splitRows, type WindowDataset } from './window-dataset.ts';

describe('threshold for a false-alert budget on healthy vehicles', () => {
  let d: WindowDataset;
  let rows: number[];
  let scores: Float64Array;
  beforeAll(() => {
    d = buildFleetDataset({ vehicles: 8, days: 2, faultyFraction: 0.5, seed: 5, startMs: Date.UTC(2025, 0, 6), onsetDays: [0.5, 1], failureAfterDays: [1, 1.5] });
    rows = splitRows(d, 'train', false);
    // Low scores with a 4-window burst every 20 windows, each burst at its own height: every burst
    // that reaches the threshold is one alert, so the alert count falls as the threshold rises.
    scores = Float64Array.from(rows, (_, i) => (i % 20 < 4 ? 0.3 + (((Math.floor(i / 20) * 37) % 100) / 100) * 0.69 : 0));
    expect(rows.some((r) => d.vehicles[d.vehicle[r]!]!.fault === null)).toBe(true);
  });

  it('counts alerts raised on healthy vehicles only, fewer at a higher threshold', () => {
    const low = healthyFalseAlertsPerDay(d, rows, scores, 0.5)!;
    const high = healthyFalseAlertsPerDay(d, rows, scores, 0.99)!;
    expect(low).toBeGreaterThan(high);
    expect(healthyFalseAlertsPerDay(d, rows, new Float64Array(rows.length), 0.5)).toBe(0);
    const faultyOnly = rows.filter((r) => d.vehicles[d.vehicle[r]!]!.fault !== null);
    expect(healthyFalseAlertsPerDay(d, faultyOnly, scores, 0.5)).toBeNull();
  });

  it('chooses the lowest threshold within the budget', () => {
    const target = healthyFalseAlertsPerDay(d, rows, scores, 0.9)!;
    const t = thresholdForFalseAlertRate(d, rows, scores, target);
    expect(t).toBeLessThanOrEqual(0.9);
    expect(healthyFalseAlertsPerDay(d, rows, scores, t)!).toBeLessThanOrEqual(target);
    expect(t).toBeGreaterThan(0.3);
    expect(healthyFalseAlertsPerDay(d, rows, scores, Math.round(t * 1000 - 1) / 1000)!).toBeGreaterThan(target);
    // Flagging every window raises one long alert per vehicle, within a loose budget, yet is not chosen.
    const flat = Float64Array.from(rows, (_, i) => (i % 20 < 4 ? scores[i]! : 0.2));
    expect(healthyFalseAlertsPerDay(d, rows, flat, 0.1)!).toBeLessThanOrEqual(target);
    expect(thresholdForFalseAlertRate(d, rows, flat, target)).toBeGreaterThan(0.3);
    // A budget no threshold meets gives the highest one; one any meets gives the lowest.
    expect(thresholdForFalseAlertRate(d, rows, Float64Array.from(rows, () => 1), 0)).toBe(0.999);
    expect(thresholdForFalseAlertRate(d, rows, scores, 1e9)).toBe(0.001);
  });
});
