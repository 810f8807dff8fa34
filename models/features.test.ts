import { describe, expect, it } from 'vitest';
import { SIGNAL_NAMES } from '../contracts/signals.ts';
import type { Sample } from '../contracts/telemetry.ts';
import { type FaultKind } from '../simulator/faults.ts';
import { PROFILES, type VehicleProfile } from '../simulator/profiles.ts';
import { SimulatedVehicle } from '../simulator/simulated-vehicle.ts';
import { baseSpec, drive, specWithSeverity } from '../simulator/test-support.ts';
import { computeFeatures, featureArray, FEATURE_NAMES, FEATURE_SET_ID, FEATURE_SIGNALS, type FeatureVector, PER_SIGNAL_STATS, signalFeatureName } from './features.ts';
import { vehicleWindows } from './window-dataset.ts';

/** Features of every full window of one simulated day, the fault (if any) held at `severity`. */
function simulatedFeatures(profile: VehicleProfile, fault: FaultKind | undefined, severity: number): FeatureVector[] {
  const { samples } = drive(specWithSeverity(baseSpec(profile), fault, severity), 1, 21);
  const windows = vehicleWindows(samples.map((s) => ({ t: s.t, wire: SimulatedVehicle.toWire(s), truth: s.truth })), 30_000);
  return [...windows].filter((w) => w.samples.length >= 20).map((w) => computeFeatures(w.samples.map((s) => s.wire)));
}

/** Median of a feature over the windows that have it. */
function medianOf(windows: readonly FeatureVector[], name: string): number {
  const xs = windows.map((w) => w[name]).filter((v): v is number => v !== undefined).sort((a, b) => a - b);
  expect(xs.length, name).toBeGreaterThan(0);
  return xs[xs.length >> 1]!;
}

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

  it('computes the physically motivated cross-signal features from their definitions', () => {
    // A MAF engine at 25 °C intake air: manifold pressure is estimated as load · 1.013 kPa.
    const maf = computeFeatures([
      { t: 0, RPM: 1000, SPEED: 60, CONTROL_MODULE_VOLTAGE: 14.0, COOLANT_TEMP: 90, ENGINE_LOAD: 50, THROTTLE_POS: 30, INTAKE_TEMP: 25, BAROMETRIC_PRESSURE: 100, SHORT_FUEL_TRIM_1: 2, LONG_FUEL_TRIM_1: 0 },
      { t: 1000, RPM: 2000, SPEED: 60, CONTROL_MODULE_VOLTAGE: 14.1, COOLANT_TEMP: 92, ENGINE_LOAD: 90, THROTTLE_POS: 60, INTAKE_TEMP: 25, BAROMETRIC_PRESSURE: 100, SHORT_FUEL_TRIM_1: 0, LONG_FUEL_TRIM_1: 0 },
      { t: 2000, RPM: 3000, SPEED: 40, CONTROL_MODULE_VOLTAGE: 14.4, COOLANT_TEMP: 94, ENGINE_LOAD: 70, THROTTLE_POS: 80, INTAKE_TEMP: 25, BAROMETRIC_PRESSURE: 100, SHORT_FUEL_TRIM_1: 1, LONG_FUEL_TRIM_1: 0 },
      // 10 s later: a gap, so its voltage and coolant steps are not compared.
      { t: 12_000, RPM: 3000, SPEED: 40, CONTROL_MODULE_VOLTAGE: 10.0, COOLANT_TEMP: 70, ENGINE_LOAD: 70, THROTTLE_POS: 20, INTAKE_TEMP: 25, BAROMETRIC_PRESSURE: 100, SHORT_FUEL_TRIM_1: 1, LONG_FUEL_TRIM_1: 0 },
    ]);
    expect(maf.control_module_voltage_ripple).toBeCloseTo(0.2, 9); // median of |0.1|, |0.3|
    expect(maf.coolant_temp_ripple).toBeCloseTo(2, 9);
    expect(maf.coolant_temp_warm_slope).toBeCloseTo(2, 9); // 90, 92, 94 °C over 2 s; 70 °C is not warm
    expect(maf.coolant_temp_moving_mean).toBeCloseTo(91, 9); // only the two samples at ≥ 50 km/h
    expect(maf.manifold_pressure_deficit_high_throttle).toBeCloseTo(100 - (90 * 1.013 + 70 * 1.013) / 2, 9);
    expect(maf.manifold_pressure_ratio_max).toBeCloseTo(0.9117, 9);
    expect(maf.control_module_voltage_vs_rpm_slope).toBeDefined();
    expect(maf.coolant_warmup_rate_per_load).toBeUndefined(); // one cold sample: no slope
    // A MAP engine: the measured manifold pressure is used as it is.
    const map = computeFeatures([
      { t: 0, RPM: 2500, ENGINE_LOAD: 80, THROTTLE_POS: 70, INTAKE_TEMP: 40, BAROMETRIC_PRESSURE: 100, INTAKE_PRESSURE: 85, COOLANT_TEMP: 40 },
      { t: 1000, RPM: 2500, ENGINE_LOAD: 80, THROTTLE_POS: 70, INTAKE_TEMP: 40, BAROMETRIC_PRESSURE: 100, INTAKE_PRESSURE: 87, COOLANT_TEMP: 40.4 },
    ]);
    expect(map.manifold_pressure_deficit_high_throttle).toBeCloseTo(14, 9);
    expect(map.manifold_pressure_ratio_max).toBeCloseTo(0.87, 9);
    expect(map.coolant_warmup_rate_per_load).toBeCloseTo(0.4 / (0.8 * 2.5), 9);
  });

  it('moves the fault-specific features of a simulated car in the direction of the fault', () => {
    const car = PROFILES['city-1.2-maf'];
    const healthy = simulatedFeatures(car, undefined, 0);
    // A failing alternator: the regulator ripples.
    expect(medianOf(simulatedFeatures(car, 'failing_alternator', 0.7), 'control_module_voltage_ripple')).toBeGreaterThan(3 * medianOf(healthy, 'control_module_voltage_ripple'));
    // A thermostat stuck closed: hot at speed, where a working one holds its set point.
    expect(medianOf(simulatedFeatures(car, 'thermostat_stuck_closed', 0.7), 'coolant_temp_moving_mean')).toBeGreaterThan(medianOf(healthy, 'coolant_temp_moving_mean') + 3);
    // A coolant leak: steam pockets make the coolant reading jump.
    expect(medianOf(simulatedFeatures(car, 'coolant_leak', 0.8), 'coolant_temp_ripple')).toBeGreaterThan(2 * medianOf(healthy, 'coolant_temp_ripple'));
    // A thermostat stuck open: the engine warms up more slowly for the fuel it burns.
    expect(medianOf(simulatedFeatures(car, 'thermostat_stuck_open', 0.8), 'coolant_warmup_rate_per_load')).toBeLessThan(medianOf(healthy, 'coolant_warmup_rate_per_load'));
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
