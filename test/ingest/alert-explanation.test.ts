/**
 * Alert explanations with the shipped model: occlusion contributions of an additive model add up
 * to the window's logit against the all-absent window (exactness), the signal that moved comes
 * first, and the words and units are against the car's own normal when it has one, else the fleet's.
 */
import { describe, expect, it } from 'vitest';
import { describeSignal, explainWindows } from '../../ingest/alerts/alert-explanation.ts';
import { ModelProvider } from '../../ingest/scoring/model-provider.ts';
import { DEFAULT_MODEL_PATH } from '../../ingest/scoring/scoring-options.ts';
import { computeFeatures } from '../../models/features.ts';
import { VehicleFeaturePath } from '../../models/vehicle-feature-path.ts';
import { simulatedWindows } from './scoring-fixtures.ts';

const logit = (p: number) => Math.log(p / (1 - p));

/** A path whose baseline learnt coolant at speed 90 ± 2 °C and idle fuel trim 1 ± 1 %. */
function learnedPath(): VehicleFeaturePath {
  return new VehicleFeaturePath({}, {
    memory: { drivenS: 0, lastStartMs: 0, entries: {} },
    baseline: {
      warmS: 4 * 3600, lastStartMs: 0, learnedAtMs: 0,
      normals: { coolant_temp_moving: { n: 21, mean: 90, m2: 20 * 4, frozen: true }, fuel_trim_idle: { n: 21, mean: 1, m2: 20, frozen: true } },
    },
  });
}

describe('alert explanations', () => {
  it('splits the logit exactly over the signals of an additive model, the moved one first', async () => {
    const provider = await ModelProvider.load(DEFAULT_MODEL_PATH);
    try {
      const loaded = provider.current;
      expect(loaded.model.metadata.family).toBe('gam');
      const sick = simulatedWindows('vacuum_leak', 0.9, 40, 16).map(computeFeatures);
      const path = new VehicleFeaturePath();
      const inputs = sick.map((f, i) => path.fromFeatures(i * 30_000, f).features).at(-1)!;
      const { running_s: _r, warm_running_s: _w, ...features } = inputs;
      const [explained] = await explainWindows(loaded, [{ features }], 10);
      const [full, none] = await loaded.model.score([features, {}]);
      const total = Object.values(explained!.contributions).reduce((s, c) => s + c, 0);
      expect(total).toBeGreaterThan(3);
      // Exact up to float32 scores: the model is a sum of per-feature terms. A score near 1 is
      // stored to 2^-24, so each logit taken from it is good to 2^-24 / (p (1 - p)); the sum has
      // one such error per occluded signal plus the full and the empty window.
      const terms = Object.keys(explained!.contributions).length + 2;
      const float32Error = (terms * 2 ** -24) / (full! * (1 - full!));
      expect(Math.abs(total - (logit(full!) - logit(none!)))).toBeLessThan(1e-3 + float32Error);
      expect(float32Error).toBeLessThan(0.1);
      expect(explained!.signals[0]!.feature).toBe('fuel_trim_idle');
      expect(explained!.text.split('; ')[0]).toMatch(/^fuel trim [\d.]+ % above the fleet's typical value at warm idle$/);
    } finally {
      await provider.close();
    }
  });

  it("says how far a signal is from this car's normal, in its unit", () => {
    const path = learnedPath();
    expect(describeSignal('coolant_temp_moving', 1.2, { features: { coolant_temp_moving: 101.2 }, path }, undefined)).toMatchObject({
      reference: 'own', normal: 90, unit: '°C', phrase: "coolant 11 °C above this car's normal at speed once warm",
    });
    expect(describeSignal('fuel_trim_idle', 1, { features: { fuel_trim_idle: -2.54 }, path }, undefined).phrase).toBe("fuel trim 3.5 % below this car's normal at warm idle");
    expect(describeSignal('fuel_trim_idle', 1, { features: { fuel_trim_idle: 1.01 }, path }, undefined).phrase).toBe("fuel trim at this car's normal at warm idle");
    // No normal of its own for this feature and no fleet reference: still names it.
    expect(describeSignal('voltage_charging', 1, { features: { voltage_charging: 13.1 }, path }, undefined).phrase).toBe('charging voltage unusual above idle');
  });
});
