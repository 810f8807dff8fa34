/**
 * The vehicle agent: takes samples from a source, groups them into batches, stores each batch in
 * its BatchStore (store-and-forward) and publishes it with QoS 1 on the vehicle's telemetry topic.
 *
 * Guarantees at this seam (docs/agent.md has the design):
 * - A batch is published only after the store accepted it (disk store: committed and fsynced),
 *   and leaves the store only when the broker acknowledged it (PUBACK); `ack` fires then, once.
 * - Event times strictly increase across the batches of one run; a sample that would go back in
 *   time is refused and counted, because ingest keys samples by (vehicle, event time) and it
 *   would overwrite another. Across restarts a first sample older than the buffer's last one is
 *   only logged (replays may repeat times on purpose; a live car's clock may be behind).
 * - At most `maxInflight` batches are on the wire at once, so a slow broker holds data in the
 *   bounded store, not in the MQTT client's unbounded queue.
 * - At the store's bound the oldest batches not on the wire are dropped and counted (`dropped`).
 * - Drain policy: what is in the store when a connection comes up is the backlog; it is sent
 *   oldest first at most `drainSamplesPerS`, while the source keeps sampling into the store.
 *   `drainOrder` 'in-order' (default): batches built meanwhile queue behind the backlog, so ingest
 *   sees the vehicle's data in event-time order and computes windows, features and scores for the
 *   outage too. 'live-first': they go first whenever a slot is free, so live data never waits, but
 *   the backlog then arrives behind ingest's watermark: stored raw, not in windows.
 * - `stop()` closes the current batch and waits up to `drainTimeoutMs` for everything to be
 *   acknowledged, then publishes an `offline` status and disconnects. What is left stays in a
 *   disk store for the next start.
 * - The car's diagnosis (a source's health readings) travels beside telemetry on the health
 *   topic through its own store with the same guarantees (agent/health-publisher.ts).
 */
import { EventEmitter } from 'node:events';
import type { MqttClient } from 'mqtt';
import { EngineRunClock } from '../contracts/derived-signals.ts';
import { encodeTelemetry, type Sample, type TelemetryBatch } from '../contracts/telemetry.ts';
import { topics } from '../contracts/topics.ts';
import type { VehicleHealthEvent } from '../contracts/vehicle-health.ts';
import { type Logger, silentLogger } from '../common/logger.ts';
import { type ConnectionTls, MqttConnection } from '../common/mqtt-connection.ts';
import { encodeAgentStatus } from './agent-status.ts';
import { type ClockCheckOptions, ClockMonitor, type ClockState } from './clock-sync.ts';
import type { BatchStore, DropReport, StoredBatch } from './batch-store.ts';
import { HealthPublisher, type HealthPublisherStats } from './health-publisher.ts';
import { MemoryBatchStore } from './memory-batch-store.ts';
import type { HealthReading, TelemetrySource } from './telemetry-source.ts';

export interface AgentOptions {
  vehicleId: string;
  mqttUrl: string;
  source: TelemetrySource;
  batchIntervalMs: number;
  maxBatchSamples: number;
  /** Where batches wait for their PUBACK; default an in-memory store bounded by `outboxSamples`. The agent closes it on stop. */
  store?: BatchStore;
  /** Bound of the default in-memory store, in samples. */
  outboxSamples?: number;
  /** Where health events wait for their PUBACK; default an in-memory store of HEALTH_MEMORY_EVENTS events. The agent closes it on stop. */
  healthStore?: BatchStore<VehicleHealthEvent>;
  /** Backlog drain rate after an outage, samples per second. */
  drainSamplesPerS?: number;
  /** Whether batches built during a drain wait behind the backlog (default) or overtake it. */
  drainOrder?: 'in-order' | 'live-first';
  maxInflight?: number;
  drainTimeoutMs?: number;
  username?: string;
  password?: string;
  /** CA / client certificate for mqtts:// and wss:// (PEM contents). */
  tls?: ConnectionTls;
  keepaliveS?: number;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** How often the counters are logged (ms; 0 = never). */
  statsIntervalMs?: number;
  /** How often backlog drain progress is logged (ms). */
  progressIntervalMs?: number;
  logger?: Logger;
  /** Wire encoding of a batch (default: the JSON form); agent/payload-encoding.ts has the choices. */
  encode?: (batch: TelemetryBatch) => Buffer;
  /**
   * Stamp every publish with the agent's clock (`sentAt`, contracts/telemetry.ts) so ingest can measure
   * the clock's skew. Default true; false only while an ingest older than the field still runs.
   */
  sendTime?: boolean;
  /** How the clock's synchronisation is checked (agent/clock-sync.ts); false: not at all. */
  clock?: (ClockCheckOptions & { intervalMs?: number }) | false;
  /**
   * Called with every new MQTT client right after it is created, i.e. once per connection
   * attempt (the agent uses a fresh client per connection; see common/mqtt-connection.ts).
   * Subscribe in the client's `connect` handler (remote config, alerts: agent/remote-config.ts).
   */
  onClient?: (client: MqttClient) => void;
}

/** What can change while the agent runs (remote configuration). */
export interface AgentLiveSettings {
  batchIntervalMs?: number;
  maxBatchSamples?: number;
  encode?: (batch: TelemetryBatch) => Buffer;
}

export interface AgentStats extends HealthPublisherStats {
  vehicleId: string;
  connected: boolean;
  /** Why it is not connected, e.g. `refused (not authorized), retrying in 4 s`; `connected` when it is. */
  mqtt: string;
  /** Whether the clock is synchronised (agent/clock-sync.ts); `unknown` when it cannot be told or is not checked. */
  clock: ClockState;
  store: 'disk' | 'memory';
  samplesProduced: number;
  /** Samples refused because their event time did not increase. */
  samplesOutOfOrder: number;
  batchesBuilt: number;
  samplesBuffered: number;
  /** Publishes sent (a batch resent after a reconnect counts again). */
  batchesPublished: number;
  batchesAcked: number;
  samplesAcked: number;
  batchesDropped: number;
  samplesDropped: number;
  /** Batches the store could not take at all; their samples are lost (a disk store holds them in memory instead). */
  storeFailures: number;
  /** Disk store: its last write failed (disk full); new batches are held in memory and published from there. */
  diskFull: boolean;
  /** Disk store: free space below the low-disk watermark. */
  diskLow: boolean;
  diskFreeBytes?: number;
  batchesHeldInMemory: number;
  samplesHeldInMemory: number;
  /** Batches ever held in memory because the disk refused them. */
  batchesHeldInMemoryTotal: number;
  queuedBatches: number;
  queuedSamples: number;
  queuedBytes: number;
  backlogSamples: number;
  connects: number;
  /** Established connections lost (the broker went away, the network dropped). */
  disconnects: number;
  connectFailures: number;
  /** Attempts the broker refused (CONNACK with an error code); part of connectFailures. */
  connectRefusals: number;
}

export interface AgentEvents {
  ack: [batch: TelemetryBatch];
  dropped: [report: DropReport];
}

const DEFAULT_DRAIN_SAMPLES_PER_S = 500;
/** Bound of the default in-memory health store, in events (a day of changes every few minutes). */
export const HEALTH_MEMORY_EVENTS = 1000;

export class Agent extends EventEmitter<AgentEvents> {
  private readonly store: BatchStore;
  private readonly log: Logger;
  private readonly topic: string;
  private readonly connection: MqttConnection;
  private readonly clock: ClockMonitor | undefined;
  /** The car's diagnosis, on its own topic and store. */
  readonly health: HealthPublisher;
  private current: Sample[] = [];
  private nextSeq: number;
  private lastT: number | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private progressTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private counters = { samplesProduced: 0, samplesOutOfOrder: 0, batchesBuilt: 0, samplesBuffered: 0, batchesPublished: 0, batchesAcked: 0, samplesAcked: 0, storeFailures: 0 };
  private stopping = false;
  private closed = false;
  private started = false;
  /** Changes with every connection, so callbacks of an old one do not touch the new one's state. */
  private epoch = 0;
  private readonly inflight = new Set<number>();
  private drain = { end: -1, cursor: -1, liveCursor: -1, remaining: 0, startedAt: 0, total: 0, tokens: 0, refilledAt: 0, sentSinceProgress: 0, progressAt: 0 };

  constructor(private readonly options: AgentOptions) {
    super();
    this.store = options.store ?? new MemoryBatchStore(options.outboxSamples ?? 100_000);
    this.log = (options.logger ?? silentLogger).child(options.vehicleId);
    this.topic = topics.telemetry(options.vehicleId);
    this.nextSeq = this.store.nextSeq;
    this.health = new HealthPublisher({ vehicleId: options.vehicleId, store: options.healthStore ?? new MemoryBatchStore<VehicleHealthEvent>(HEALTH_MEMORY_EVENTS), logger: this.log });
    this.clock =
      options.clock === false
        ? undefined
        : new ClockMonitor(options.clock ?? {}, this.log, () => {
            // The retained status says whether the clock can be trusted: refresh it.
            const client = this.connection?.client;
            if (client) this.publishOnline(client);
          });
    const statusTopic = topics.status(options.vehicleId);
    const username = options.username;
    this.connection = new MqttConnection({
      url: options.mqttUrl,
      // The broker binds client ids to identities (broker/client-id-binding.ts).
      clientId: username && username !== options.vehicleId ? `${username}:agent-${options.vehicleId}` : `agent-${options.vehicleId}`,
      ...(username !== undefined ? { username } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
      ...(options.tls ? { tls: options.tls } : {}),
      keepaliveS: options.keepaliveS ?? 30,
      reconnectMinMs: options.reconnectMinMs ?? 500,
      reconnectMaxMs: options.reconnectMaxMs ?? 30_000,
      will: () => ({ topic: statusTopic, payload: encodeAgentStatus(options.vehicleId, 'offline', { reason: 'connection-lost', clock: this.clock?.status.state }), retain: true, qos: 1 }),
      onUp: (client) => this.onUp(client),
      onDown: () => this.onDown(),
      onClient: (client) => options.onClient?.(client),
      logger: this.log,
    });
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const queued = this.store.stats();
    if (queued.queuedBatches > 0) {
      this.log.info('buffer holds batches from before this start', { batches: queued.queuedBatches, samples: queued.queuedSamples, nextSeq: this.nextSeq });
    }
    void this.clock?.start();
    this.connection.start();
    await this.options.source.start(
      (sample) => this.onSample(sample),
      (reading) => this.onHealth(reading),
    );
    this.flushTimer = setInterval(() => this.closeBatch(), this.options.batchIntervalMs);
    const statsMs = this.options.statsIntervalMs ?? 60_000;
    if (statsMs > 0) this.statsTimer = setInterval(() => this.log.info('agent counters', { ...this.stats() }), statsMs);
    this.progressTimer = setInterval(() => this.logProgress(), this.options.progressIntervalMs ?? 5000);
  }

  /** RUN_TIME for cars that do not report PID 1F (contracts/derived-signals.ts). */
  private readonly runClock = new EngineRunClock();

  private onSample(sample: Sample): void {
    if (this.stopping) return;
    if (this.lastT === undefined) {
      const stored = this.store.lastEventTime;
      // Not refused: a replay with its own time stamps may legitimately send the same times again
      // (ingest overwrites them idempotently). For a live source it means the clock is behind.
      if (stored !== undefined && sample.t <= stored) {
        this.log.warn('first sample is not newer than the last one buffered before this start: clock behind (no RTC/NTP yet?) or a replay; equal event times overwrite earlier samples in InfluxDB', { t: sample.t, lastBufferedT: stored });
      }
    }
    if (this.lastT !== undefined && sample.t <= this.lastT) {
      this.counters.samplesOutOfOrder += 1;
      if (this.counters.samplesOutOfOrder === 1 || this.counters.samplesOutOfOrder % 1000 === 0) {
        this.log.warn('sample event time does not increase: refused', { t: sample.t, lastT: this.lastT, refused: this.counters.samplesOutOfOrder });
      }
      return;
    }
    this.lastT = sample.t;
    this.counters.samplesProduced += 1;
    this.current.push(this.runClock.fill(sample));
    if (this.current.length >= this.options.maxBatchSamples) this.closeBatch();
  }

  private onHealth(reading: HealthReading): void {
    if (this.stopping) return;
    this.health.offer(reading);
  }

  private closeBatch(): void {
    if (this.current.length === 0) return;
    const batch: TelemetryBatch = { v: 1, vehicle: this.options.vehicleId, seq: this.nextSeq++, samples: this.current };
    this.current = [];
    this.counters.batchesBuilt += 1;
    let dropped: DropReport;
    try {
      dropped = this.store.append(batch, this.inflight);
    } catch (error) {
      // A disk that fails under us: keep running (fresh data may be storable again), count the loss.
      this.counters.storeFailures += 1;
      this.log.error('buffer could not store a batch: its samples are lost', { seq: batch.seq, samples: batch.samples.length, error });
      return;
    }
    this.counters.samplesBuffered += batch.samples.length;
    this.log.debug('buffered batch', { seq: batch.seq, samples: batch.samples.length, firstT: batch.samples[0]!.t, lastT: batch.samples[batch.samples.length - 1]!.t });
    if (dropped.batches > 0) {
      const s = this.store.stats();
      this.log.warn('buffer full: dropped oldest batches', { batches: dropped.batches, samples: dropped.samples, firstSeq: dropped.seqs[0], droppedSamplesTotal: s.droppedSamples, bound: s.bound, boundUnit: s.boundUnit });
      // Drops come from the oldest end, i.e. from the backlog when one is draining.
      const inBacklog = dropped.seqs.every((seq) => seq <= this.drain.end && seq > this.drain.cursor);
      if (inBacklog) this.drain.remaining = Math.max(0, this.drain.remaining - dropped.samples);
      this.emit('dropped', dropped);
    }
    this.pump();
  }

  private onUp(client: MqttClient): void {
    this.epoch += 1;
    this.inflight.clear();
    const s = this.store.stats();
    const end = this.store.maxStoredSeq();
    const now = Date.now();
    this.drain = { end, cursor: -1, liveCursor: end, remaining: s.queuedSamples, startedAt: now, total: s.queuedSamples, tokens: this.bucketSize(), refilledAt: now, sentSinceProgress: 0, progressAt: now };
    if (end >= 0) this.log.info('draining backlog', { batches: s.queuedBatches, samples: s.queuedSamples, rateSamplesPerS: this.drainRate() });
    this.publishOnline(client);
    this.health.connected(client);
    this.pump();
  }

  private publishOnline(client: MqttClient): void {
    client.publish(topics.status(this.options.vehicleId), encodeAgentStatus(this.options.vehicleId, 'online', { clock: this.clock?.status.state }), { qos: 1, retain: true }, () => undefined);
  }

  private onDown(): void {
    this.epoch += 1;
    this.inflight.clear();
    this.health.disconnected();
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
  }

  private drainRate(): number {
    return this.options.drainSamplesPerS ?? DEFAULT_DRAIN_SAMPLES_PER_S;
  }

  /** One second of drain budget; a larger batch still goes, by spending into debt. */
  private bucketSize(): number {
    return this.drainRate();
  }

  private pump(): void {
    const client = this.connection.client;
    const maxInflight = this.options.maxInflight ?? 8;
    const liveFirst = this.options.drainOrder === 'live-first';
    while (client && this.inflight.size < maxInflight) {
      // Anything built since this connection came up: first, or once the backlog is out.
      const live = liveFirst || this.drain.cursor >= this.drain.end ? this.store.next(Math.max(this.drain.liveCursor, this.drain.end)) : undefined;
      if (live) {
        this.drain.liveCursor = live.seq;
        this.send(client, live);
        continue;
      }
      if (this.drain.cursor >= this.drain.end) {
        this.backlogDone();
        return;
      }
      const now = Date.now();
      this.drain.tokens = Math.min(this.bucketSize(), this.drain.tokens + ((now - this.drain.refilledAt) / 1000) * this.drainRate());
      this.drain.refilledAt = now;
      if (this.drain.tokens <= 0) {
        if (!this.drainTimer) {
          const waitMs = Math.ceil((-this.drain.tokens / this.drainRate()) * 1000) + 1;
          this.drainTimer = setTimeout(() => {
            this.drainTimer = undefined;
            this.pump();
          }, waitMs);
        }
        return;
      }
      const old = this.store.next(this.drain.cursor, this.drain.end);
      if (!old) {
        this.backlogDone();
        return;
      }
      this.drain.cursor = old.seq;
      // Spending into debt keeps a batch larger than the bucket from starving.
      this.drain.tokens -= old.samples;
      this.drain.remaining = Math.max(0, this.drain.remaining - old.samples);
      this.drain.sentSinceProgress += old.samples;
      this.send(client, old);
    }
  }

  private backlogDone(): void {
    if (this.drain.end < 0) return;
    const seconds = (Date.now() - this.drain.startedAt) / 1000;
    this.log.info('backlog drained: all sent', { samples: this.drain.total, seconds: Number(seconds.toFixed(1)) });
    this.drain.cursor = this.drain.end;
    this.drain.remaining = 0;
    this.drain.end = -1;
  }

  private logProgress(): void {
    if (this.drain.end < 0 || !this.connection.client) return;
    const now = Date.now();
    const rate = this.drain.sentSinceProgress / Math.max(0.001, (now - this.drain.progressAt) / 1000);
    this.drain.sentSinceProgress = 0;
    this.drain.progressAt = now;
    this.log.info('backlog drain progress', {
      remainingSamples: this.drain.remaining,
      rateSamplesPerS: Math.round(rate),
      etaS: rate > 0 ? Math.round(this.drain.remaining / rate) : null,
      queuedSamples: this.store.stats().queuedSamples,
    });
  }

  private send(client: MqttClient, entry: StoredBatch): void {
    const epoch = this.epoch;
    this.inflight.add(entry.seq);
    this.counters.batchesPublished += 1;
    // Stamped per publish: a resend after an outage tells ingest the clock now, not at build time.
    const batch = this.options.sendTime === false ? entry.batch : { ...entry.batch, sentAt: Date.now() };
    const payload = (this.options.encode ?? encodeTelemetry)(batch);
    client.publish(this.topic, payload, { qos: 1 }, (error) => {
      if (this.closed) return;
      if (!error) {
        // A PUBACK is an acknowledgement whichever connection it came on.
        const samples = this.store.acknowledge(entry.seq);
        if (samples !== undefined) {
          this.counters.batchesAcked += 1;
          this.counters.samplesAcked += samples;
          this.emit('ack', entry.batch);
        }
      }
      if (epoch !== this.epoch) return;
      // On error (the client is being torn down) the batch stays stored and goes again on the next connection.
      this.inflight.delete(entry.seq);
      this.pump();
    });
  }

  /** Applies new settings at once: the batch timer restarts with the new interval; the next publish uses the new encoding. */
  reconfigure(settings: AgentLiveSettings): void {
    const o = this.options;
    if (settings.encode) o.encode = settings.encode;
    if (settings.maxBatchSamples !== undefined) o.maxBatchSamples = settings.maxBatchSamples;
    if (settings.batchIntervalMs !== undefined && settings.batchIntervalMs !== o.batchIntervalMs) {
      o.batchIntervalMs = settings.batchIntervalMs;
      if (this.flushTimer) {
        clearInterval(this.flushTimer);
        this.flushTimer = setInterval(() => this.closeBatch(), settings.batchIntervalMs);
      }
    }
  }

  stats(): AgentStats {
    const s = this.store.stats();
    const c = this.connection.counters;
    return {
      vehicleId: this.options.vehicleId,
      connected: this.connection.connected,
      mqtt: this.connection.describe(),
      clock: this.clock?.status.state ?? 'unknown',
      store: this.store.kind,
      ...this.counters,
      batchesDropped: s.droppedBatches,
      samplesDropped: s.droppedSamples,
      diskFull: s.disk?.full ?? false,
      diskLow: s.disk?.low ?? false,
      ...(s.disk?.freeBytes !== undefined ? { diskFreeBytes: s.disk.freeBytes } : {}),
      batchesHeldInMemory: s.disk?.heldInMemoryBatches ?? 0,
      samplesHeldInMemory: s.disk?.heldInMemorySamples ?? 0,
      batchesHeldInMemoryTotal: s.disk?.heldInMemoryBatchesTotal ?? 0,
      queuedBatches: s.queuedBatches,
      queuedSamples: s.queuedSamples,
      queuedBytes: s.queuedBytes,
      backlogSamples: this.drain.end >= 0 ? this.drain.remaining : 0,
      connects: c.connects,
      disconnects: c.drops,
      connectFailures: c.connectFailures,
      connectRefusals: c.refusals,
      ...this.health.stats(),
    };
  }

  async stop(): Promise<AgentStats> {
    this.stopping = true;
    await this.options.source.stop();
    for (const timer of [this.flushTimer, this.statsTimer, this.progressTimer]) if (timer) clearInterval(timer);
    this.clock?.stop();
    this.closeBatch();
    // Waiting makes sense only while connected; a disk store keeps the rest for the next start.
    const deadline = Date.now() + (this.options.drainTimeoutMs ?? 5000);
    while ((this.store.stats().queuedBatches > 0 || this.health.queued > 0) && this.connection.client && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const left = this.store.stats();
    if (left.queuedBatches > 0) {
      this.log.warn(this.store.kind === 'disk' ? 'stopping with unacknowledged batches (kept on disk for the next start)' : 'stopping with unacknowledged batches (lost: memory buffer)', { batches: left.queuedBatches, samples: left.queuedSamples });
    }
    if (this.health.queued > 0) this.log.warn('stopping with unacknowledged health events (a disk buffer keeps them for the next start)', { events: this.health.queued });
    if (this.drainTimer) clearTimeout(this.drainTimer);
    await this.connection.stop((client) => client.publishAsync(topics.status(this.options.vehicleId), encodeAgentStatus(this.options.vehicleId, 'offline', { reason: 'stopped', clock: this.clock?.status.state }), { qos: 1, retain: true }).then(() => undefined));
    const stats = this.stats();
    this.closed = true;
    this.store.close();
    this.health.close();
    return stats;
  }
}
