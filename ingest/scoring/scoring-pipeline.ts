/**
 * Model scoring and alerting attached to an IngestService:
 *
 *   closed window ─▶ BatchingWindowScorer (micro-batches, in closing order)
 *                      ├─▶ VehiclePaths: the vehicle's recent evidence + deviations from its own
 *                      │   baseline (models/vehicle-feature-path.ts); states committed to the local store
 *                      ├─▶ current model of ModelProvider scores the path's inputs
 *                      └─▶ `anomaly` point (+ baseline status) (spool → InfluxDB) ─▶ HysteresisAlertTracker
 *                            └─ state change ─▶ explanation (occlusion) ─▶ `alerts` point + MQTT topics.alerts(vehicle), QoS 1
 *
 * Order per batch: vehicle states committed, then `anomaly` points spooled (a window scored again
 * after a crash gets the inputs it had). Order per change: state persisted (tracker), then the
 * `alerts` point spooled, then published.
 * A hard crash loses no window: a window's feature record stays in the spool until its `anomaly`
 * point is spooled (the promise `onWindow` returns), and on restart ingest hands this pipeline the
 * spooled windows that have no `anomaly` point yet (`completedWindows` tells which have one).
 */
import { encodeAlert, type AlertMessage } from '../../contracts/alerts.ts';
import { ALERT_SCHEMA } from '../../contracts/alerts.ts';
import { topics, type VehicleTopicKind } from '../../contracts/topics.ts';
import { decodeBaselineReset } from '../../contracts/baseline-reset.ts';
import { errorMessage } from '../../common/errors.ts';
import { type Logger, silentLogger } from '../../common/logger.ts';
import { RAISE_AFTER_WINDOWS } from '../../models/evaluation.ts';
import { alertLine, anomalyLine, parseAnomalyWindows } from '../influxdb/line-protocol.ts';
import { describeNow, explainWindows, type Explanation } from '../alerts/alert-explanation.ts';
import { VehiclePaths, type PathResult } from './vehicle-paths.ts';
import type { LoadedModel } from './model-provider.ts';
import type { IngestService } from '../ingest-service.ts';
import { windowKey, type FeatureWindow, type WindowListener } from '../streams/window-listener.ts';
import type { IngestEvent } from '../ingest-events.ts';
import { AlertStateFile } from '../alerts/alert-state-file.ts';
import { HysteresisAlertTracker } from '../alerts/alert-tracker.ts';
import type { ModelProvider } from './model-provider.ts';
import { BatchingWindowScorer, type ScoredWindow } from './window-scorer.ts';

const MAX_UNPUBLISHED = 10_000;

export interface ScoringPipelineOptions {
  provider: ModelProvider;
  batchSize?: number;
  maxDelayMs?: number;
  maxQueue?: number;
  /** Poll period for new model files (ms); 0 = no hot reload. Default 2000. */
  modelPollMs?: number;
  /** Anomalous windows in a row that raise an alert (default RAISE_AFTER_WINDOWS, as the evaluation assumes). */
  raiseAfterWindows?: number;
  /** Normal windows in a row that clear it (default 3). */
  clearAfterWindows?: number;
  /** Alert state file; without it alert state does not survive a restart. */
  alertStatePath?: string;
  maxAlertVehicles?: number;
  /** Features listed as evidence in an alert (default 5). */
  topFeatures?: number;
  /** Every vehicle's feature path (default: in memory only, nothing survives a restart). */
  paths?: VehiclePaths;
  logger?: Logger;
}

export class ScoringPipeline implements WindowListener {
  readonly scorer: BatchingWindowScorer<PathResult>;
  readonly paths: VehiclePaths;
  /** Shared-state lines of the batch being scored (inputs → sink; batches run one at a time). */
  private batchLines = '';
  readonly tracker: HysteresisAlertTracker;
  private readonly log: Logger;
  private counters = { anomalyPoints: 0, anomalousWindows: 0, alertsPublished: 0, alertPublishFailures: 0, alertsDropped: 0, nonFiniteScores: 0, badCommands: 0 };
  /** Alerts decided before the broker client exists (windows replayed at start); bounded, oldest dropped. */
  private readonly unpublished: Array<{ topic: string; payload: Buffer }> = [];
  private retry: NodeJS.Timeout | undefined;

  private constructor(
    private readonly ingest: IngestService,
    private readonly options: ScoringPipelineOptions,
  ) {
    this.log = options.logger ?? silentLogger;
    this.tracker = new HysteresisAlertTracker({
      raiseAfter: options.raiseAfterWindows ?? RAISE_AFTER_WINDOWS,
      clearAfter: options.clearAfterWindows ?? 3,
      ...(options.alertStatePath ? { stateFile: new AlertStateFile(options.alertStatePath, this.log.child('alerts')) } : {}),
      ...(options.maxAlertVehicles ? { maxVehicles: options.maxAlertVehicles } : {}),
      logger: this.log.child('alerts'),
    });
    this.paths = options.paths ?? new VehiclePaths({ logger: this.log.child('paths') });
    this.scorer = new BatchingWindowScorer<PathResult>({
      provider: options.provider,
      inputs: async (batch) => {
        const { results, lines } = await this.paths.inputs(batch);
        this.batchLines = lines;
        return results.map((r) => ({ features: r.features, extra: r }));
      },
      sink: (scored, model) => this.onScored(scored, model),
      ...(options.batchSize ? { batchSize: options.batchSize } : {}),
      ...(options.maxDelayMs !== undefined ? { maxDelayMs: options.maxDelayMs } : {}),
      ...(options.maxQueue ? { maxQueue: options.maxQueue } : {}),
      logger: this.log,
    });
  }

  /** Attaches scoring to `ingest` (call before `ingest.start()`, so replayed windows are scored too) and starts watching the model. */
  static attach(ingest: IngestService, options: ScoringPipelineOptions): ScoringPipeline {
    const pipeline = new ScoringPipeline(ingest, options);
    ingest.addWindowListener(pipeline);
    ingest.addMetrics((m) => pipeline.metrics(m));
    options.provider.watch(options.modelPollMs ?? 2000);
    return pipeline;
  }

  onWindow(window: FeatureWindow): Promise<void> | undefined {
    const queued = this.scorer.onWindow(window);
    if (queued) this.paths.prefetch(window.vehicle);
    return queued;
  }

  readonly commandKinds: readonly VehicleTopicKind[] = ['baseline-reset'];

  /** A baseline reset from the broker: acknowledged once applied and durable; a bad one is logged, counted and acknowledged. */
  onVehicleCommand(vehicle: string, kind: VehicleTopicKind, payload: Buffer): Promise<void> | undefined {
    if (kind !== 'baseline-reset') return undefined;
    const decoded = decodeBaselineReset(payload, vehicle);
    if (!decoded.ok) {
      this.counters.badCommands += 1;
      this.log.warn('baseline reset refused', { vehicle, reason: decoded.reason });
      return undefined;
    }
    return this.resetBaseline(vehicle, decoded.reset.reason);
  }

  /** Replay: notes the windows this pipeline finished before a restart (an `anomaly` line each). */
  completedWindows(derivedRecordBody: string, into: Set<string>): void {
    for (const done of parseAnomalyWindows(derivedRecordBody)) into.add(windowKey(done.vehicle, done.windowStartMs));
  }

  async flush(): Promise<void> {
    await this.scorer.flush();
    await this.paths.idle();
    this.publishPending();
  }

  /**
   * Forgets a vehicle's learned baseline (after a repair or a cleared trouble code): it learns
   * again from its next windows and is judged on fleet evidence meanwhile. Resolves once the
   * reset is committed and its `baseline_events` point spooled.
   */
  async resetBaseline(vehicle: string, reason: string): Promise<void> {
    const lines = await this.paths.reset(vehicle, reason);
    await this.ingest.appendDerived(lines);
  }

  /** After `ingest.stop()`: persists alert state and releases the model. */
  async close(): Promise<void> {
    await this.scorer.flush();
    if (this.retry) clearTimeout(this.retry);
    this.tracker.close();
    await this.paths.close();
    await this.options.provider.close();
  }

  stats() {
    return { ...this.counters, scorer: this.scorer.stats(), alerts: this.tracker.stats(), model: this.options.provider.stats(), paths: this.paths.stats() };
  }

  private async onScored(scored: readonly ScoredWindow<PathResult>[], model: LoadedModel): Promise<void> {
    let lines = this.batchLines;
    this.batchLines = '';
    const events: IngestEvent[] = [];
    const changes: Array<{ w: ScoredWindow<PathResult>; change: NonNullable<ReturnType<HysteresisAlertTracker['observe']>> }> = [];
    for (const w of scored) {
      if (!Number.isFinite(w.score)) {
        this.counters.nonFiniteScores += 1;
        continue;
      }
      const { version, threshold } = w.model;
      const baseline = w.extra ? { status: w.extra.status, progress: w.extra.progress } : undefined;
      lines += anomalyLine({ vehicle: w.vehicle, windowStartMs: w.startMs, modelVersion: version, score: w.score, anomalous: w.anomalous, threshold, ...(baseline ? { baseline } : {}) });
      this.counters.anomalyPoints += 1;
      if (w.anomalous) this.counters.anomalousWindows += 1;
      events.push({ type: 'score', vehicle: w.vehicle, startMs: w.startMs, endMs: w.endMs, score: w.score, threshold, anomalous: w.anomalous, modelVersion: version, ...(baseline ? { baseline } : {}) });
      const change = this.tracker.observe(w.vehicle, w.startMs, w.anomalous);
      if (change) changes.push({ w, change });
    }
    // Explained only when an alert changes state: one extra inference for the raised ones.
    const raised = changes.filter((c) => c.change.state === 'raised');
    let explanations: Explanation[] = [];
    try {
      explanations = await explainWindows(model, raised.map(({ w }) => ({ features: w.features, ...(w.extra ? { path: w.extra.path } : {}) })));
    } catch (error) {
      this.log.error('alert explanation failed; alerts go out without one', { error: errorMessage(error) });
    }
    for (const { w, change } of changes) {
      const { version, threshold } = w.model;
      let explanation: AlertMessage['explanation'];
      if (change.state === 'raised') {
        const e = explanations[raised.findIndex((r) => r.w === w)];
        if (e) {
          explanation = { text: e.text, signals: e.signals };
          this.tracker.noteEvidence(w.vehicle, e.signals.map((s) => s.feature));
        }
      } else {
        const now = change.evidence?.length ? describeNow(change.evidence, { features: w.features, ...(w.extra ? { path: w.extra.path } : {}) }, model) : '';
        explanation = { text: now ? `back to normal: ${now}` : `back to normal: ${change.windows} windows below the threshold`, signals: [] };
      }
      const alert: AlertMessage = {
        schema: ALERT_SCHEMA,
        alertId: change.alertId,
        vehicle: w.vehicle,
        state: change.state,
        kind: 'engine_anomaly',
        windowStartMs: w.startMs,
        windowEndMs: w.endMs,
        modelVersion: version,
        score: w.score,
        threshold,
        windows: change.windows,
        topFeatures: w.model.reference?.top(w.features, this.options.topFeatures ?? 5) ?? [],
        emittedAtMs: Date.now(),
        ...(explanation ? { explanation } : {}),
        ...(w.extra ? { baseline: { status: w.extra.status, progress: Math.round(w.extra.progress * 1000) / 1000 } } : {}),
      };
      lines += alertLine({
        ...alert,
        ...(explanation ? { text: explanation.text, evidence: explanation.signals.map((s) => ({ feature: s.feature, contribution: s.contribution })) } : {}),
      });
      events.push({ type: 'alert', alert });
      this.log.info(`alert ${change.state}`, { vehicle: w.vehicle, alertId: change.alertId, score: w.score, why: explanation?.text ?? '' });
      this.unpublished.push({ topic: topics.alerts(w.vehicle), payload: encodeAlert(alert) });
      if (this.unpublished.length > MAX_UNPUBLISHED) {
        this.unpublished.shift();
        this.counters.alertsDropped += 1;
      }
    }
    this.publishPending();
    // A full spool makes this wait; scoring runs off the acknowledgement path, so nothing blocks on it.
    const spooled = lines ? this.ingest.appendDerived(lines) : undefined;
    this.ingest.emitEvents(events, spooled);
    if (spooled) {
      try {
        await spooled;
      } catch (error) {
        this.log.error('anomaly points not spooled', { error: errorMessage(error) });
      }
    }
  }

  /** Hands queued alerts to the broker client (which queues them itself while reconnecting). */
  private publishPending(): void {
    while (this.unpublished.length > 0) {
      const next = this.unpublished[0]!;
      try {
        if (!this.ingest.publish(next.topic, next.payload)) {
          // Ingest not started yet (replayed windows): try again shortly.
          this.retry ??= setTimeout(() => {
            this.retry = undefined;
            this.publishPending();
          }, 500).unref();
          return;
        }
        this.counters.alertsPublished += 1;
      } catch (error) {
        this.counters.alertPublishFailures += 1;
        this.log.error('alert not published', { topic: next.topic, error: errorMessage(error) });
      }
      this.unpublished.shift();
    }
  }

  private metrics(m: import('../../common/metrics.ts').ScrapeMetrics): void {
    const s = this.stats();
    m.counter('windows_scored_total', 'Windows scored by the model', s.scorer.scored)
      .counter('inference_batches_total', 'Inference batches run', s.scorer.batches)
      .histogram(this.scorer.batchSizes)
      .histogram(this.scorer.batchSeconds)
      .gauge('scoring_queue_windows', 'Windows waiting to be scored', s.scorer.queued)
      .counter('scoring_dropped_windows_total', 'Windows not scored because the scoring queue was full', s.scorer.dropped)
      .counter('scoring_failed_batches_total', 'Inference batches that failed', s.scorer.failedBatches)
      .counter('anomalous_windows_total', 'Windows scored at or above the threshold', s.anomalousWindows)
      .gauge('model_version', 'Version of the model scoring now', s.model.modelVersion)
      .counter('model_reloads_total', 'Models swapped in without a restart', s.model.reloads)
      .counter('model_reload_failures_total', 'New model files rejected, by reason (the previous model stays)', Object.entries(s.model.reloadFailures).map(([reason, n]) => [{ reason }, n] as [Record<string, string>, number]))
      .counter('alerts_total', 'Alert state changes, by state', [[{ state: 'raised' }, s.alerts.raised], [{ state: 'cleared' }, s.alerts.cleared]])
      .gauge('alerts_active', 'Vehicles with a raised alert', s.alerts.alerting)
      .counter('alert_replayed_windows_total', 'Scored windows ignored by alerting as already counted', s.alerts.replayedWindows)
      .counter('alert_state_forgotten_total', 'Vehicles dropped from alert state at its bound', s.alerts.forgotten)
      .counter('alerts_published_total', 'Alert messages handed to the broker client (QoS 1)', s.alertsPublished)
      .counter('alerts_unpublished_dropped_total', 'Alerts dropped from the bounded queue waiting for the broker client', s.alertsDropped)
      .counter('alert_persist_failures_total', 'Failed writes of the alert state file', s.alerts.persistFailures)
      .gauge('vehicle_paths_cached', 'Vehicle feature paths decoded in memory', s.paths.cached)
      .counter('vehicle_paths_evicted_total', 'Vehicle feature paths dropped from memory at the cache bound (their state stays in the store)', s.paths.evicted)
      .counter('vehicle_paths_loaded_total', 'Vehicle feature paths brought into memory, by source', [[{ source: 'local' }, s.paths.loadedLocal], [{ source: 'shared' }, s.paths.loadedShared], [{ source: 'fresh' }, s.paths.fresh]])
      .counter('vehicle_state_shared_read_failures_total', 'Failed reads of the shared vehicle state (those vehicles started learning)', s.paths.sharedReadFailures)
      .counter('vehicle_state_shared_writes_total', 'Vehicle states written to InfluxDB vehicle_state', s.paths.sharedWrites)
      .counter('vehicle_state_commit_failures_total', 'Failed commits of vehicle states to the local store', s.paths.commitFailures)
      .counter('vehicle_state_commit_seconds_total', 'Time spent committing vehicle states to the local store', s.paths.commitSeconds)
      .counter('windows_replayed_inputs_total', 'Windows scored again after a restart with their stored inputs', s.paths.replayedWindows)
      .counter('baseline_reset_refused_total', 'Baseline reset messages that were not valid (logged)', s.badCommands)
      .counter('baseline_resets_total', 'Vehicle baselines reset (repair, cleared trouble code)', s.paths.resets);
  }
}
