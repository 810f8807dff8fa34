import { describe, expect, it } from 'vitest';
import type { DriverStyle } from '../simulator/driver-style.ts';
import { generateVehicleSamples } from '../simulator/fleet-generator.ts';
import { planFleet } from '../simulator/fleet-plan.ts';
import { SimulatedVehicle, type VehicleSpec } from '../simulator/simulated-vehicle.ts';
import { buildReference, detectDrift } from './drift.ts';
import { computeFeatures, FEATURE_NAMES, FEATURE_SET_ID, type FeatureVector } from './features.ts';
import { vehicleWindows } from './window-dataset.ts';

const DAY = 86_400_000;
const START = Date.UTC(2025, 0, 6);

function windowsOf(specs: readonly VehicleSpec[], fromDay: number, toDay: number): FeatureVector[] {
  const out: FeatureVector[] = [];
  for (const spec of specs) {
    const samples = (function* () {
      for (const s of generateVehicleSamples(spec, 11, START, START + toDay * DAY)) if (s.t >= START + fromDay * DAY) yield { t: s.t, wire: SimulatedVehicle.toWire(s), truth: s.truth };
    })();
    for (const w of vehicleWindows(samples, 30_000)) out.push(computeFeatures(w.samples.map((s) => s.wire)));
  }
  return out;
}

describe('drift (PSI per feature)', () => {
  // A healthy fleet of calm and normal drivers; the reference is its first two days.
  const fleet = planFleet({ vehicles: 8, idPrefix: 'drift-', seed: 11, faultyFraction: 0, startMs: START, schedule: 'daily' }).map((s, i) => ({ ...s, style: (i % 2 ? 'calm' : 'normal') as DriverStyle }));
  const reference = windowsOf(fleet, 0, 2);
  const F = FEATURE_NAMES.length;
  const data = new Float32Array(reference.length * F);
  reference.forEach((v, i) => FEATURE_NAMES.forEach((n, j) => (data[i * F + j] = v[n] ?? Number.NaN)));
  const ref = buildReference(FEATURE_NAMES, FEATURE_SET_ID, data, reference.length);

  it('sees no reason to retrain when the same fleet keeps driving the same way', () => {
    const recent = windowsOf(fleet, 2, 4);
    const r = detectDrift(ref, recent);
    expect(r.windows).toBeGreaterThan(500);
    expect(r.retrain).toBe(false);
  });

  it('advises retraining after the fleet moves to a hot climate', () => {
    // The features describe the engine, not the driver, so a new driving style barely moves them;
    // a hot climate changes how engines regulate (coolant at idle, charging voltage, catalyst).
    const hot = fleet.map((s) => ({ ...s, ambientC: 38 }));
    const r = detectDrift(ref, windowsOf(hot, 2, 4));
    expect(r.retrain).toBe(true);
    // A regulator lowers its set point when hot (temperature compensation).
    expect(r.features.slice(0, 3).map((f) => f.name)).toContain('voltage_charging');
  });
});
