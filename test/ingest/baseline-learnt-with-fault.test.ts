/**
 * A baseline learnt while the fault was already there must not hide it: with the shipped model, a car
 * with a vacuum leak from its first window keeps being flagged after its baseline has learnt the
 * leak as "normal" — fleet-level evidence keeps its weight (the deviations are near 0, the recent
 * evidence is not). After the repair, `fleetpulse baseline reset` makes it learn again
 * (test/e2e/ingest-scoring.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { ModelProvider } from '../../ingest/scoring/model-provider.ts';
import { DEFAULT_MODEL_PATH } from '../../ingest/scoring/scoring-options.ts';
import { VehiclePaths } from '../../ingest/scoring/vehicle-paths.ts';
import { computeFeatures } from '../../models/features.ts';
import { simulatedWindows, WINDOW_MS } from './scoring-fixtures.ts';

describe('a baseline learnt with the fault present', () => {
  it('does not hide the fault: the learnt car is still flagged on fleet evidence', async () => {
    const provider = await ModelProvider.load(DEFAULT_MODEL_PATH);
    try {
      const { model, threshold } = provider.current;
      const paths = new VehiclePaths({ baseline: { learnHours: 0.25 } });
      const own = simulatedWindows('vacuum_leak', 0.9, 40, 16).map(computeFeatures);
      const { results } = await paths.inputs(own.map((features, i) => ({ vehicle: 'born-sick', startMs: i * WINDOW_MS, features })));
      const scores = await model.score(results.map((r) => r.features));
      const learnt = results.map((r, i) => ({ learnt: r.status === 'learned', flagged: scores[i]! >= threshold }));
      const afterLearning = learnt.filter((w) => w.learnt);
      expect(afterLearning.length).toBeGreaterThanOrEqual(5);
      // The deviations say "normal" (the fault is the normal it learnt) …
      const deviations = results.filter((r) => r.status === 'learned').flatMap((r) => Object.entries(r.features).filter(([k]) => k.endsWith('_dev')).map(([, v]) => Math.abs(v)));
      expect(deviations.length).toBeGreaterThan(5);
      deviations.sort((a, b) => a - b);
      expect(deviations[Math.floor(deviations.length / 2)]).toBeLessThan(2);
      // … and still most windows after learning are over the threshold: enough for the alert to stay raised.
      expect(afterLearning.filter((w) => w.flagged).length / afterLearning.length).toBeGreaterThan(0.7);
    } finally {
      await provider.close();
    }
  });
});
