/**
 * Ingest: consumes telemetry from the broker, keeps per-vehicle event-time windows, and stores
 * telemetry, window features and dead letters in InfluxDB through a local write-ahead spool.
 *
 *   MQTT (persistent session, QoS 1, own shards) ─▶ decode + validate ─┬─▶ dead letter ─────────────┐
 *                                                                       └─▶ VehicleWindows           │
 *                                                                              │ closed windows      ▼
 *                                                                              └─▶ features ─▶ DiskSpool ─▶ SpoolForwarder ─▶ InfluxDB
 *                                                                                  WindowListeners (model scoring plugs in here)
 *
 * Delivery: a message is acknowledged (PUBACK) only after its record is in the spool (see
 * DiskSpool for what survives what). Appending is a synchronous write(2) of a few hundred bytes,
 * so mqtt.js, which handles one packet at a time, is not serialised on InfluxDB round trips;
 * InfluxDB is fed from the spool asynchronously. When the spool is full, or its disk is (a write
 * fails), the acknowledgement waits and the append is retried until it succeeds: mqtt.js stops
 * reading, the broker holds further messages, and the session is kept alive meanwhile
 * (held-ack-keepalive.ts). `/healthz` says why. A dead letter that cannot be spooled then is kept
 * in memory (bounded, counted) and spooled when the spool appends again.
 *
 * Restart: every retained spool record is written to InfluxDB again (idempotent keys) and
 * telemetry records are replayed into the windows, so windows open at a crash are rebuilt and
 * windows already emitted are not emitted again (feature records and each record's
 * `closedUpTo` header say how far every vehicle got). Messages not acknowledged are redelivered
 * by the broker's persistent session. API-log windows open at a clean stop are written as they
 * are (provisional points) and saved beside the spool; the next start resumes them, and when they
 * close their points overwrite the provisional ones (same key).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { decodeTelemetry, type DeadLetterReason, type Sample } from '../contracts/telemetry.ts';
import { isApiLogsTopic, parseVehicleTopic, topics, type VehicleTopicKind } from '../contracts/topics.ts';
import { sleep } from '../common/backoff.ts';
import { errorMessage } from '../common/errors.ts';
import { type Logger, silentLogger } from '../common/logger.ts';
import { type MetricsSource, type ScrapeMetrics, ServiceMetrics } from '../common/metrics.ts';
import { type ConnectionCounters, MqttConnection } from '../common/mqtt-connection.ts';
import { computeFeatures, FEATURE_NAMES, FEATURE_SET_ID, FEATURE_VERSION, type FeatureVector } from '../models/features.ts';
import { startIngestHttpServer, type Health, type RunningHttpServer } from './http/ingest-http-server.ts';
import { deadLetterLine, featureLine, parseFeatureLines, parseTelemetryLines, telemetryLines } from './influxdb/line-protocol.ts';
import { SequenceTracker } from './sequence-tracker.ts';
import { DiskSpool, type FsyncPolicy, type SpoolRecordType, type SpoolStats } from './spool/disk-spool.ts';
import { SpoolForwarder, type SpoolForwarderStats } from './spool/spool-forwarder.ts';
import { spoolHealth } from './spool/spool-health.ts';
import { UnstoredDeadLetters } from './spool/unstored-dead-letters.ts';
import { keepSessionWhileHeld } from './held-ack-keepalive.ts';
import { VehicleWindows, type ClosedWindow, type WindowStats } from './windows/vehicle-windows.ts';
import { ReadingClock } from './windows/reading-clock.ts';
import { describeClockSkew, outsideClockBounds, splitByClock } from './windows/clock-sanity.ts';
import { DEFAULT_CLOCK_SANITY, type ClockSanityOptions } from './windows/clock-options.ts';
import { ArchiveSink, type ArchiveSinkOptions, type ArchiveStats } from './archive/archive-sink.ts';
import type { ApiLogProcessor } from './apilogs/api-log-processor.ts';
import { ApiLogStateFile } from './apilogs/api-log-state-file.ts';
import type { IngestEvent, IngestEventListener } from './ingest-events.ts';

export interface IngestOptions {
  mqttUrl: string;
  /** Broker credentials of this worker (role `ingest`). */
  username?: string;
  password?: string;
  /** MQTT keep-alive, seconds. Default 30. */
  keepaliveS?: number;
  /**
   * Reconnect delay ceilings, ms (exponential backoff with full jitter). Default 500 … 5,000: a few
   * server-side clients, not a fleet, so a short ceiling; mqtt.js retried every 1 s.
   */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  influxUrl: string;
  influxDatabase: string;
  clientId: string;
  shards: readonly number[];
  /**
   * Where the spool lives. One directory per worker and database: a spool is replayed into the
   * database it is configured with. Without it a temporary directory is used (nothing survives a
   * restart), which suits tests and library use only.
   */
  spoolDir?: string;
  /** Raw telemetry Parquet archive (ingest/archive/); off when absent. */
  archiveDir?: string;
  archive?: Omit<ArchiveSinkOptions, 'dir' | 'worker' | 'logger'>;
  spoolMaxBytes?: number;
  spoolSegmentBytes?: number;
  spoolFsync?: FsyncPolicy;
  spoolFsyncIntervalMs?: number;
  /** Free space on the spool's file system below which `/healthz` says `degraded` (default 512 MiB). */
  spoolLowDiskBytes?: number;
  /** Bytes per InfluxDB write (default 1 MiB). */
  writeBatchBytes?: number;
  /** Approximate points per InfluxDB write; used when writeBatchBytes is not given. */
  batchSize?: number;
  /** Longest time data waits in the spool before it is written when InfluxDB is up (ms). */
  flushIntervalMs: number;
  /** Samples held in open windows over all vehicles (default 2,000,000). */
  maxBufferedPoints?: number;
  windowMs?: number;
  /** Slide of sliding windows; equal to windowMs (the default) for tumbling windows. */
  windowSlideMs?: number;
  allowedLatenessMs?: number;
  idleTimeoutMs?: number;
  maxVehicles?: number;
  /** Port of the /healthz and /metrics server; undefined = no server, 0 = any free port. */
  httpPort?: number;
  httpHost?: string;
  statsIntervalMs?: number;
  logger?: Logger;
  /** API-log analytics (ingest/apilogs/); when given, `apilogs/#` is consumed too. */
  apiLogs?: ApiLogProcessor;
  /** Clock bounds of event times and forward-jump confirmation (default DEFAULT_CLOCK_SANITY). */
  clock?: ClockSanityOptions;
}

/** `clock_skew`: event times not plausible for when they arrived (windows/clock-sanity.ts). */
export type IngestDeadLetterReason = DeadLetterReason | 'internal_error' | 'clock_skew';

/** A closed window with its features, as handed to listeners (the anomaly model, later). */
export interface FeatureWindow {
  vehicle: string;
  startMs: number;
  endMs: number;
  features: FeatureVector;
  featureSetId: string;
  samples: readonly Sample[];
}

/**
 * Receives every window once its features are in the spool, in closing order per vehicle.
 * Called synchronously on the message path: do the expensive part (inference) batched and
 * asynchronously, with a bound of its own.
 */
export interface WindowListener {
  /**
   * A returned promise asks ingest to keep the window's feature record in the spool until it
   * settles; after a crash, windows whose work was not done are handed over again (see
   * `completedWindows`). `samples` is empty for windows handed over again after a restart.
   */
  onWindow(window: FeatureWindow): Promise<void> | void | undefined;
  /**
   * Replay: called with the body of every derived record in the spool; adds `windowKey`s of the
   * windows this listener had finished with. A listener with this method is handed every spooled
   * window not in the set again, before the replayed telemetry closes new windows.
   */
  completedWindows?(derivedRecordBody: string, into: Set<string>): void;
  /** Resolves once work queued from earlier windows is done; awaited by `flush` and by `stop` before the spool closes. */
  flush?(): Promise<void>;
  /**
   * Vehicle topics of these kinds (e.g. `baseline-reset`) on this worker's shards are subscribed
   * (on every connect) and handed to `onVehicleCommand`; the message is acknowledged once its
   * promise settles (a rejection leaves it for the broker to redeliver).
   */
  readonly commandKinds?: readonly VehicleTopicKind[];
  onVehicleCommand?(vehicle: string, kind: VehicleTopicKind, payload: Buffer): Promise<void> | undefined;
}

/** Identifies a window across a restart: vehicle and start time. */
export function windowKey(vehicle: string, windowStartMs: number): string {
  return `${vehicle}\u0000${windowStartMs}`;
}

export interface IngestStats {
  messagesIn: number;
  batchesAccepted: number;
  samplesAccepted: number;
  deadLetters: number;
  deadLettersByReason: Partial<Record<IngestDeadLetterReason, number>>;
  /** Samples refused for their event time (in `clock_skew` dead letters). */
  clockSkewedSamples: number;
  /** Dead letters waiting in memory for the spool to append again. */
  deadLettersUnstored: number;
  /** Dead letters never stored: dropped at the in-memory bound or left at a stop. */
  deadLettersLost: number;
  duplicateBatches: number;
  sequenceGaps: number;
  featureWindows: number;
  replayedRecords: number;
  /** Windows closed before a restart whose listeners had not finished, handed to them again at start. */
  windowsRedelivered: number;
  spool: SpoolStats;
  writer: SpoolForwarderStats;
  archive?: ArchiveStats;
  windows: WindowStats;
  mqttConnected: boolean;
  /** Broker connection counters (refused CONNACKs are `refusals`). */
  connection: ConnectionCounters;
}

export class IngestService {
  private readonly log: Logger;
  private readonly spool: DiskSpool;
  private readonly spoolLimits: { maxBytes: number; lowDiskBytes: number };
  private readonly forwarder: SpoolForwarder;
  private readonly windows: VehicleWindows<Sample>;
  private readonly sequences = new SequenceTracker(1_000_000);
  private readonly listeners: WindowListener[] = [];
  private readonly eventListeners: IngestEventListener[] = [];
  private eventListenerFailures = 0;
  private readonly metrics = new ServiceMetrics('fleetpulse_ingest');
  private readonly archive: ArchiveSink | undefined;
  private connection: MqttConnection | undefined;
  /** API-log windows open at a clean stop, for the next start (in the spool directory). */
  private readonly apiLogState: ApiLogStateFile | undefined;
  private http: RunningHttpServer | undefined;
  private timers: NodeJS.Timeout[] = [];
  private tail: Promise<void> | undefined;
  private counters = { messagesIn: 0, batchesAccepted: 0, samplesAccepted: 0, deadLetters: 0, clockSkewedSamples: 0, duplicateBatches: 0, sequenceGaps: 0, featureWindows: 0, replayedRecords: 0, windowsRedelivered: 0 };
  private readonly clock: ClockSanityOptions;
  /** Spool segments holding feature records of windows a listener is not done with: segment → windows. */
  private readonly windowHolds = new Map<number, number>();
  private readonly deadLettersByReason: Partial<Record<IngestDeadLetterReason, number>> = {};
  private readonly unstoredDeadLetters = new UnstoredDeadLetters(10_000);
  /** Idle timeouts run on it: time spent holding acknowledgements is not idle time. */
  private readonly readingClock = new ReadingClock();
  private deadLettersLeftAtStop = 0;
  /** Dead letters appended while the spool was not appending, queued behind the held record. */
  private deadLettersWaiting = 0;
  private stopped = false;

  constructor(private readonly options: IngestOptions) {
    this.log = options.logger ?? silentLogger;
    const spoolDir = options.spoolDir ?? mkdtempSync(join(tmpdir(), `fleetpulse-spool-${options.clientId}-`));
    if (!options.spoolDir) this.log.warn('no spool directory configured: using a temporary one that does not survive restarts', { spoolDir });
    const segmentBytes = options.spoolSegmentBytes ?? 8 * 1024 * 1024;
    this.spoolLimits = { maxBytes: options.spoolMaxBytes ?? 1024 * 1024 * 1024, lowDiskBytes: options.spoolLowDiskBytes ?? 512 * 1024 * 1024 };
    this.spool = new DiskSpool({
      dir: spoolDir,
      maxBytes: this.spoolLimits.maxBytes,
      segmentBytes,
      fsync: options.spoolFsync ?? 'interval',
      fsyncIntervalMs: options.spoolFsyncIntervalMs ?? 1000,
      lowDiskBytes: this.spoolLimits.lowDiskBytes,
      logger: this.log.child('spool'),
    });
    this.forwarder = new SpoolForwarder({
      spool: this.spool,
      influxUrl: options.influxUrl,
      database: options.influxDatabase,
      batchBytes: options.writeBatchBytes ?? (options.batchSize ? Math.max(16 * 1024, options.batchSize * 128) : 1024 * 1024),
      flushIntervalMs: options.flushIntervalMs,
      logger: this.log.child('writer'),
    });
    const windowMs = options.windowMs ?? 30_000;
    this.clock = options.clock ?? DEFAULT_CLOCK_SANITY;
    this.windows = new VehicleWindows<Sample>({
      sizeMs: windowMs,
      slideMs: options.windowSlideMs ?? windowMs,
      allowedLatenessMs: options.allowedLatenessMs ?? 5_000,
      idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
      maxVehicles: options.maxVehicles ?? 200_000,
      maxBufferedSamples: options.maxBufferedPoints ?? 2_000_000,
      jump: this.clock,
    });
    // The archive holds the segments of rows not yet in a complete file (at-least-once, see ArchiveSink).
    this.archive = options.archiveDir ? new ArchiveSink({ ...options.archive, dir: options.archiveDir, worker: options.clientId, logger: this.log.child('archive') }) : undefined;
    this.spool.retentionFloor = () => Math.min(this.windows.retentionFloor(), this.archive?.retentionFloor() ?? Infinity, this.lowestWindowHold());
    this.apiLogState = options.apiLogs ? new ApiLogStateFile(join(spoolDir, 'api-log-state.json'), this.log.child('apilogs')) : undefined;
    this.metrics.addSource((m) => this.writeMetrics(m));
  }

  /** Adds a consumer of closed windows (e.g. the anomaly scorer). */
  addWindowListener(listener: WindowListener): void {
    this.listeners.push(listener);
  }

  /** Adds an observer of what ingest accepts and decides (ingest-events.ts says when it is called). */
  addEventListener(listener: IngestEventListener): void {
    this.eventListeners.push(listener);
  }

  /** Hands events to the observers once `after` (the spool append behind them) has resolved. */
  emitEvents(events: readonly IngestEvent[], after?: Promise<void>): void {
    if (this.eventListeners.length === 0 || events.length === 0) return;
    const emit = () => {
      for (const event of events) {
        for (const listener of this.eventListeners) {
          try {
            listener(event);
          } catch (error) {
            this.eventListenerFailures += 1;
            this.log.error('ingest event listener failed', { type: event.type, error: errorMessage(error) });
          }
        }
      }
    };
    if (after) void after.then(emit, () => undefined);
    else emit();
  }

  /** Replays the spool, starts writing to InfluxDB (retrying while it is down) and consuming. */
  async start(): Promise<void> {
    this.replay();
    this.resumeApiLogWindows();
    // Readers may query before the first point arrives; an unreachable InfluxDB does not hold up
    // consuming (the spool takes the data, the writer creates the database when it can).
    if (!(await this.forwarder.createDatabase(2000))) this.log.warn('InfluxDB not reachable yet; spooling until it is', { url: this.options.influxUrl });
    this.forwarder.start();
    this.archive?.start();
    if (this.options.httpPort !== undefined) {
      this.http = await startIngestHttpServer(this, this.options.httpHost ?? '127.0.0.1', this.options.httpPort);
      this.log.info('metrics and health', { url: this.http.url });
    }
    this.connection = this.connectToBroker();
    const idle = setInterval(() => this.closeIdleWindows(), Math.min(1000, Math.max(50, (this.options.idleTimeoutMs ?? 60_000) / 4)));
    idle.unref();
    this.timers.push(idle);
    if (this.options.statsIntervalMs) {
      const stats = setInterval(() => this.logStats(), this.options.statsIntervalMs);
      stats.unref();
      this.timers.push(stats);
    }
  }

  /**
   * The broker connection (common/mqtt-connection.ts): a fresh mqtt.js client per attempt on the
   * same persistent session, retried with backoff after any failure, a refused CONNACK included
   * (mqtt.js alone gives up after one). Every client gets the acknowledging `handleMessage` below.
   */
  private connectToBroker(): MqttConnection {
    const keepaliveS = this.options.keepaliveS ?? 30;
    // mqtt.js sends the PUBACK only after handleMessage calls back, and reads the next packet only
    // then (Aedes speaks MQTT 3.1.1, so v5's customHandleAcks is not available). The callback
    // comes as soon as the record is spooled: synchronously, unless the spool is full.
    const livenessEveryMs = (keepaliveS * 1000) / 4;
    const installHandleMessage = (client: MqttClient): void => {
      let lastLiveness = 0;
      client.handleMessage = (packet, callback) => {
        if (packet.cmd !== 'publish') return callback();
        // A message from the broker proves the connection alive. mqtt.js counts only acknowledgements and
        // PINGRESP as such, so while ingest reads through a backlog its PINGRESP waits behind thousands of
        // queued messages, the keep-alive times out and the session reconnects: everything in flight is
        // sent again, and the broker's offline queue fills meanwhile (seen at 100,000 vehicles).
        // Rescheduling replaces a timer, so at most every quarter keep-alive, not per message.
        const now = Date.now();
        if (now - lastLiveness >= livenessEveryMs) {
          lastLiveness = now;
          client.reschedulePing(true);
        }
        // Stopping: leave it unacknowledged for the broker to redeliver.
        if (this.stopped) return;
        let pending: Promise<void> | undefined;
        try {
          pending = this.handleMessage(packet.topic, packet.payload as Buffer);
        } catch (error) {
          this.log.error('unexpected error handling a message', { topic: packet.topic, error: errorMessage(error) });
        }
        if (!pending) return callback();
        const release = keepSessionWhileHeld(client, keepaliveS * 1000);
        pending.then(
          () => {
            release();
            callback();
          },
          (error: unknown) => {
            release();
            // Not acknowledged: the broker redelivers it after a reconnect.
            this.log.error('message not spooled; not acknowledging it', { topic: packet.topic, error: errorMessage(error) });
          },
        );
      };
    };
    const connection = new MqttConnection({
      url: this.options.mqttUrl,
      clientId: this.options.clientId,
      clean: false,
      keepaliveS,
      reconnectMinMs: this.options.reconnectMinMs ?? 500,
      reconnectMaxMs: this.options.reconnectMaxMs ?? 5000,
      username: this.options.username,
      password: this.options.password,
      logger: this.log,
      onClient: installHandleMessage,
      onUp: (client, connack) => {
        if (!connack.sessionPresent) {
          const filters = Object.fromEntries(this.options.shards.map((s) => [topics.shardFilter(s, 'telemetry'), { qos: 1 as const }]));
          client.subscribe(filters, (error) => {
            if (error) this.log.error('subscribe failed', { error: errorMessage(error) });
            else this.log.info('subscribed', { shards: describeShards(this.options.shards) });
          });
        }
        // Listeners' command topics (e.g. baseline-reset), subscribed on every connect: a session
        // persisted before the listener existed lacks them.
        const commandKinds = [...new Set(this.listeners.flatMap((l) => l.commandKinds ?? []))];
        if (commandKinds.length > 0) {
          const commandFilters = Object.fromEntries(this.options.shards.flatMap((s) => commandKinds.map((kind) => [topics.shardFilter(s, kind), { qos: 1 as const }])));
          client.subscribe(commandFilters, (error) => {
            if (error) this.log.error('command subscribe failed', { error: errorMessage(error) });
          });
        }
        // Subscribed on every connect: a session persisted before API logs were enabled lacks it.
        if (this.options.apiLogs) {
          client.subscribe({ [topics.apiLogsFilter()]: { qos: 1 } }, (error) => {
            if (error) this.log.error('apilogs subscribe failed', { error: errorMessage(error) });
          });
        }
      },
    });
    // The blocklist publisher holds the connection, not a client: it publishes on whichever is up.
    this.options.apiLogs?.attach(connection);
    connection.start();
    return connection;
  }

  /** Resumes the API-log windows saved at the last clean stop, before any batch arrives. */
  private resumeApiLogWindows(): void {
    const state = this.apiLogState?.take();
    if (!state || !this.options.apiLogs) return;
    const cells = this.options.apiLogs.restoreState(state, this.readingClock.now());
    this.log.info('resumed the API-log windows open at the last stop', { cells, requestIds: state.ids.length });
  }

  /**
   * Clean stop: writes what the open API-log windows hold (provisional points, overwritten when the
   * resumed windows close) and saves them for the next start.
   */
  private saveApiLogWindows(): void {
    const apiLogs = this.options.apiLogs;
    if (!apiLogs || !this.apiLogState) return;
    const lines = apiLogs.openWindowLines();
    if (lines && !this.tail) void this.append('f', lines)?.catch(() => undefined);
    else if (lines) this.log.warn('spool not appending at stop: the open API-log windows are only saved, not written');
    try {
      this.apiLogState.write(apiLogs.saveState());
    } catch (error) {
      this.log.error('API-log windows not saved: those open now restart empty', { path: this.apiLogState.path, error: errorMessage(error) });
    }
  }

  /** Rebuilds open windows from the spool left by an earlier run (see the module comment). */
  private replay(): void {
    const emitted = new Map<string, number>();
    let records = 0;
    for (const record of this.spool.records()) {
      records += 1;
      if (record.type === 'f' && record.vehicle && record.closedUpTo !== undefined) {
        emitted.set(record.vehicle, Math.max(emitted.get(record.vehicle) ?? -Infinity, record.closedUpTo));
      }
    }
    if (records === 0) return;
    this.redeliverUnfinishedWindows();
    const now = Date.now();
    let samples = 0;
    for (const record of this.spool.records()) {
      if (record.type !== 't') continue;
      const { vehicle, samples: all } = parseTelemetryLines(record.body);
      if (!vehicle) continue;
      // A spool written before the clock check may hold a sample dated 2099: it must not move a watermark now.
      const parsed = all.filter((sample) => !outsideClockBounds(sample.t, now, this.clock));
      const closedUpTo = Math.max(record.closedUpTo ?? -Infinity, emitted.get(vehicle) ?? -Infinity);
      if (Number.isFinite(closedUpTo)) this.windows.restoreClosedUpTo(vehicle, closedUpTo, now);
      this.archive?.add(vehicle, parsed, record.segment);
      const { closed } = this.windows.add(vehicle, parsed, record.segment, now, false);
      for (const window of closed) void this.emitWindow(window);
      samples += parsed.length;
    }
    this.counters.replayedRecords = records;
    this.log.info('replayed spool', { records, samples, openWindows: this.windows.stats(now).openWindows });
  }

  /**
   * Replay, before telemetry: hands listeners that report what they finished (`completedWindows`)
   * every spooled window they had not finished, in spool order. Its feature record is still in the
   * spool because the hold outlived the crash; `samples` is not (the window's features are).
   */
  private redeliverUnfinishedWindows(): void {
    const listeners = this.listeners.filter((l) => l.completedWindows);
    if (listeners.length === 0) return;
    // One pass over the spool: what each listener finished, and the feature records to check against it.
    const completed = listeners.map(() => new Set<string>());
    const featureRecords: Array<{ body: string; segment: number }> = [];
    for (const record of this.spool.records()) {
      if (record.type !== 'f') continue;
      if (record.vehicle) featureRecords.push({ body: record.body, segment: record.segment });
      else listeners.forEach((listener, i) => listener.completedWindows!(record.body, completed[i]!));
    }
    for (const record of featureRecords) {
      for (const point of parseFeatureLines(record.body)) {
        // Every window with samples has its running time (features v2); other lines are not windows.
        if (point.features.running_s === undefined) continue;
        const features: FeatureVector = { ...point.features };
        for (const name of FEATURE_NAMES) if (!(name in features)) features[name] = NaN; // non-finite features are not written
        const window: FeatureWindow = { vehicle: point.vehicle, startMs: point.windowStartMs, endMs: point.windowEndMs, features, featureSetId: FEATURE_SET_ID, samples: [] };
        const key = windowKey(point.vehicle, point.windowStartMs);
        listeners.forEach((listener, i) => {
          if (completed[i]!.has(key)) return;
          this.counters.windowsRedelivered += 1;
          this.deliverWindow(listener, window, record.segment);
        });
      }
    }
    if (this.counters.windowsRedelivered > 0) this.log.info('windows closed before the restart handed to scoring again', { windows: this.counters.windowsRedelivered });
  }

  /** Gives `window` to `listener`; keeps the spool segment of its feature record until the listener is done. */
  private deliverWindow(listener: WindowListener, window: FeatureWindow, segment: number): void {
    let done: Promise<void> | void | undefined;
    try {
      done = listener.onWindow(window);
    } catch (error) {
      this.log.error('window listener failed', { error: errorMessage(error) });
      return;
    }
    if (!done) return;
    this.windowHolds.set(segment, (this.windowHolds.get(segment) ?? 0) + 1);
    const release = (): void => {
      const left = (this.windowHolds.get(segment) ?? 1) - 1;
      if (left > 0) this.windowHolds.set(segment, left);
      else this.windowHolds.delete(segment);
    };
    done.then(release, release);
  }

  private lowestWindowHold(): number {
    let lowest = Infinity;
    for (const segment of this.windowHolds.keys()) if (segment < lowest) lowest = segment;
    return lowest;
  }

  /** Returns a promise only when the message waits for spool space (acknowledge after it). */
  private handleMessage(topic: string, payload: Buffer): Promise<void> | undefined {
    this.counters.messagesIn += 1;
    if (this.options.apiLogs && isApiLogsTopic(topic)) return this.handleApiLogs(this.options.apiLogs, topic, payload);
    const parsed = parseVehicleTopic(topic);
    const commands = parsed && parsed.kind !== 'telemetry' ? this.listeners.find((l) => l.commandKinds?.includes(parsed.kind)) : undefined;
    if (parsed && commands?.onVehicleCommand) return commands.onVehicleCommand(parsed.vehicleId, parsed.kind, payload);
    if (!parsed || parsed.kind !== 'telemetry') return this.deadLetter('unknown_topic', topic, 'not a telemetry topic', payload);
    try {
      const receivedAtMs = Date.now();
      const result = decodeTelemetry(payload, parsed.vehicleId);
      if (!result.ok) return this.deadLetter(result.reason, topic, result.detail, payload);
      let { batch } = result;
      const seen = this.sequences.observe(batch.vehicle, batch.seq);
      if (seen === 'duplicate') this.counters.duplicateBatches += 1;
      else if (seen === 'gap') this.counters.sequenceGaps += 1;
      const clock = splitByClock(batch.samples, sampleTime, receivedAtMs, this.clock);
      if (clock.skewed.length > 0) {
        this.counters.clockSkewedSamples += clock.skewed.length;
        const sentMs = batch.sentAt;
        const detail = describeClockSkew(clock.skewed.length, batch.samples.length, 'samples', clock.worstOffsetMs, this.clock, sentMs === undefined ? undefined : sentMs - receivedAtMs);
        this.deadLetter('clock_skew', topic, detail, payload);
        if (clock.plausible.length === 0) return undefined;
        batch = { ...batch, samples: [...clock.plausible] };
      }
      const closedBefore = this.windows.closedUpTo(batch.vehicle);
      const segment = this.spool.activeSegment;
      const lines = telemetryLines(batch);
      const { closed } = this.windows.add(batch.vehicle, batch.samples, segment, this.readingClock.now());
      let pending = this.append('t', lines, batch.vehicle, closedBefore);
      // Archived once durable in the spool (only then can the message be acknowledged).
      if (this.archive) {
        const archive = this.archive;
        if (pending) void pending.then(() => archive.add(batch.vehicle, batch.samples, segment), () => undefined);
        else archive.add(batch.vehicle, batch.samples, segment);
      }
      if (this.eventListeners.length > 0) this.emitEvents([{ type: 'samples', vehicle: batch.vehicle, samples: batch.samples }], pending);
      for (const window of closed) pending = this.emitWindow(window) ?? pending;
      this.counters.batchesAccepted += 1;
      this.counters.samplesAccepted += batch.samples.length;
      return pending;
    } catch (error) {
      return this.deadLetter('internal_error', topic, errorMessage(error), payload);
    }
  }

  private emitWindow(window: ClosedWindow<Sample>): Promise<void> | undefined {
    const features = computeFeatures(window.samples);
    const line = featureLine({ vehicle: window.vehicle, windowStartMs: window.startMs, windowEndMs: window.endMs, featureVersion: FEATURE_VERSION }, features);
    // The record lands in this segment or a later one: holding this one keeps it.
    const segment = this.spool.activeSegment;
    const pending = this.append('f', line, window.vehicle, this.windows.closedUpTo(window.vehicle));
    this.counters.featureWindows += 1;
    const event: FeatureWindow = { vehicle: window.vehicle, startMs: window.startMs, endMs: window.endMs, features, featureSetId: FEATURE_SET_ID, samples: window.samples };
    for (const listener of this.listeners) this.deliverWindow(listener, event, segment);
    return pending;
  }

  private closeIdleWindows(): void {
    if (this.stopped) return;
    for (const window of this.windows.closeIdle(this.readingClock.now())) void this.emitWindow(window);
    const apiLines = this.options.apiLogs?.tick(Date.now(), this.readingClock.now());
    if (apiLines) void this.append('f', apiLines);
  }

  /**
   * Appends in call order. Synchronous while there is room; once one append waits for room,
   * later ones queue behind it so the spool keeps the order of events.
   */
  private append(type: SpoolRecordType, body: string, vehicle?: string, closedUpTo?: number): Promise<void> | undefined {
    if (!this.tail) {
      const waiting = this.spool.append(type, body, vehicle, closedUpTo);
      if (!waiting) return undefined;
      this.tail = waiting;
      this.readingClock.hold();
    } else {
      this.tail = this.tail.then(() => this.spool.append(type, body, vehicle, closedUpTo));
    }
    const mine = this.tail;
    const settle = (): void => {
      if (this.tail !== mine) return;
      this.tail = undefined;
      this.readingClock.release();
      if (this.unstoredDeadLetters.size > 0 && !this.stopped) this.storeUnstoredDeadLetters();
    };
    void mine.then(settle, settle);
    return mine;
  }

  /**
   * Spools a dead letter, or keeps it in memory while the spool is not appending: the message it
   * stands for has no data to keep, so it is acknowledged either way.
   */
  private storeDeadLetter(line: string): void {
    if (this.tail) this.unstoredDeadLetters.add(line);
    else this.appendDeadLetter(line);
  }

  private storeUnstoredDeadLetters(): void {
    for (const line of this.unstoredDeadLetters.take()) this.appendDeadLetter(line);
  }

  private appendDeadLetter(line: string): void {
    const pending = this.append('d', line);
    if (!pending) return;
    // Waiting for the spool, in memory like the unstored ones; rejected only when the spool closes
    // before it could append (a stop on a full disk).
    this.deadLettersWaiting += 1;
    pending.then(
      () => (this.deadLettersWaiting -= 1),
      () => {
        this.deadLettersWaiting -= 1;
        this.deadLettersLeftAtStop += 1;
      },
    );
  }

  /** API-log batches go through the same spool and acknowledgement as telemetry (derived lines as `f` records). */
  private handleApiLogs(apiLogs: ApiLogProcessor, topic: string, payload: Buffer): Promise<void> | undefined {
    try {
      const result = apiLogs.handle(topic, payload, Date.now(), this.readingClock.now());
      if (result.ok) {
        if (result.clockSkew) this.deadLetter('clock_skew', topic, result.clockSkew.detail, Buffer.from(result.clockSkew.payload), 'apilogs');
        const pending = result.lines ? this.append('f', result.lines) : undefined;
        this.emitEvents(result.events, pending);
        return pending;
      }
      return this.deadLetter(result.reason, topic, result.detail, payload, 'apilogs');
    } catch (error) {
      return this.deadLetter('internal_error', topic, errorMessage(error), payload);
    }
  }

  /** Records a dead letter; the message it stands for can be acknowledged at once (see storeDeadLetter). */
  private deadLetter(reason: IngestDeadLetterReason, topic: string, detail: string, payload: Uint8Array, kind: 'telemetry' | 'apilogs' = 'telemetry'): undefined {
    this.counters.deadLetters += 1;
    this.deadLettersByReason[reason] = (this.deadLettersByReason[reason] ?? 0) + 1;
    this.log.warn('dead letter', { reason, topic, detail });
    this.storeDeadLetter(deadLetterLine({ reason, kind, topic, detail, payload, receivedAtMs: Date.now() }));
    return undefined;
  }

  stats(): IngestStats {
    return {
      ...this.counters,
      deadLettersByReason: { ...this.deadLettersByReason },
      deadLettersUnstored: this.unstoredDeadLetters.size + this.deadLettersWaiting,
      deadLettersLost: this.unstoredDeadLetters.dropped + this.deadLettersLeftAtStop,
      spool: this.spool.stats(),
      writer: this.forwarder.stats(),
      ...(this.archive ? { archive: this.archive.stats() } : {}),
      windows: this.windows.stats(Date.now()),
      mqttConnected: this.connection?.connected ?? false,
      connection: { ...(this.connection?.counters ?? { connects: 0, drops: 0, connectFailures: 0, refusals: 0 }) },
    };
  }

  /**
   * Stores derived points (line protocol, e.g. model scores) through the spool like features;
   * a promise when the spool is full. Not replayed into windows.
   */
  appendDerived(lines: string): Promise<void> | undefined {
    return this.append('f', lines);
  }

  /**
   * Publishes on the broker connection, QoS 1; false while not connected (before start, or while
   * reconnecting: the caller keeps it and tries again). A publish the connection loses before its
   * PUBACK is logged.
   */
  publish(topic: string, payload: Buffer): boolean {
    return (
      this.connection?.publish(topic, payload, { qos: 1 }, (error) => {
        if (error) this.log.warn('publish failed', { topic, error: errorMessage(error) });
      }) ?? false
    );
  }

  /** Adds metrics to /metrics, written on every scrape after ingest's own. */
  addMetrics(source: MetricsSource): void {
    this.metrics.addSource(source);
  }

  /** URL of the /healthz and /metrics server, when it runs. */
  get httpUrl(): string | undefined {
    return this.http?.url;
  }

  health(): Health {
    const s = this.stats();
    const blocked = s.spool.blockedAppends > 0;
    const spool = spoolHealth(s.spool, this.spoolLimits);
    const status = !s.mqttConnected || blocked ? 'unavailable' : s.writer.failing || spool.warning ? 'degraded' : 'ok';
    const reason = spool.blocking ?? spool.warning ?? (s.writer.failing ? `InfluxDB failing, data is spooled: ${s.writer.lastError ?? ''}` : undefined);
    return {
      status,
      ...(reason !== undefined ? { reason } : {}),
      mqttConnected: s.mqttConnected,
      // Why it is not connected, e.g. `refused (not authorized), retrying in 4 s`.
      mqtt: this.connection?.describe() ?? 'not started',
      influx: s.writer.failing ? `failing: ${s.writer.lastError ?? ''}` : 'ok',
      spoolBytes: s.spool.bytes,
      spoolPendingBytes: s.spool.pendingBytes,
      spoolBlocked: blocked,
      spoolDiskFreeBytes: s.spool.diskFreeBytes,
    };
  }

  /** Prometheus text of `/metrics`. */
  metricsText(): Promise<string> {
    return this.metrics.text();
  }

  private writeMetrics(m: ScrapeMetrics): void {
    const s = this.stats();
    m.counter('messages_in_total', 'MQTT messages received', s.messagesIn)
      .counter('batches_accepted_total', 'Telemetry batches accepted', s.batchesAccepted)
      .counter('samples_accepted_total', 'Telemetry samples accepted', s.samplesAccepted)
      .counter('dead_letters_total', 'Messages dead-lettered, by reason', Object.entries(s.deadLettersByReason).map(([reason, n]) => [{ reason }, n] as [Record<string, string>, number]))
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
      .gauge('windows_held', 'Closed windows whose feature records the spool keeps until scoring is done with them', [...this.windowHolds.values()].reduce((a, b) => a + b, 0))
      .gauge('open_windows', 'Windows currently open', s.windows.openWindows)
      .gauge('window_vehicles', 'Vehicles with window state', s.windows.vehicles)
      .gauge('window_buffered_samples', 'Samples held in open windows', s.windows.bufferedSamples)
      .gauge('watermark_lag_seconds', 'Largest processing time minus watermark over vehicles with open windows', s.windows.maxWatermarkLagMs / 1000)
      .gauge('spool_bytes', 'Bytes in the spool on disk', s.spool.bytes)
      .gauge('spool_pending_bytes', 'Spooled bytes not yet written to InfluxDB', s.spool.pendingBytes)
      .gauge('spool_segments', 'Spool segment files', s.spool.segments)
      .counter('spool_full_waits_total', 'Times an acknowledgement waited for spool space', s.spool.fullWaits)
      .counter('spool_write_errors_total', 'Spool writes the file system refused (disk full, I/O error); each is retried, acknowledgements wait', s.spool.writeErrors)
      .gauge('spool_write_failing', '1 while spool writes fail and acknowledgements are held', s.spool.writeError !== undefined ? 1 : 0)
      .gauge('spool_disk_free_bytes', 'Free bytes on the spool\'s file system', s.spool.diskFreeBytes)
      .gauge('spool_disk_low', '1 while free space under the spool is below the low-disk watermark', s.spool.lowDisk ? 1 : 0)
      .gauge('dead_letters_unstored', 'Dead letters kept in memory until the spool appends again', s.deadLettersUnstored)
      .counter('dead_letters_lost_total', 'Dead letters never stored (dropped at the in-memory bound, or left at a stop on a full disk)', s.deadLettersLost)
      .counter('spool_retention_overrides_total', 'Times a full spool freed segments still needed by open windows', s.spool.retentionOverrides)
      .counter('spool_appended_bytes_total', 'Bytes appended to the spool', s.spool.appendedBytes)
      .counter('influx_writes_total', 'Successful InfluxDB writes', s.writer.writes)
      .counter('influx_write_failures_total', 'Failed InfluxDB writes (retried)', s.writer.writeFailures)
      .counter('influx_points_written_total', 'Points written to InfluxDB', s.writer.linesWritten)
      .counter('influx_rejected_chunks_total', 'Chunks InfluxDB rejected as malformed', s.writer.rejectedChunks)
      .histogram(this.forwarder.writeSeconds)
      .gauge('mqtt_connected', '1 while connected to the broker', s.mqttConnected ? 1 : 0);
    if (this.eventListeners.length > 0) m.counter('event_listener_failures_total', 'Ingest event listeners (dashboard) that threw', this.eventListenerFailures);
    if (s.archive) {
      m.counter('archive_rows_written_total', 'Samples written to the Parquet archive (repeats after a restart included)', s.archive.rowsWritten)
        .counter('archive_files_written_total', 'Parquet archive files completed', s.archive.filesWritten)
        .counter('archive_bytes_written_total', 'Bytes of Parquet archive files completed', s.archive.bytesWritten)
        .counter('archive_write_failures_total', 'Failed archive file writes (rows kept and retried)', s.archive.writeFailures)
        .counter('archive_rows_dropped_total', 'Archive rows dropped at the buffer bound after failed writes', s.archive.rowsDropped)
        .gauge('archive_rows_buffered', 'Samples waiting for the next archive file', s.archive.rowsBuffered);
    }
    const api = this.options.apiLogs?.stats();
    if (api) {
      m.counter('api_log_lines_total', 'API access-log lines received', api.lines)
        .counter('api_requests_total', 'API requests aggregated (after dedup)', api.requests)
        .counter('api_duplicate_lines_total', 'API log lines dropped as already seen (request id)', api.duplicates)
        .counter('api_malformed_lines_total', 'API log lines that did not parse', api.malformedLines)
        .counter('api_forgotten_ids_total', 'Request ids evicted from the dedup set at its bound', api.forgottenIds)
        .counter('api_late_requests_total', 'API requests later than their window (not aggregated)', api.windows.lateRequests)
        .counter('api_clock_skewed_lines_total', 'API log lines refused for a time too far ahead of or behind their arrival (clock_skew dead letters)', api.clockSkewedLines)
        .counter('api_clock_jumps_followed_total', 'Forward clock jumps of a log source followed after a confirming run of lines', api.windows.clockJumpsFollowed)
        .counter('api_clock_jump_requests_discarded_total', 'API requests of unconfirmed forward clock jumps not aggregated', api.windows.clockJumpRequestsDiscarded)
        .counter('api_forced_window_closes_total', 'API windows closed early at the open-cell bound', api.windows.forcedCloses)
        .gauge('api_open_cells', 'Open API window cells', api.windows.openCells)
        .counter('api_detections_total', 'Abuse detections', api.detections)
        .gauge('api_blocklist_entries', 'Entries on the API blocklist', api.blocklist.entries)
        .counter('api_blocklist_evicted_total', 'Blocklist entries dropped at its bound', api.blocklist.evicted);
    }
  }

  /** Resolves once everything received so far is written to InfluxDB (or dead-lettered there). */
  async flush(): Promise<void> {
    for (const listener of this.listeners) await listener.flush?.();
    await this.tail;
    await this.forwarder.flush();
  }

  private lastLogged = { messagesIn: 0, samplesAccepted: 0, at: Date.now() };

  private logStats(): void {
    const s = this.stats();
    const seconds = (Date.now() - this.lastLogged.at) / 1000;
    this.log.info('ingest stats', {
      msgPerS: Math.round((s.messagesIn - this.lastLogged.messagesIn) / seconds),
      samplesPerS: Math.round((s.samplesAccepted - this.lastLogged.samplesAccepted) / seconds),
      samplesTotal: s.samplesAccepted,
      deadLetters: s.deadLetters,
      openWindows: s.windows.openWindows,
      lateSamples: s.windows.lateSamples,
      spoolPendingBytes: s.spool.pendingBytes,
      writeFailures: s.writer.writeFailures,
    });
    this.lastLogged = { messagesIn: s.messagesIn, samplesAccepted: s.samplesAccepted, at: Date.now() };
  }

  /**
   * Graceful stop: no new messages, spooled data written to InfluxDB (bounded by
   * `drainTimeoutMs`; the rest stays spooled for the next start). Open telemetry windows are not
   * closed early: the spool keeps their samples and the next start rebuilds them. Open API-log
   * windows are written provisionally and saved for the next start (see the module comment).
   */
  async stop(drainTimeoutMs = 10_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    // Before the broker connection ends: listeners may still publish (alerts).
    for (const listener of this.listeners) await listener.flush?.().catch((error: unknown) => this.log.error('window listener flush failed', { error: errorMessage(error) }));
    // While an acknowledgement is held mqtt.js reads nothing, so acknowledgements of our own
    // publishes cannot arrive: end without waiting for them then.
    await this.connection?.stop(undefined, 2000, this.tail !== undefined);
    if (this.tail && !(await settlesWithin(this.tail, drainTimeoutMs))) {
      this.log.warn('spool still not appending at stop: held messages stay unacknowledged, the broker redelivers them', { writeError: this.spool.stats().writeError });
    }
    if (this.unstoredDeadLetters.size > 0) {
      if (this.tail) this.deadLettersLeftAtStop += this.unstoredDeadLetters.take().length;
      else this.storeUnstoredDeadLetters();
    }
    this.saveApiLogWindows();
    this.archive?.close();
    await this.forwarder.stop(drainTimeoutMs);
    this.spool.close();
    await this.http?.close();
    this.log.info('ingest stopped', { samplesAccepted: this.counters.samplesAccepted, deadLetters: this.counters.deadLetters, deadLettersLost: this.stats().deadLettersLost });
  }
}

/** True when `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const abort = new AbortController();
  const settled = await Promise.race([promise.then(() => true, () => true), sleep(ms, abort.signal).then(() => false)]);
  abort.abort();
  return settled;
}

const sampleTime = (sample: Sample): number => sample.t;

function describeShards(shards: readonly number[]): string {
  if (shards.length === 0) return 'none';
  const first = shards[0]!;
  const last = shards[shards.length - 1]!;
  return shards.length === last - first + 1 ? `${first}-${last}` : shards.join(',');
}
