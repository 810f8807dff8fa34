/**
 * Scores closed windows with the current model, micro-batched across vehicles.
 *
 * Guarantees:
 * - Each batch first goes through `inputs` (the vehicles' feature paths, which persist their
 *   state), in queue order, then the model scores what `inputs` returned. Without `inputs`, the
 *   model scores the window's own features.
 * - A batch is scored when `batchSize` windows are queued or `maxDelayMs` after the oldest queued
 *   window arrived, whichever comes first; one batch at a time, in arrival order, so a vehicle's
 *   windows reach `sink` in closing order.
 * - The queue holds at most `maxQueue` windows; beyond, new windows are not scored (counted as
 *   `dropped`, logged) — scoring must not hold up acknowledgements.
 * - A batch that fails to score (an onnxruntime error) is counted and skipped.
 * - The next batch starts only once `sink`'s promise for the previous one settled (its points are
 *   spooled), so stored results follow the order the paths saw the windows in.
 * - `flush()` resolves once every window queued before it is scored and handed to `sink`.
 * - `onWindow` returns a promise for each queued window that settles once the window is done with:
 *   its batch handed to `sink` and what `sink` returned (the spool append) settled, or its batch
 *   failed. Ingest keeps the window's feature record in its spool until then, so a window closed
 *   but not yet scored when the process dies is scored after the restart. A dropped window returns
 *   nothing: it will not be scored, so nothing is kept for it.
 */
import { errorMessage } from '../../common/errors.ts';
import { type Logger, silentLogger } from '../../common/logger.ts';
import type { FeatureVector } from '../../models/features.ts';
import { createHistogram } from '../../common/metrics.ts';
import type { FeatureWindow, WindowListener } from '../streams/window-listener.ts';
import type { LoadedModel, ModelProvider } from './model-provider.ts';

export interface ScoredWindow<X = unknown> {
  vehicle: string;
  startMs: number;
  endMs: number;
  /** What the model scored. */
  features: FeatureVector;
  score: number;
  anomalous: boolean;
  model: LoadedModel;
  /** What `inputs` returned beside the features (e.g. the baseline status). */
  extra: X | undefined;
}

export interface QueuedWindow {
  vehicle: string;
  startMs: number;
  endMs: number;
  /** The window's own features. */
  features: FeatureVector;
}

/** Model inputs of one window (and anything to carry to the sink). */
export interface ModelInputs<X = unknown> {
  features: FeatureVector;
  extra?: X;
}

export interface WindowScorerOptions<X = unknown> {
  provider: ModelProvider;
  /** Turns a batch into model inputs, one per window, in order (default: the window's own features). */
  inputs?: (batch: readonly QueuedWindow[]) => Promise<Array<ModelInputs<X>>>;
  /** Receives each scored batch in order; may return a promise of its results being stored (awaited before the next batch). */
  sink: (scored: readonly ScoredWindow<X>[], model: LoadedModel) => Promise<void> | void;
  batchSize?: number;
  maxDelayMs?: number;
  maxQueue?: number;
  logger?: Logger;
}

export interface WindowScorerStats {
  queued: number;
  scored: number;
  batches: number;
  dropped: number;
  failedBatches: number;
}

interface Pending extends QueuedWindow {
  done: () => void;
}

export class BatchingWindowScorer<X = unknown> implements WindowListener {
  readonly batchSizes = createHistogram('fleetpulse_ingest_inference_batch_size', 'Windows per inference batch', [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096]);
  readonly batchSeconds = createHistogram('fleetpulse_ingest_inference_batch_seconds', 'Duration of one inference batch (onnxruntime)', [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]);
  private readonly queue: Pending[] = [];
  private readonly batchSize: number;
  private readonly maxDelayMs: number;
  private readonly maxQueue: number;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private counters = { scored: 0, batches: 0, dropped: 0, failedBatches: 0 };

  constructor(private readonly options: WindowScorerOptions<X>) {
    this.batchSize = options.batchSize ?? 256;
    this.maxDelayMs = options.maxDelayMs ?? 200;
    this.maxQueue = options.maxQueue ?? 100_000;
    this.log = options.logger ?? silentLogger;
  }

  onWindow(window: FeatureWindow): Promise<void> | undefined {
    if (this.queue.length >= this.maxQueue) {
      this.counters.dropped += 1;
      if (this.counters.dropped % 1000 === 1) this.log.warn('scoring queue full: window not scored', { vehicle: window.vehicle, dropped: this.counters.dropped });
      return undefined;
    }
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    this.queue.push({ vehicle: window.vehicle, startMs: window.startMs, endMs: window.endMs, features: window.features, done });
    if (this.queue.length >= this.batchSize) this.kick();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.kick();
      }, this.maxDelayMs);
      this.timer.unref();
    }
    return finished;
  }

  async flush(): Promise<void> {
    for (let i = 0; i < 1_000_000 && (this.queue.length > 0 || this.running); i++) {
      this.kick();
      await this.running;
    }
  }

  stats(): WindowScorerStats {
    return { queued: this.queue.length, ...this.counters };
  }

  /** Starts the batch loop unless it runs; it drains the queue in batches of at most batchSize. */
  private kick(): void {
    if (this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.running = (async () => {
      while (this.queue.length > 0) await this.scoreBatch(this.queue.splice(0, this.batchSize));
    })().finally(() => {
      this.running = undefined;
    });
  }

  private async scoreBatch(batch: Pending[]): Promise<void> {
    const started = performance.now();
    const finish = (): void => {
      for (const w of batch) w.done();
    };
    let results: Array<ScoredWindow<X>>;
    let model: LoadedModel;
    try {
      const inputs: Array<ModelInputs<X>> = this.options.inputs ? await this.options.inputs(batch) : batch.map((w) => ({ features: w.features }));
      [results, model] = await this.options.provider.use(async (loaded) => {
        const scores = await loaded.model.score(inputs.map((i) => i.features));
        const scored = batch.map((w, i): ScoredWindow<X> => {
          const score = scores[i]!;
          return { vehicle: w.vehicle, startMs: w.startMs, endMs: w.endMs, features: inputs[i]!.features, score, anomalous: score >= loaded.threshold, model: loaded, extra: inputs[i]!.extra };
        });
        return [scored, loaded] as const;
      });
    } catch (error) {
      this.counters.failedBatches += 1;
      this.log.error('scoring a batch failed; its windows are not scored', { windows: batch.length, error: errorMessage(error) });
      finish();
      return;
    }
    this.batchSeconds.observe((performance.now() - started) / 1000);
    this.batchSizes.observe(batch.length);
    this.counters.batches += 1;
    this.counters.scored += batch.length;
    try {
      await this.options.sink(results, model);
    } catch (error) {
      this.log.error('scored windows not stored', { windows: batch.length, error: errorMessage(error) });
    }
    finish();
  }
}
