import { describe, expect, it } from 'vitest';
import { DEFAULT_FAST_SIGNALS } from '../contracts/signals.ts';
import type { Sample } from '../contracts/telemetry.ts';
import { type FaultKind } from '../simulator/faults.ts';
import { Observer } from '../simulator/observation.ts';
import { PROFILES, type VehicleProfile } from '../simulator/profiles.ts';
import { createRng } from '../simulator/rng.ts';
import { SimulatedVehicle } from '../simulator/simulated-vehicle.ts';
import { baseSpec, drive, specWithSeverity } from '../simulator/test-support.ts';
import {
  BASELINE_FEATURES,
  buildGrid,
  computeFeatures,
  deviationName,
  FEATURE_DEFINITIONS,
  FEATURE_NAMES,
  FEATURE_SET_ID,
  featureArray,
  featureFaultSide,
  type FeatureVector,
  MAX_HOLD_S,
  WINDOW_FEATURE_NAMES,
} from './features.ts';
import { vehicleWindows } from './window-dataset.ts';

/** Features of every full window of simulated days, read at `hz` (slow PIDs at `slowHz`), the fault held at `severity`. */
function simulatedFeatures(profile: VehicleProfile, fault: FaultKind | undefined, severity: number, hz = 1, slowHz = hz, days = 1): FeatureVector[] {
  const { samples } = drive(specWithSeverity(baseSpec(profile), fault, severity), days, 21, hz);
  const observer = new Observer({ fastHz: hz, slowHz, absent: [], quanta: {}, staleProbability: 0, jitterMs: 0 }, createRng(1));
  const windows = vehicleWindows(samples.map((s) => ({ t: s.t, wire: observer.observe(s.t, s.values), truth: s.truth })), 30_000);
  return [...windows].map((w) => computeFeatures(w.samples.map((s) => s.wire)));
}

/** Median of a feature over the windows that have it. */
function medianOf(windows: readonly FeatureVector[], name: string): number {
  const xs = windows.map((w) => w[name]).filter((v): v is number => v !== undefined).sort((a, b) => a - b);
  expect(xs.length, name).toBeGreaterThan(0);
  return xs[xs.length >> 1]!;
}

describe('feature contract (version 2)', () => {
  it('lists window features, then one deviation per baseline feature, without duplicates', () => {
    expect(new Set(FEATURE_NAMES).size).toBe(FEATURE_NAMES.length);
    expect(FEATURE_NAMES).toEqual([...WINDOW_FEATURE_NAMES, ...BASELINE_FEATURES.map((d) => deviationName(d.name))]);
    expect(FEATURE_SET_ID).toMatch(/^v2-[0-9a-f]{8}$/);
    // No counts: nothing may depend on how many samples a window has.
    expect(FEATURE_NAMES.some((n) => /count|sample/.test(n))).toBe(false);
    for (const d of FEATURE_DEFINITIONS) {
      expect(d.unit.length, d.name).toBeGreaterThan(0);
      expect(['high', 'low', 'both'], d.name).toContain(d.faultSide);
      if (d.baseline) expect(featureFaultSide(deviationName(d.name))).toBe(d.faultSide);
    }
  });

  it('reads signals onto a 1 s grid, holding a reading for at most MAX_HOLD_S', () => {
    const g = buildGrid([
      { t: 10_000, RPM: 800, COOLANT_TEMP: 90 },
      { t: 10_500, RPM: 810 },
      { t: 11_000, RPM: 820 },
      { t: 20_000, RPM: 830 },
    ]);
    expect(g.n).toBe(11);
    const rpm = g.column('RPM')!;
    expect(rpm[0]).toBe(800);
    expect(rpm[1]).toBe(820); // the latest reading at or before each grid point
    expect(rpm[1 + MAX_HOLD_S]).toBe(820);
    expect(rpm[2 + MAX_HOLD_S]).toBeNaN(); // held no longer than MAX_HOLD_S
    expect(rpm[10]).toBe(830);
    expect(g.column('SPEED')).toBeUndefined();
  });

  it('aligns signals by time, so PIDs polled in different requests still combine', () => {
    // Fuel trims and RPM/speed never share a sample, as the agent's two-rate scheduler sends them.
    const samples: Sample[] = [];
    for (let i = 0; i < 30; i++) {
      samples.push({ t: i * 1000, RPM: 800, SPEED: 0 });
      if (i % 2 === 0) samples.push({ t: i * 1000 + 300, SHORT_FUEL_TRIM_1: 2, LONG_FUEL_TRIM_1: 4, COOLANT_TEMP: 90 });
    }
    expect(computeFeatures(samples).fuel_trim_idle).toBeCloseTo(6, 9);
  });

  it('measures idle only when the car stands: a launch or the last seconds of braking do not count', () => {
    const standing = (rpm: (i: number) => number, speed: (i: number) => number): Sample[] => Array.from({ length: 30 }, (_, i) => ({ t: i * 1000, RPM: rpm(i), SPEED: speed(i), COOLANT_TEMP: 90, SHORT_FUEL_TRIM_1: 0, LONG_FUEL_TRIM_1: 0 }));
    // Standing for 12 s, then a launch: only the settled seconds count as idle (≥ 8 s needed).
    expect(computeFeatures(standing(() => 800, (i) => (i < 12 ? 0 : 20))).fuel_trim_idle).toBeDefined();
    expect(computeFeatures(standing(() => 800, (i) => (i < 8 ? 0 : 20))).fuel_trim_idle).toBeUndefined();
  });

  it('omits features whose signals or regime are absent, and never yields NaN or Infinity', () => {
    const f = computeFeatures([{ t: 5, RPM: 800 }, { t: 6, SPEED: 0, RPM: 0 }]);
    for (const v of Object.values(f)) expect(Number.isFinite(v)).toBe(true);
    for (const name of WINDOW_FEATURE_NAMES) expect(f[name], name).toBeUndefined();
    expect(featureArray(f).length).toBe(FEATURE_NAMES.length);
    expect(computeFeatures([])).toEqual({});
    // A MAP engine has no MAF: no MAF feature, never a zero.
    const etios = simulatedFeatures(PROFILES['etios-1.5-map'], undefined, 0);
    expect(etios.some((w) => 'maf_per_rpm_load' in w)).toBe(false);
    expect(etios.some((w) => 'manifold_pressure_idle' in w)).toBe(true);
  });

  it('depends on the set of samples only: order and redelivered duplicates do not matter', () => {
    const samples: Sample[] = Array.from({ length: 50 }, (_, i) => ({ t: 1_700_000_000_000 + i * 997, RPM: 800 + ((i * 37) % 900), SPEED: i < 25 ? 0 : 60, ENGINE_LOAD: (i * 13) % 100, COOLANT_TEMP: 85 + i * 0.1, CONTROL_MODULE_VOLTAGE: 14 + (i % 3) * 0.01 }));
    const shuffled = [...samples].reverse();
    shuffled.splice(10, 0, samples[3]!, samples[40]!);
    expect(computeFeatures(shuffled)).toEqual(computeFeatures(samples));
  });

  it('means the same at every poll rate: 0.5 Hz, 1 Hz, 10 Hz and the agent\'s 5 Hz / 0.5 Hz split agree', () => {
    const car = PROFILES['compact-2.0-maf'];
    const variants = {
      '1 Hz': simulatedFeatures(car, undefined, 0, 1, 1, 2),
      '0.5 Hz': simulatedFeatures(car, undefined, 0, 0.5, 0.5, 2),
      '10 Hz': simulatedFeatures(car, undefined, 0, 10, 10, 2),
      '5 Hz fast, 0.5 Hz slow': simulatedFeatures(car, undefined, 0, 5, 0.5, 2),
    };
    expect(DEFAULT_FAST_SIGNALS).toContain('RPM');
    // Tolerances: the drives differ (the physics is the same, the random draws are not), so compare medians.
    const tolerance: Record<string, number> = {
      coolant_temp_moving: 1,
      coolant_temp_roughness: 0.1,
      fuel_trim_cruise: 1,
      maf_per_rpm_load: 0.3,
      rpm_idle_roughness: 3,
      voltage_charging: 0.03,
      voltage_ripple: 0.003,
    };
    for (const [name, tol] of Object.entries(tolerance)) {
      const reference = medianOf(variants['1 Hz'], name);
      for (const [label, windows] of Object.entries(variants)) expect(Math.abs(medianOf(windows, name) - reference), `${name} at ${label}`).toBeLessThanOrEqual(tol);
    }
  });

  it('moves the fault-specific features of a simulated car in the direction of the fault', () => {
    const car = PROFILES['city-1.2-maf'];
    const healthy = simulatedFeatures(car, undefined, 0);
    expect(medianOf(simulatedFeatures(car, 'failing_alternator', 0.7), 'voltage_ripple')).toBeGreaterThan(3 * medianOf(healthy, 'voltage_ripple'));
    expect(medianOf(simulatedFeatures(car, 'failing_alternator', 0.7), 'voltage_charging')).toBeLessThan(medianOf(healthy, 'voltage_charging') - 0.3);
    expect(medianOf(simulatedFeatures(car, 'thermostat_stuck_closed', 0.7), 'coolant_temp_moving')).toBeGreaterThan(medianOf(healthy, 'coolant_temp_moving') + 3);
    expect(medianOf(simulatedFeatures(car, 'thermostat_stuck_open', 0.8), 'coolant_temp_moving')).toBeLessThan(medianOf(healthy, 'coolant_temp_moving') - 5);
    expect(medianOf(simulatedFeatures(car, 'coolant_leak', 0.8), 'coolant_temp_roughness')).toBeGreaterThan(2 * medianOf(healthy, 'coolant_temp_roughness'));
    expect(medianOf(simulatedFeatures(car, 'vacuum_leak', 0.7), 'fuel_trim_idle')).toBeGreaterThan(medianOf(healthy, 'fuel_trim_idle') + 5);
    expect(medianOf(simulatedFeatures(car, 'misfire', 0.8), 'catalyst_temp_idle')).toBeGreaterThan(medianOf(healthy, 'catalyst_temp_idle') + 100);
  });
});
