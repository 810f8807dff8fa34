/**
 * The vehicle agent: takes samples from a source, groups them into batches and publishes each
 * batch with QoS 1 on the vehicle's telemetry topic.
 *
 * Guarantees at this seam:
 * - A batch leaves the outbox only when the broker acknowledged it (PUBACK); `ack` fires then,
 *   once per batch. Until then it is retried on every reconnect, oldest first.
 * - At most `maxInflight` batches are on the wire at once, so a slow broker holds data here,
 *   in the bounded outbox, not in the MQTT client's unbounded queue.
 * - When the outbox is full, the oldest unsent batch is dropped and counted (`dropped` event).
 * - `stop()` closes the current batch and waits up to `drainTimeoutMs` for everything to be
 *   acknowledged before disconnecting.
 */
import { EventEmitter } from 'node:events';
import mqtt, { type MqttClient } from 'mqtt';
import { encodeTelemetry, type Sample, type TelemetryBatch } from '../contracts/telemetry.ts';
import { topics } from '../contracts/topics.ts';
import { type Logger, silentLogger } from '../common/logger.ts';
import { Outbox } from './outbox.ts';
import type { TelemetrySource } from './telemetry-source.ts';

export interface AgentOptions {
  vehicleId: string;
  mqttUrl: string;
  source: TelemetrySource;
  batchIntervalMs: number;
  maxBatchSamples: number;
  /** Bound of the outbox, in samples. */
  outboxSamples: number;
  maxInflight?: number;
  drainTimeoutMs?: number;
  username?: string;
  password?: string;
  logger?: Logger;
}

export interface AgentStats {
  vehicleId: string;
  connected: boolean;
  samplesProduced: number;
  batchesBuilt: number;
  batchesAcked: number;
  samplesAcked: number;
  batchesDropped: number;
  samplesDropped: number;
  queuedSamples: number;
  connects: number;
  disconnects: number;
}

export interface AgentEvents {
  ack: [batch: TelemetryBatch];
  dropped: [batch: TelemetryBatch];
}

export class Agent extends EventEmitter<AgentEvents> {
  private readonly outbox: Outbox;
  private readonly log: Logger;
  private readonly topic: string;
  private client: MqttClient | undefined;
  private current: Sample[] = [];
  private nextSeq = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private counters = { samplesProduced: 0, batchesBuilt: 0, batchesAcked: 0, samplesAcked: 0, connects: 0, disconnects: 0 };
  private stopping = false;

  constructor(private readonly options: AgentOptions) {
    super();
    this.outbox = new Outbox(options.outboxSamples);
    this.log = (options.logger ?? silentLogger).child(options.vehicleId);
    this.topic = topics.telemetry(options.vehicleId);
  }

  async start(): Promise<void> {
    const client = mqtt.connect(this.options.mqttUrl, {
      clientId: `agent-${this.options.vehicleId}`,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      keepalive: 30,
      username: this.options.username,
      password: this.options.password,
    });
    this.client = client;
    client.on('connect', () => {
      this.counters.connects += 1;
      this.log.debug('connected to broker', { url: this.options.mqttUrl });
      this.pump();
    });
    client.on('close', () => {
      if (this.counters.connects > this.counters.disconnects) this.counters.disconnects += 1;
    });
    // Connection errors are expected in a car; mqtt.js reconnects by itself.
    client.on('error', (error) => this.log.warn('broker connection error', { error }));

    await this.options.source.start((sample) => this.onSample(sample));
    this.flushTimer = setInterval(() => this.closeBatch(), this.options.batchIntervalMs);
  }

  private onSample(sample: Sample): void {
    if (this.stopping) return;
    this.counters.samplesProduced += 1;
    this.current.push(sample);
    if (this.current.length >= this.options.maxBatchSamples) this.closeBatch();
  }

  private closeBatch(): void {
    if (this.current.length === 0) return;
    const batch: TelemetryBatch = { v: 1, vehicle: this.options.vehicleId, seq: this.nextSeq++, samples: this.current };
    this.current = [];
    this.counters.batchesBuilt += 1;
    for (const dropped of this.outbox.add(batch)) {
      this.log.warn('outbox full: dropped oldest batch', { seq: dropped.seq, samples: dropped.samples.length });
      this.emit('dropped', dropped);
    }
    this.pump();
  }

  private pump(): void {
    const client = this.client;
    const maxInflight = this.options.maxInflight ?? 8;
    while (client?.connected && this.outbox.inflight < maxInflight) {
      const batch = this.outbox.takeNext();
      if (!batch) return;
      client.publish(this.topic, encodeTelemetry(batch), { qos: 1 }, (error) => {
        if (error) {
          // Only happens when the client is being torn down; the batch stays queued.
          this.outbox.release(batch.seq);
          return;
        }
        if (this.outbox.acknowledge(batch.seq)) {
          this.counters.batchesAcked += 1;
          this.counters.samplesAcked += batch.samples.length;
          this.emit('ack', batch);
        }
        this.pump();
      });
    }
  }

  stats(): AgentStats {
    const box = this.outbox.stats();
    return {
      vehicleId: this.options.vehicleId,
      connected: this.client?.connected ?? false,
      ...this.counters,
      batchesDropped: box.droppedBatches,
      samplesDropped: box.droppedSamples,
      queuedSamples: box.queuedSamples,
    };
  }

  async stop(): Promise<AgentStats> {
    this.stopping = true;
    await this.options.source.stop();
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.closeBatch();
    const deadline = Date.now() + (this.options.drainTimeoutMs ?? 5000);
    while (this.outbox.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    if (this.outbox.size > 0) {
      this.log.warn('stopping with unacknowledged batches', { batches: this.outbox.size, samples: this.outbox.stats().queuedSamples });
    }
    await this.client?.endAsync(true);
    return this.stats();
  }
}
