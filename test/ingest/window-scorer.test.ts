/** Micro-batching of the scorer with the real shipped model. */
import { describe, expect, it } from 'vitest';
import { computeFeatures, FEATURE_SET_ID } from '../../models/features.ts';
import { ModelProvider } from '../../ingest/scoring/model-provider.ts';
import { DEFAULT_MODEL_PATH } from '../../ingest/scoring/scoring-options.ts';
import { BatchingWindowScorer, type ScoredWindow } from '../../ingest/scoring/window-scorer.ts';
import { waitFor } from '../support/influx.ts';
import { layOut, simulatedWindows, WINDOW_MS } from './scoring-fixtures.ts';
import { observationCount } from '../support/metrics.ts';

describe('BatchingWindowScorer', () => {
  it('scores by size and by time, in order, with the same scores as the model on its own', async () => {
    const provider = await ModelProvider.load(DEFAULT_MODEL_PATH);
    try {
      const windows = simulatedWindows('vacuum_leak', 0.9, 10);
      const batches: ScoredWindow[][] = [];
      const scorer = new BatchingWindowScorer({ provider, batchSize: 4, maxDelayMs: 30, sink: (b) => void batches.push([...b]) });
      const features = windows.map((w) => computeFeatures(layOut([w], 0)));
      features.forEach((f, i) => scorer.onWindow({ vehicle: 'v', startMs: i * WINDOW_MS, endMs: (i + 1) * WINDOW_MS, features: f, featureSetId: FEATURE_SET_ID, samples: [] }));
      await scorer.flush();
      // Two full batches by size, the rest at the flush.
      expect(batches.map((b) => b.length)).toEqual([4, 4, 2]);
      expect(scorer.stats()).toMatchObject({ scored: 10, batches: 3, dropped: 0, queued: 0 });
      const flat = batches.flat();
      expect(flat.map((w) => w.startMs)).toEqual(features.map((_, i) => i * WINDOW_MS));
      const direct = await provider.current.model.score(features);
      expect(flat.map((w) => w.score)).toEqual([...direct]);
      expect(flat.every((w) => w.anomalous === w.score >= provider.current.threshold)).toBe(true);

      // By time alone: one window is scored after maxDelayMs without a flush.
      scorer.onWindow({ vehicle: 'v', startMs: 20 * WINDOW_MS, endMs: 21 * WINDOW_MS, features: features[0]!, featureSetId: FEATURE_SET_ID, samples: [] });
      for (let i = 0; i < 100 && batches.length < 4; i++) await new Promise((r) => setTimeout(r, 20));
      expect(batches.map((b) => b.length)).toEqual([4, 4, 2, 1]);
      expect(await observationCount(scorer.batchSizes)).toBe(4);

      // The queue bound: windows beyond maxQueue waiting are not scored, and counted.
      const bounded = new BatchingWindowScorer({ provider, batchSize: 100, maxDelayMs: 10_000, maxQueue: 2, sink: (b) => void batches.push([...b]) });
      for (let i = 0; i < 3; i++) bounded.onWindow({ vehicle: 'w', startMs: i * WINDOW_MS, endMs: (i + 1) * WINDOW_MS, features: features[i]!, featureSetId: FEATURE_SET_ID, samples: [] });
      await bounded.flush();
      expect(bounded.stats()).toMatchObject({ scored: 2, dropped: 1, queued: 0 });
    } finally {
      await provider.close();
    }
  });

  it('scores what `inputs` returns, and starts a batch only once the previous one is stored', async () => {
    const provider = await ModelProvider.load(DEFAULT_MODEL_PATH);
    try {
      const features = simulatedWindows('vacuum_leak', 0.9, 4).map((w) => computeFeatures(layOut([w], 0)));
      const seen: number[][] = [];
      const order: string[] = [];
      let release!: () => void;
      const firstStored = new Promise<void>((resolve) => (release = resolve));
      const scorer = new BatchingWindowScorer<string>({
        provider,
        batchSize: 2,
        maxDelayMs: 10_000,
        inputs: async (batch) => {
          seen.push(batch.map((w) => w.startMs));
          order.push(`inputs ${batch[0]!.startMs}`);
          return batch.map((w) => ({ features: {}, extra: `x${w.startMs}` }));
        },
        sink: (scored) => {
          order.push(`sink ${scored[0]!.startMs}`);
          expect(scored.map((w) => w.extra)).toEqual(scored.map((w) => `x${w.startMs}`));
          expect(scored.every((w) => Object.keys(w.features).length === 0)).toBe(true);
          return scored[0]!.startMs === 0 ? firstStored : undefined;
        },
      });
      features.forEach((f, i) => void scorer.onWindow({ vehicle: 'q', startMs: i * WINDOW_MS, endMs: (i + 1) * WINDOW_MS, features: f, featureSetId: FEATURE_SET_ID, samples: [] }));
      const flushed = scorer.flush();
      expect(await waitFor(() => order.length === 2, 10_000, 5)).toBe(true);
      await new Promise((r) => setTimeout(r, 30));
      expect(order).toEqual(['inputs 0', 'sink 0']); // the second batch waits for the first one's store
      release();
      await flushed;
      expect(order).toEqual(['inputs 0', 'sink 0', `inputs ${2 * WINDOW_MS}`, `sink ${2 * WINDOW_MS}`]);
      expect(seen).toEqual([[0, WINDOW_MS], [2 * WINDOW_MS, 3 * WINDOW_MS]]);
    } finally {
      await provider.close();
    }
  });

  it("settles each window's promise only once its batch's results are stored; a dropped window gets none", async () => {
    const provider = await ModelProvider.load(DEFAULT_MODEL_PATH);
    try {
      const features = simulatedWindows('vacuum_leak', 0.9, 3).map((w) => computeFeatures(layOut([w], 0)));
      let store!: () => void;
      const stored = new Promise<void>((resolve) => (store = resolve));
      let sinkCalls = 0;
      const scorer = new BatchingWindowScorer({ provider, batchSize: 10, maxDelayMs: 10_000, maxQueue: 2, sink: () => (sinkCalls++, stored) });
      const settled: number[] = [];
      const promises = features.map((f, i) => scorer.onWindow({ vehicle: 'p', startMs: i * WINDOW_MS, endMs: (i + 1) * WINDOW_MS, features: f, featureSetId: FEATURE_SET_ID, samples: [] }));
      expect(promises[2]).toBeUndefined(); // over maxQueue: dropped, nothing to wait for
      promises.forEach((p, i) => void p?.then(() => settled.push(i)));
      const flushed = scorer.flush();
      expect(await waitFor(() => sinkCalls === 1, 10_000, 5)).toBe(true);
      await new Promise((r) => setTimeout(r, 20));
      expect(settled).toEqual([]); // scored, but the sink has not stored them yet
      store();
      await Promise.all([promises[0], promises[1]]);
      await flushed; // flush waits for what the sink stores
      expect(settled.sort()).toEqual([0, 1]);
    } finally {
      await provider.close();
    }
  });
});
