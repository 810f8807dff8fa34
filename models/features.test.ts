import { describe, expect, it } from 'vitest';
import { SIGNAL_NAMES } from '../contracts/signals.ts';
import type { Sample } from '../contracts/telemetry.ts';
import { computeFeatures, featureArray, FEATURE_NAMES, FEATURE_SET_ID, FEATURE_SIGNALS, PER_SIGNAL_STATS, signalFeatureName } from './features.ts';

describe('feature contract', () => {
  it('derives an ordered, duplicate-free name list from the signal catalogue', () => {
    expect(FEATURE_SIGNALS).toEqual(SIGNAL_NAMES);
    expect(new Set(FEATURE_NAMES).size).toBe(FEATURE_NAMES.length);
    expect(FEATURE_NAMES[0]).toBe('sample_count');
    for (const signal of SIGNAL_NAMES) for (const stat of PER_SIGNAL_STATS) expect(FEATURE_NAMES).toContain(signalFeatureName(signal, stat));
    expect(FEATURE_NAMES).toContain('fuel_trim_total_mean');
    expect(FEATURE_SET_ID).toMatch(/^v\d+-[0-9a-f]{8}$/);
  });

  it('computes per-signal statistics and the slope per second', () => {
    const samples: Sample[] = [
      { t: 1_000, RPM: 1000, COOLANT_TEMP: 80 },
      { t: 2_000, RPM: 2000, COOLANT_TEMP: 81 },
      { t: 3_000, RPM: 3000, COOLANT_TEMP: 82 },
    ];
    const f = computeFeatures(samples);
    expect(f.sample_count).toBe(3);
    expect(f.rpm_mean).toBe(2000);
    expect(f.rpm_min).toBe(1000);
    expect(f.rpm_max).toBe(3000);
    expect(f.rpm_std).toBeCloseTo(Math.sqrt(2_000_000 / 3), 9);
    expect(f.rpm_slope).toBeCloseTo(1000, 9);
    expect(f.coolant_temp_slope).toBeCloseTo(1, 9);
  });

  it('computes cross-signal features only where their inputs are present', () => {
    const f = computeFeatures([
      { t: 0, SHORT_FUEL_TRIM_1: 5, LONG_FUEL_TRIM_1: 10, MAF: 20, RPM: 2000, ENGINE_LOAD: 50, COOLANT_TEMP: 90 },
      { t: 1000, SHORT_FUEL_TRIM_1: -5, LONG_FUEL_TRIM_1: 10, MAF: 40, RPM: 2000, ENGINE_LOAD: 100, COOLANT_TEMP: 95 },
    ]);
    expect(f.fuel_trim_total_mean).toBe(10);
    expect(f.fuel_trim_total_max_abs).toBe(15);
    expect(f.maf_per_rpm_load_mean).toBeCloseTo(20, 9); // 20/(2·0.5) and 40/(2·1)
    expect(f.coolant_temp_vs_load_slope).toBeCloseTo(0.1, 9);
    const none = computeFeatures([{ t: 0, SPEED: 10 }]);
    expect(Object.keys(none).sort()).toEqual(['sample_count', 'speed_max', 'speed_mean', 'speed_min', 'speed_slope', 'speed_std']);
    expect(none.speed_slope).toBe(0);
  });

  it('omits absent signals and never yields NaN or Infinity', () => {
    const f = computeFeatures([{ t: 5, RPM: 800 }, { t: 6, SPEED: 0, RPM: 0 }]);
    for (const v of Object.values(f)) expect(Number.isFinite(v)).toBe(true);
    expect(f.coolant_temp_mean).toBeUndefined();
    expect(f.rpm_per_speed_mean).toBeUndefined(); // speed ≤ 5 km/h: no ratio
    expect(featureArray(f).length).toBe(FEATURE_NAMES.length);
    expect(computeFeatures([])).toEqual({ sample_count: 0 });
  });

  it('depends on the set of samples only: order and redelivered duplicates do not matter', () => {
    const samples: Sample[] = Array.from({ length: 50 }, (_, i) => ({ t: 1_700_000_000_000 + i * 997, RPM: 800 + ((i * 37) % 900) + 0.1 * i, ENGINE_LOAD: (i * 13) % 100, COOLANT_TEMP: 70 + i * 0.3 }));
    const shuffled = [...samples].reverse();
    shuffled.splice(10, 0, samples[3]!, samples[40]!);
    expect(computeFeatures(shuffled)).toEqual(computeFeatures(samples));
  });
});
