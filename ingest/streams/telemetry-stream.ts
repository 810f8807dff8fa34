/**
 * Vehicle telemetry as an ingest stream:
 *
 *   fleet/{shard}/{vehicle}/telemetry ─▶ decode + validate ─▶ sequence ─▶ clock sanity ─┬─▶ dead letter (`clock_skew`, refused part)
 *                                                                                     └─▶ `t` record ─▶ VehicleWindows
 *       closed windows ─▶ computeFeatures ─▶ `f` record ─▶ WindowDelivery (listeners: scoring)
 *       durable `t` record ─▶ archive (AcceptedSamples); `samples` event
 *   fleet/{shard}/{vehicle}/<command kind> ─▶ the listener that takes it (acknowledged once applied)
 *
 * Windows hold the spool segments of their samples (`retentionFloor`), so after a crash `replay`
 * rebuilds them: feature records and each telemetry record's `closedUpTo` say how far every vehicle
 * got, so windows open at the crash are rebuilt and windows already emitted are not emitted again.
 * Before that, listeners get the windows they had not finished (window-delivery.ts).
 * The telemetry filters belong to the worker's persistent session from its first start, so they
 * are subscribed only on a new session; command kinds on every connect.
 */
import { decodeTelemetry, type Sample } from '../../contracts/telemetry.ts';
import { parseVehicleTopic, topics } from '../../contracts/topics.ts';
import type { Logger } from '../../common/logger.ts';
import type { ScrapeMetrics } from '../../common/metrics.ts';
import { computeFeatures, FEATURE_SET_ID, FEATURE_VERSION } from '../../models/features.ts';
import { featureLine, parseTelemetryLines, telemetryLines } from '../influxdb/line-protocol.ts';
import { SequenceTracker } from '../sequence-tracker.ts';
import { VehicleWindows, type ClosedWindow, type WindowOptions, type WindowStats } from '../windows/vehicle-windows.ts';
import { describeClockSkew, outsideClockBounds, splitByClock } from '../windows/clock-sanity.ts';
import type { ClockSanityOptions } from '../windows/clock-options.ts';
import type { IngestStream, ReplaySource, SpoolWrite, StreamContext, StreamDeadLetter, StreamResult } from './ingest-stream.ts';
import { WindowDelivery } from './window-delivery.ts';
import type { FeatureWindow, WindowListener } from './window-listener.ts';

/** Takes samples once they are durable in the spool segment given (the Parquet archive). */
export interface AcceptedSamples {
  add(vehicle: string, samples: readonly Sample[], segment: number): void;
}

export interface TelemetryStreamOptions {
  windows: Omit<WindowOptions, 'jump'>;
  /** Clock bounds of event times and forward-jump confirmation. */
  clock: ClockSanityOptions;
  archive?: AcceptedSamples;
  logger: Logger;
}

export interface TelemetryStats {
  batchesAccepted: number;
  samplesAccepted: number;
  /** Samples refused for their event time (in `clock_skew` dead letters). */
  clockSkewedSamples: number;
  duplicateBatches: number;
  sequenceGaps: number;
  featureWindows: number;
  /** Spool records read at the last start. */
  replayedRecords: number;
  /** Windows closed before a restart whose listeners had not finished, handed to them again at start. */
  windowsRedelivered: number;
  windows: WindowStats;
}

const sampleTime = (sample: Sample): number => sample.t;

export class TelemetryStream implements IngestStream {
  readonly name = 'telemetry';
  private readonly windows: VehicleWindows<Sample>;
  private readonly sequences = new SequenceTracker(1_000_000);
  private readonly delivery: WindowDelivery;
  private readonly clock: ClockSanityOptions;
  private readonly archive: AcceptedSamples | undefined;
  private readonly log: Logger;
  private counters = { batchesAccepted: 0, samplesAccepted: 0, clockSkewedSamples: 0, duplicateBatches: 0, sequenceGaps: 0, featureWindows: 0, replayedRecords: 0 };

  constructor(options: TelemetryStreamOptions) {
    this.log = options.logger;
    this.clock = options.clock;
    this.archive = options.archive;
    this.windows = new VehicleWindows<Sample>({ ...options.windows, jump: this.clock });
    this.delivery = new WindowDelivery(this.log);
  }

  /** Adds a consumer of closed windows (e.g. the anomaly scorer); before `IngestService.start`. */
  addWindowListener(listener: WindowListener): void {
    this.delivery.add(listener);
  }

  filters(shards: readonly number[], newSession: boolean): string[] {
    const kinds = this.delivery.commandKinds();
    return [...(newSession ? shards.map((s) => topics.shardFilter(s, 'telemetry')) : []), ...shards.flatMap((s) => kinds.map((kind) => topics.shardFilter(s, kind)))];
  }

  accepts(topic: string): boolean {
    if (topic.endsWith('/telemetry')) return topic.startsWith('fleet/');
    return topic.startsWith('fleet/') && this.delivery.commandKinds().some((kind) => topic.endsWith(`/${kind}`));
  }

  handle(topic: string, payload: Buffer, ctx: StreamContext): StreamResult | undefined {
    const parsed = parseVehicleTopic(topic);
    if (parsed && parsed.kind !== 'telemetry') {
      const listener = this.delivery.commandListener(parsed.kind);
      if (listener?.onVehicleCommand) {
        const applied = listener.onVehicleCommand(parsed.vehicleId, parsed.kind, payload);
        return applied ? { ackAfter: applied } : undefined;
      }
    }
    if (!parsed || parsed.kind !== 'telemetry') return { deadLetters: [{ reason: 'unknown_topic', detail: 'not a telemetry topic', payload }] };
    const receivedAtMs = Date.now();
    const result = decodeTelemetry(payload, parsed.vehicleId);
    if (!result.ok) return { deadLetters: [{ reason: result.reason, detail: result.detail, payload }] };
    let { batch } = result;
    const seen = this.sequences.observe(batch.vehicle, batch.seq);
    if (seen === 'duplicate') this.counters.duplicateBatches += 1;
    else if (seen === 'gap') this.counters.sequenceGaps += 1;
    let deadLetters: StreamDeadLetter[] | undefined;
    const clock = splitByClock(batch.samples, sampleTime, receivedAtMs, this.clock);
    if (clock.skewed.length > 0) {
      this.counters.clockSkewedSamples += clock.skewed.length;
      const sentMs = batch.sentAt;
      const detail = describeClockSkew(clock.skewed.length, batch.samples.length, 'samples', clock.worstOffsetMs, this.clock, sentMs === undefined ? undefined : sentMs - receivedAtMs);
      deadLetters = [{ reason: 'clock_skew', detail, payload }];
      if (clock.plausible.length === 0) return { deadLetters };
      batch = { ...batch, samples: [...clock.plausible] };
    }
    const { vehicle, samples } = batch;
    const closedBefore = this.windows.closedUpTo(vehicle);
    const segment = ctx.spoolSegment();
    const records: SpoolWrite[] = [{ type: 't', body: telemetryLines(batch), vehicle, closedUpTo: closedBefore }];
    const { closed } = this.windows.add(vehicle, samples, segment, ctx.readingNow());
    this.counters.batchesAccepted += 1;
    this.counters.samplesAccepted += samples.length;
    const archive = this.archive;
    return {
      deadLetters,
      records,
      appended: closed.length > 0 ? this.featureRecords(closed, records, segment) : undefined,
      // Archived once durable in the spool (only then can the message be acknowledged).
      durable: archive ? () => archive.add(vehicle, samples, segment) : undefined,
      events: ctx.eventsWanted() ? [{ type: 'samples', vehicle, samples }] : undefined,
    };
  }

  tick(ctx: StreamContext): StreamResult | undefined {
    const closed = this.windows.closeIdle(ctx.readingNow());
    if (closed.length === 0) return undefined;
    const records: SpoolWrite[] = [];
    return { records, appended: this.featureRecords(closed, records, ctx.spoolSegment()) };
  }

  /** Rebuilds open windows from the spool left by an earlier run (see the module comment). */
  *replay(spool: ReplaySource, ctx: StreamContext): Generator<StreamResult> {
    const emitted = new Map<string, number>();
    let records = 0;
    for (const record of spool.records()) {
      records += 1;
      if (record.type === 'f' && record.vehicle && record.closedUpTo !== undefined) {
        emitted.set(record.vehicle, Math.max(emitted.get(record.vehicle) ?? -Infinity, record.closedUpTo));
      }
    }
    if (records === 0) return;
    this.delivery.redeliverUnfinished(spool);
    const now = Date.now();
    let samples = 0;
    for (const record of spool.records()) {
      if (record.type !== 't') continue;
      const { vehicle, samples: all } = parseTelemetryLines(record.body);
      if (!vehicle) continue;
      // A spool written before the clock check may hold a sample dated 2099: it must not move a watermark now.
      const parsed = all.filter((sample) => !outsideClockBounds(sample.t, now, this.clock));
      const closedUpTo = Math.max(record.closedUpTo ?? -Infinity, emitted.get(vehicle) ?? -Infinity);
      if (Number.isFinite(closedUpTo)) this.windows.restoreClosedUpTo(vehicle, closedUpTo, now);
      this.archive?.add(vehicle, parsed, record.segment);
      const { closed } = this.windows.add(vehicle, parsed, record.segment, now, false);
      samples += parsed.length;
      if (closed.length === 0) continue;
      const featureRecords: SpoolWrite[] = [];
      yield { records: featureRecords, appended: this.featureRecords(closed, featureRecords, ctx.spoolSegment()) };
    }
    this.counters.replayedRecords = records;
    this.log.info('replayed spool', { records, samples, openWindows: this.windows.stats(now).openWindows });
  }

  retentionFloor(): number {
    return Math.min(this.windows.retentionFloor(), this.delivery.retentionFloor());
  }

  flush(): Promise<void> {
    return this.delivery.flush();
  }

  stats(): TelemetryStats {
    return { ...this.counters, windowsRedelivered: this.delivery.redelivered, windows: this.windows.stats(Date.now()) };
  }

  metrics(m: ScrapeMetrics): void {
    const s = this.stats();
    m.counter('batches_accepted_total', 'Telemetry batches accepted', s.batchesAccepted)
      .counter('samples_accepted_total', 'Telemetry samples accepted', s.samplesAccepted)
      .counter('clock_skewed_samples_total', 'Samples refused for an event time too far ahead of or behind the receive time (clock_skew dead letters)', s.clockSkewedSamples)
      .counter('clock_jumps_followed_total', 'Forward clock jumps of a vehicle followed after a confirming run of samples', s.windows.clockJumpsFollowed)
      .counter('clock_jump_samples_discarded_total', 'Samples of unconfirmed forward clock jumps left out of the windows (stored raw)', s.windows.clockJumpSamplesDiscarded)
      .gauge('clock_jump_samples_held', 'Samples waiting for a forward clock jump to be confirmed', s.windows.clockJumpSamplesHeld)
      .counter('duplicate_batches_total', 'Batches seen again (redelivery)', s.duplicateBatches)
      .counter('sequence_gaps_total', 'Gaps in a vehicle\'s batch sequence', s.sequenceGaps)
      .counter('late_samples_total', 'Samples later than the allowed lateness (stored raw, not in features)', s.windows.lateSamples)
      .counter('windows_closed_total', 'Windows closed, by reason', Object.entries(s.windows.windowsClosed).map(([reason, n]) => [{ reason }, n] as [Record<string, string>, number]))
      .counter('vehicles_evicted_total', 'Vehicles evicted from window state at the bound', s.windows.vehiclesEvicted)
      .counter('windows_redelivered_total', 'Windows closed before a restart but not finished by scoring, handed to it again at start', s.windowsRedelivered)
      .gauge('windows_held', 'Closed windows whose feature records the spool keeps until scoring is done with them', this.delivery.held())
      .gauge('open_windows', 'Windows currently open', s.windows.openWindows)
      .gauge('window_vehicles', 'Vehicles with window state', s.windows.vehicles)
      .gauge('window_buffered_samples', 'Samples held in open windows', s.windows.bufferedSamples)
      .gauge('watermark_lag_seconds', 'Largest processing time minus watermark over vehicles with open windows', s.windows.maxWatermarkLagMs / 1000);
  }

  /**
   * Adds a feature record per closed window to `records`; returns the hand-over to the listeners,
   * for once the records are appended. The records land in `segment` or a later one: holding it keeps them.
   */
  private featureRecords(closed: readonly ClosedWindow<Sample>[], records: SpoolWrite[], segment: number): () => void {
    const windows: FeatureWindow[] = [];
    for (const window of closed) {
      const features = computeFeatures(window.samples);
      const body = featureLine({ vehicle: window.vehicle, windowStartMs: window.startMs, windowEndMs: window.endMs, featureVersion: FEATURE_VERSION }, features);
      records.push({ type: 'f', body, vehicle: window.vehicle, closedUpTo: this.windows.closedUpTo(window.vehicle) });
      this.counters.featureWindows += 1;
      windows.push({ vehicle: window.vehicle, startMs: window.startMs, endMs: window.endMs, features, featureSetId: FEATURE_SET_ID, samples: window.samples });
    }
    return () => {
      for (const window of windows) this.delivery.deliver(window, segment);
    };
  }
}
