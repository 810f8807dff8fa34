/**
 * Ingest: one broker session, one write-ahead spool, and the streams that turn messages into
 * what is stored (streams/ingest-stream.ts is the seam; telemetry, the archive and API logs are
 * its built-in implementations, and `IngestOptions.streams` adds more).
 *
 *   MQTT (persistent session, QoS 1) ─▶ first stream that accepts the topic ─▶ handle() ─▶ StreamResult:
 *     ├─▶ dead letters ──┐
 *     ├─▶ records ───────┴─▶ OrderedSpool ─▶ DiskSpool (WAL) ─▶ SpoolForwarder ─▶ InfluxDB
 *     │                                          └─ durable ─▶ PUBACK, durable(), events ─▶ addEventListener
 *     └─▶ appended()  (telemetry: closed windows ─▶ addWindowListener, e.g. scoring)
 *   timer ─▶ tick()    start ─▶ replay(spool)    /metrics ─▶ metrics()    stop ─▶ flush(), stop()
 *
 * Delivery: a message is acknowledged (PUBACK) only after its records are in the spool (see
 * DiskSpool for what survives what). Appending is a synchronous write(2) of a few hundred bytes,
 * so mqtt.js, which handles one packet at a time, is not serialised on InfluxDB round trips;
 * InfluxDB is fed from the spool asynchronously. When the spool is full, or its disk is (a write
 * fails), the acknowledgement waits and the append is retried until it succeeds: mqtt.js stops
 * reading, the broker holds further messages, and the session is kept alive meanwhile
 * (broker-session.ts). `/healthz` says why. A dead letter that cannot be spooled then is kept in
 * memory (bounded, counted) and spooled when the spool appends again (spool/ordered-spool.ts).
 *
 * Restart: every retained spool record is written to InfluxDB again (idempotent keys), and every
 * stream replays the spool before the first message (the telemetry stream rebuilds its open
 * windows from it). Messages not acknowledged are redelivered by the broker's persistent session.
 * Stop: streams flush their listeners while the broker is still connected, and what a stream
 * returns from `stop` (the API-log windows open now) is stored before the spool closes.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from '../common/backoff.ts';
import { errorMessage } from '../common/errors.ts';
import { type Logger, silentLogger } from '../common/logger.ts';
import { type MetricsSource, type ScrapeMetrics, ServiceMetrics } from '../common/metrics.ts';
import type { MqttConnection } from '../common/mqtt-connection.ts';
import { brokerSession } from './broker-session.ts';
import { startIngestHttpServer, type Health, type RunningHttpServer } from './http/ingest-http-server.ts';
import { deadLetterLine } from './influxdb/line-protocol.ts';
import { statsLine, writeServiceMetrics, type StatsMark } from './ingest-metrics.ts';
import type { IngestOptions, IngestStats } from './ingest-options.ts';
import type { IngestEvent, IngestEventListener } from './ingest-events.ts';
import { EventFanout } from './event-fanout.ts';
import { DiskSpool } from './spool/disk-spool.ts';
import { OrderedSpool } from './spool/ordered-spool.ts';
import { SpoolForwarder } from './spool/spool-forwarder.ts';
import { spoolHealth } from './spool/spool-health.ts';
import { builtInStreams } from './streams/built-in-streams.ts';
import type { IngestDeadLetterReason, IngestStream, StreamContext, StreamResult } from './streams/ingest-stream.ts';
import type { TelemetryStream } from './streams/telemetry-stream.ts';
import type { WindowListener } from './streams/window-listener.ts';
import { ReadingClock } from './windows/reading-clock.ts';

export type { IngestOptions, IngestStats } from './ingest-options.ts';
export type { IngestDeadLetterReason, IngestStream } from './streams/ingest-stream.ts';
export { windowKey, type FeatureWindow, type WindowListener } from './streams/window-listener.ts';

export class IngestService {
  private readonly log: Logger;
  private readonly spool: DiskSpool;
  private readonly ordered: OrderedSpool;
  private readonly spoolLimits: { maxBytes: number; lowDiskBytes: number };
  private readonly forwarder: SpoolForwarder;
  private readonly streams: readonly IngestStream[];
  private readonly telemetry: TelemetryStream;
  private readonly context: StreamContext;
  private readonly events: EventFanout;
  private readonly metrics = new ServiceMetrics('fleetpulse_ingest');
  private connection: MqttConnection | undefined;
  private http: RunningHttpServer | undefined;
  private timers: NodeJS.Timeout[] = [];
  private counters = { messagesIn: 0, deadLetters: 0 };
  private readonly deadLettersByReason: Partial<Record<IngestDeadLetterReason, number>> = {};
  /** Idle timeouts run on it: time spent holding acknowledgements is not idle time. */
  private readonly readingClock = new ReadingClock();
  private stopped = false;

  constructor(private readonly options: IngestOptions) {
    this.log = options.logger ?? silentLogger;
    this.events = new EventFanout(this.log);
    const spoolDir = options.spoolDir ?? mkdtempSync(join(tmpdir(), `fleetpulse-spool-${options.clientId}-`));
    if (!options.spoolDir) this.log.warn('no spool directory configured: using a temporary one that does not survive restarts', { spoolDir });
    this.spoolLimits = { maxBytes: options.spoolMaxBytes ?? 1024 * 1024 * 1024, lowDiskBytes: options.spoolLowDiskBytes ?? 512 * 1024 * 1024 };
    this.spool = new DiskSpool({
      dir: spoolDir,
      maxBytes: this.spoolLimits.maxBytes,
      segmentBytes: options.spoolSegmentBytes ?? 8 * 1024 * 1024,
      fsync: options.spoolFsync ?? 'interval',
      fsyncIntervalMs: options.spoolFsyncIntervalMs ?? 1000,
      lowDiskBytes: this.spoolLimits.lowDiskBytes,
      logger: this.log.child('spool'),
    });
    this.ordered = new OrderedSpool(this.spool, this.readingClock);
    this.forwarder = new SpoolForwarder({
      spool: this.spool,
      influxUrl: options.influxUrl,
      database: options.influxDatabase,
      batchBytes: options.writeBatchBytes ?? (options.batchSize ? Math.max(16 * 1024, options.batchSize * 128) : 1024 * 1024),
      flushIntervalMs: options.flushIntervalMs,
      ...(options.retention ? { retention: options.retention } : {}),
      logger: this.log.child('writer'),
    });
    ({ telemetry: this.telemetry, all: this.streams } = builtInStreams(options, spoolDir, this.log));
    this.context = {
      shards: options.shards,
      readingNow: () => this.readingClock.now(),
      spoolSegment: () => this.spool.activeSegment,
      eventsWanted: () => this.events.size > 0,
      broker: () => this.connection,
    };
    this.spool.retentionFloor = () => Math.min(...this.streams.map((stream) => stream.retentionFloor?.() ?? Infinity));
    this.metrics.addSource((m) => this.writeMetrics(m));
  }

  /** Adds a consumer of closed telemetry windows (e.g. the anomaly scorer); before `start`. */
  addWindowListener(listener: WindowListener): void {
    this.telemetry.addWindowListener(listener);
  }

  /** Adds an observer of what ingest accepts and decides (ingest-events.ts says when it is called). */
  addEventListener(listener: IngestEventListener): void {
    this.events.add(listener);
  }

  /** Hands events to the observers once `after` (the spool append behind them) has resolved. */
  emitEvents(events: readonly IngestEvent[], after?: Promise<void>): void {
    this.events.emit(events, after);
  }

  /** Replays the spool into the streams, starts writing to InfluxDB (retrying while it is down) and consuming. */
  async start(): Promise<void> {
    this.readingClock.hold('broker'); // until the first CONNACK
    for (const stream of this.streams) for (const result of stream.replay?.(this.spool, this.context) ?? []) void this.store(result, stream.name);
    // Readers may query before the first point arrives; an unreachable InfluxDB does not hold up
    // consuming (the spool takes the data, the writer creates the database when it can).
    if (!(await this.forwarder.createDatabase(2000))) this.log.warn('InfluxDB not reachable yet; spooling until it is', { url: this.options.influxUrl });
    this.forwarder.start();
    if (this.options.httpPort !== undefined) {
      this.http = await startIngestHttpServer(this, this.options.httpHost ?? '127.0.0.1', this.options.httpPort);
      this.log.info('metrics and health', { url: this.http.url });
    }
    this.connection = brokerSession({
      url: this.options.mqttUrl,
      clientId: this.options.clientId,
      username: this.options.username,
      password: this.options.password,
      keepaliveS: this.options.keepaliveS ?? 30,
      reconnectMinMs: this.options.reconnectMinMs ?? 500,
      reconnectMaxMs: this.options.reconnectMaxMs ?? 5000,
      logger: this.log,
      shards: this.options.shards,
      filters: (newSession) => this.streams.flatMap((stream) => stream.filters?.(this.options.shards, newSession) ?? []),
      handle: (topic, payload) => this.handleMessage(topic, payload),
      accepting: () => !this.stopped,
      // Idle timeouts count only time in which messages could arrive (windows/reading-clock.ts).
      onUp: () => this.readingClock.release('broker'),
      onDown: () => this.readingClock.hold('broker'),
    });
    for (const stream of this.streams) stream.start?.(this.context);
    this.connection.start();
    this.every(Math.min(1000, Math.max(50, (this.options.idleTimeoutMs ?? 60_000) / 4)), () => this.tick());
    if (this.options.statsIntervalMs) this.every(this.options.statsIntervalMs, () => this.logStats());
  }

  /** Returns a promise only when the message waits for the spool (acknowledge after it). */
  private handleMessage(topic: string, payload: Buffer): Promise<void> | undefined {
    this.counters.messagesIn += 1;
    const stream = this.streams.find((candidate) => candidate.accepts?.(topic));
    if (!stream?.handle) return this.deadLetter('unknown_topic', 'unknown', topic, 'no ingest stream consumes this topic', payload);
    try {
      const result = stream.handle(topic, payload, this.context);
      return result && this.store(result, stream.name, topic);
    } catch (error) {
      return this.deadLetter('internal_error', stream.name, topic, errorMessage(error), payload);
    }
  }

  /** Does what a stream's result asks, in the order the seam promises (streams/ingest-stream.ts). */
  private store(result: StreamResult, kind: string, topic = ''): Promise<void> | undefined {
    if (result.deadLetters) for (const letter of result.deadLetters) this.deadLetter(letter.reason, kind, topic, letter.detail, letter.payload);
    let pending: Promise<void> | undefined;
    if (result.records) for (const record of result.records) pending = this.ordered.append(record.type, record.body, record.vehicle, record.closedUpTo) ?? pending;
    result.appended?.();
    const { durable, events } = result;
    if (durable) {
      if (pending) void pending.then(durable, () => undefined);
      else durable();
    }
    if (events) this.events.emit(events, pending);
    if (!result.ackAfter) return pending;
    return pending ? Promise.all([pending, result.ackAfter]).then(() => undefined) : result.ackAfter;
  }

  /** Records a dead letter; the message it stands for can be acknowledged at once (see OrderedSpool). */
  private deadLetter(reason: IngestDeadLetterReason, kind: string, topic: string, detail: string, payload: Uint8Array): undefined {
    this.counters.deadLetters += 1;
    this.deadLettersByReason[reason] = (this.deadLettersByReason[reason] ?? 0) + 1;
    this.log.warn('dead letter', { reason, topic, detail });
    this.ordered.deadLetter(deadLetterLine({ reason, kind, topic, detail, payload, receivedAtMs: Date.now() }));
    return undefined;
  }

  private tick(): void {
    if (this.stopped) return;
    for (const stream of this.streams) {
      const result = stream.tick?.(this.context);
      if (result) void this.store(result, stream.name);
    }
  }

  private every(ms: number, run: () => void): void {
    const timer = setInterval(run, ms);
    timer.unref();
    this.timers.push(timer);
  }

  stats(): IngestStats {
    const own = {
      ...this.counters,
      deadLettersByReason: { ...this.deadLettersByReason },
      deadLettersUnstored: this.ordered.deadLettersUnstored,
      deadLettersLost: this.ordered.deadLettersLost,
      spool: this.spool.stats(),
      writer: this.forwarder.stats(),
      mqttConnected: this.connection?.connected ?? false,
      connection: { ...(this.connection?.counters ?? { connects: 0, drops: 0, connectFailures: 0, refusals: 0 }) },
    };
    // The built-in telemetry stream is always there, so its fields are (IngestStats).
    return Object.assign(own, ...this.streams.map((stream) => stream.stats?.() ?? {})) as IngestStats;
  }

  /**
   * Stores derived points (line protocol, e.g. model scores) through the spool like features;
   * a promise when the spool is full. Not replayed into windows.
   */
  appendDerived(lines: string): Promise<void> | undefined {
    return this.ordered.append('f', lines);
  }

  /**
   * Publishes on the broker connection, QoS 1; false while not connected (before start, or while
   * reconnecting: the caller keeps it and tries again). A publish the connection loses before its
   * PUBACK is logged; `acknowledged` hears the PUBACK (or that error).
   */
  publish(topic: string, payload: Buffer, acknowledged?: (error?: Error) => void): boolean {
    return (
      this.connection?.publish(topic, payload, { qos: 1 }, (error) => {
        if (error) this.log.warn('publish failed', { topic, error: errorMessage(error) });
        acknowledged?.(error);
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

  /** The service's own metrics, then every stream's (in stream order). */
  private writeMetrics(m: ScrapeMetrics): void {
    writeServiceMetrics(m, this.stats(), this.forwarder.writeSeconds);
    if (this.events.size > 0) m.counter('event_listener_failures_total', 'Ingest event listeners (dashboard) that threw', this.events.failures);
    for (const stream of this.streams) stream.metrics?.(m);
  }

  /** Resolves once everything received so far is written to InfluxDB (or dead-lettered there). */
  async flush(): Promise<void> {
    for (const stream of this.streams) await stream.flush?.();
    await this.ordered.tail;
    await this.forwarder.flush();
  }

  private lastLogged: StatsMark = { messagesIn: 0, samplesAccepted: 0, at: Date.now() };

  private logStats(): void {
    const { fields, mark } = statsLine(this.stats(), this.lastLogged);
    this.log.info('ingest stats', fields);
    this.lastLogged = mark;
  }

  /**
   * Graceful stop: no new messages, spooled data written to InfluxDB (bounded by
   * `drainTimeoutMs`; the rest stays spooled for the next start). Open telemetry windows are not
   * closed early: the spool keeps their samples and the next start rebuilds them. What streams
   * return from `stop` (open API-log windows, written provisionally) is stored if the spool appends.
   */
  async stop(drainTimeoutMs = 10_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.ordered.beginStop();
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    // Before the broker connection ends: listeners may still publish (alerts).
    for (const stream of this.streams) await stream.flush?.().catch((error: unknown) => this.log.error('ingest stream flush failed', { stream: stream.name, error: errorMessage(error) }));
    // While an acknowledgement is held mqtt.js reads nothing, so acknowledgements of our own
    // publishes cannot arrive: end without waiting for them then.
    await this.connection?.stop(undefined, 2000, this.ordered.tail !== undefined);
    const tail = this.ordered.tail;
    if (tail && !(await settlesWithin(tail, drainTimeoutMs))) {
      this.log.warn('spool still not appending at stop: held messages stay unacknowledged, the broker redelivers them', { writeError: this.spool.stats().writeError });
    }
    this.ordered.settleDeadLetters();
    for (const stream of this.streams) {
      const result = stream.stop?.(this.context);
      if (!result?.records?.length) continue;
      if (this.ordered.tail) this.log.warn(`spool not appending at stop: what the ${stream.name} stream had open is only saved, not written`);
      else void this.store(result, stream.name)?.catch(() => undefined);
    }
    await this.forwarder.stop(drainTimeoutMs);
    this.spool.close();
    await this.http?.close();
    this.log.info('ingest stopped', { samplesAccepted: this.stats().samplesAccepted, deadLetters: this.counters.deadLetters, deadLettersLost: this.ordered.deadLettersLost });
  }
}

/** True when `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const abort = new AbortController();
  const settled = await Promise.race([promise.then(() => true, () => true), sleep(ms, abort.signal).then(() => false)]);
  abort.abort();
  return settled;
}
