/**
 * Ingest: consumes telemetry from the broker and writes it to InfluxDB.
 *
 * - One persistent MQTT session (clean: false, fixed client id) with QoS 1 subscriptions to the
 *   shards this worker owns, so the broker keeps messages for it while it is away.
 * - Each message is decoded and validated; anything malformed becomes a dead letter (counted per
 *   reason and written to `dead_letters` with the payload) and never stops the stream.
 * - A message is acknowledged only once its points are accepted by the bounded writer; a full
 *   writer delays the acknowledgement, which stops mqtt.js reading the socket, which makes the
 *   broker hold further messages: back-pressure instead of memory growth.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { IPoint } from 'influx';
import { decodeTelemetry, type DeadLetterReason } from '../contracts/telemetry.ts';
import { parseVehicleTopic, topics } from '../contracts/topics.ts';
import { Backoff, sleep } from '../common/backoff.ts';
import { errorMessage } from '../common/errors.ts';
import { type Logger, silentLogger } from '../common/logger.ts';
import { InfluxWriter, type InfluxWriterStats } from './influx-writer.ts';
import { InfluxSink } from './influxdb/influx-sink.ts';
import { deadLetterPoint, telemetryPoints } from './influxdb/schema.ts';
import { SequenceTracker } from './sequence-tracker.ts';

export interface IngestOptions {
  mqttUrl: string;
  /** Broker credentials of this worker (role `ingest`). */
  username?: string;
  password?: string;
  influxUrl: string;
  influxDatabase: string;
  clientId: string;
  shards: readonly number[];
  batchSize: number;
  flushIntervalMs: number;
  maxBufferedPoints: number;
  statsIntervalMs?: number;
  logger?: Logger;
}

export type IngestDeadLetterReason = DeadLetterReason | 'internal_error';

export interface IngestStats {
  messagesIn: number;
  batchesAccepted: number;
  samplesAccepted: number;
  deadLetters: number;
  deadLettersByReason: Partial<Record<IngestDeadLetterReason, number>>;
  duplicateBatches: number;
  sequenceGaps: number;
  telemetryWriter: InfluxWriterStats;
  deadLetterWriter: InfluxWriterStats;
  mqttConnected: boolean;
}

export class IngestService {
  private readonly log: Logger;
  private readonly sink: InfluxSink;
  private readonly telemetryWriter: InfluxWriter;
  private readonly deadLetterWriter: InfluxWriter;
  private readonly sequences = new SequenceTracker(1_000_000);
  private client: MqttClient | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();
  private counters = { messagesIn: 0, batchesAccepted: 0, samplesAccepted: 0, deadLetters: 0, duplicateBatches: 0, sequenceGaps: 0 };
  private readonly deadLettersByReason: Partial<Record<IngestDeadLetterReason, number>> = {};

  constructor(private readonly options: IngestOptions) {
    this.log = options.logger ?? silentLogger;
    this.sink = new InfluxSink({ url: options.influxUrl, database: options.influxDatabase });
    this.telemetryWriter = new InfluxWriter({
      sink: this.sink,
      batchSize: options.batchSize,
      flushIntervalMs: options.flushIntervalMs,
      maxBufferedPoints: options.maxBufferedPoints,
      logger: this.log.child('telemetry-writer'),
    });
    this.deadLetterWriter = new InfluxWriter({
      sink: this.sink.withPrecision('n'),
      batchSize: 500,
      flushIntervalMs: options.flushIntervalMs,
      maxBufferedPoints: 10_000,
      logger: this.log.child('dead-letter-writer'),
    });
  }

  /** Waits for InfluxDB (retrying while it is down), then starts consuming. */
  async start(): Promise<void> {
    await this.ensureDatabase();
    if (this.abort.signal.aborted) return;
    const client = mqtt.connect(this.options.mqttUrl, {
      clientId: this.options.clientId,
      clean: false,
      reconnectPeriod: 1000,
      keepalive: 30,
      username: this.options.username,
      password: this.options.password,
    });
    // mqtt.js sends the PUBACK only after handleMessage calls back, and reads the next packet only
    // then (Aedes speaks MQTT 3.1.1, so v5's customHandleAcks is not available). This is where
    // acknowledgement waits for our write and where back-pressure reaches the broker.
    client.handleMessage = (packet, callback) => {
      if (packet.cmd !== 'publish') return callback();
      this.handleMessage(packet.topic, packet.payload as Buffer).then(
        () => callback(),
        (error: unknown) => {
          // handleMessage turns every failure into a dead letter; reaching here is a bug.
          this.log.error('unexpected error handling a message', { topic: packet.topic, error: errorMessage(error) });
          callback();
        },
      );
    };
    this.client = client;
    client.on('connect', (connack) => {
      this.log.info('connected to broker', { url: this.options.mqttUrl, sessionPresent: connack.sessionPresent });
      if (!connack.sessionPresent) {
        const filters = Object.fromEntries(this.options.shards.map((s) => [topics.shardFilter(s, 'telemetry'), { qos: 1 as const }]));
        client.subscribe(filters, (error) => {
          if (error) this.log.error('subscribe failed', { error: errorMessage(error) });
          else this.log.info('subscribed', { shards: describeShards(this.options.shards) });
        });
      }
    });
    client.on('error', (error) => this.log.warn('broker connection error', { error: errorMessage(error) }));
    if (this.options.statsIntervalMs) {
      this.statsTimer = setInterval(() => this.logStats(), this.options.statsIntervalMs);
      this.statsTimer.unref();
    }
  }

  private async ensureDatabase(): Promise<void> {
    const backoff = new Backoff({ initialMs: 250, maxMs: 5000 });
    while (!this.abort.signal.aborted) {
      try {
        await this.sink.ensureDatabase();
        return;
      } catch (error) {
        const delay = backoff.next();
        this.log.warn('InfluxDB not reachable yet; retrying', { url: this.options.influxUrl, retryInMs: delay, error: errorMessage(error) });
        await sleep(delay, this.abort.signal);
      }
    }
  }

  private async handleMessage(topic: string, payload: Buffer): Promise<void> {
    this.counters.messagesIn += 1;
    const parsed = parseVehicleTopic(topic);
    if (!parsed || parsed.kind !== 'telemetry') {
      return this.deadLetter('unknown_topic', topic, 'not a telemetry topic', payload);
    }
    try {
      const result = decodeTelemetry(payload, parsed.vehicleId);
      if (!result.ok) return await this.deadLetter(result.reason, topic, result.detail, payload);
      const { batch } = result;
      const seen = this.sequences.observe(batch.vehicle, batch.seq);
      if (seen === 'duplicate') this.counters.duplicateBatches += 1;
      else if (seen === 'gap') this.counters.sequenceGaps += 1;
      await this.telemetryWriter.write(telemetryPoints(batch));
      this.counters.batchesAccepted += 1;
      this.counters.samplesAccepted += batch.samples.length;
    } catch (error) {
      await this.deadLetter('internal_error', topic, errorMessage(error), payload);
    }
  }

  private async deadLetter(reason: IngestDeadLetterReason, topic: string, detail: string, payload: Uint8Array): Promise<void> {
    this.counters.deadLetters += 1;
    this.deadLettersByReason[reason] = (this.deadLettersByReason[reason] ?? 0) + 1;
    this.log.warn('dead letter', { reason, topic, detail });
    const point: IPoint = deadLetterPoint({ reason, kind: 'telemetry', topic, detail, payload, receivedAtMs: Date.now() });
    await this.deadLetterWriter.write([point]);
  }

  stats(): IngestStats {
    return {
      ...this.counters,
      deadLettersByReason: { ...this.deadLettersByReason },
      telemetryWriter: this.telemetryWriter.stats(),
      deadLetterWriter: this.deadLetterWriter.stats(),
      mqttConnected: this.client?.connected ?? false,
    };
  }

  /** Resolves once every message received so far is written (or dead-lettered). */
  async flush(): Promise<void> {
    await Promise.all([this.telemetryWriter.flush(), this.deadLetterWriter.flush()]);
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
      buffered: s.telemetryWriter.bufferedPoints,
      writeFailures: s.telemetryWriter.writeFailures,
    });
    this.lastLogged = { messagesIn: s.messagesIn, samplesAccepted: s.samplesAccepted, at: Date.now() };
  }

  /** Stops taking messages, writes what it has, disconnects. */
  async stop(): Promise<void> {
    this.abort.abort();
    if (this.statsTimer) clearInterval(this.statsTimer);
    // Disconnect first so no new message arrives; unacknowledged ones stay with the broker.
    await this.client?.endAsync();
    await Promise.all([this.telemetryWriter.close(), this.deadLetterWriter.close()]);
    this.log.info('ingest stopped', { samplesAccepted: this.counters.samplesAccepted, deadLetters: this.counters.deadLetters });
  }
}

function describeShards(shards: readonly number[]): string {
  if (shards.length === 0) return 'none';
  const first = shards[0]!;
  const last = shards[shards.length - 1]!;
  return shards.length === last - first + 1 ? `${first}-${last}` : shards.join(',');
}
