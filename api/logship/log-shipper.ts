/**
 * `fleetpulse logship`: tails an access log and ships its lines to `apilogs/{source}` over MQTT.
 *
 *   LogTailer ─lines─▶ batch (≤ maxBatchLines / maxBatchBytes / flushIntervalMs)
 *            ─▶ BatchBuffer (disk) ─▶ checkpoint saved ─▶ MQTT publish QoS 1 ─PUBACK─▶ batch deleted
 *
 * Guarantees: a line is in the disk buffer before the checkpoint passes it, and a batch leaves the
 * buffer only after the broker's PUBACK, so a crash, a restart or a broker outage never loses a
 * line; it can send a batch twice (a crash between PUBACK and delete, or a resend after a
 * reconnect), which ingest absorbs by deduplicating on nginx's request id. At most `maxInflight`
 * batches are unacknowledged at a time; resent after every reconnect.
 *
 * Connection: common/mqtt-connection.ts — retried with backoff after any failure, a refused CONNACK
 * (rotated password, failed-login lockout) included; `health()` says why it is not connected.
 */
import { join } from 'node:path';
import { API_LOG_BATCH_MAX_BYTES, API_LOG_BATCH_VERSION, type ApiLogBatch } from '../../contracts/api-logs.ts';
import { topics } from '../../contracts/topics.ts';
import { errorMessage } from '../../common/errors.ts';
import { type Logger, silentLogger } from '../../common/logger.ts';
import { type ConnectionCounters, MqttConnection } from '../../common/mqtt-connection.ts';
import { BatchBuffer, type BatchBufferStats } from './batch-buffer.ts';
import { loadCheckpoint, saveCheckpoint } from './file-checkpoint.ts';
import { LogTailer, type TailerStats } from './log-tailer.ts';

export interface LogShipperOptions {
  file: string;
  source: string;
  mqttUrl: string;
  username?: string;
  password?: string;
  clientId: string;
  /** Checkpoint and batch buffer live here. */
  stateDir: string;
  pollIntervalMs: number;
  flushIntervalMs: number;
  maxBatchLines: number;
  maxBatchBytes: number;
  bufferMaxBytes: number;
  maxInflight: number;
  rotateGraceMs: number;
  fsync: boolean;
  /**
   * Reconnect delay ceilings, ms (exponential backoff with full jitter). Default 500 … 5,000: a few
   * server-side clients, not a fleet, so a short ceiling; mqtt.js retried every 1 s.
   */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** MQTT keep-alive, seconds. Default 30. */
  keepaliveS?: number;
  logger?: Logger;
}

export interface LogShipperStats {
  tailer: TailerStats;
  buffer: BatchBufferStats;
  batchesSent: number;
  batchesAcked: number;
  linesShipped: number;
  mqttConnected: boolean;
  connection: ConnectionCounters;
}

export interface LogShipperHealth {
  /** unavailable while not connected (lines wait in the disk buffer; nothing is lost). */
  status: 'ok' | 'unavailable';
  mqttConnected: boolean;
  /** Why it is not connected, e.g. `refused (not authorized), retrying in 4 s`. */
  mqtt: string;
  bufferedBatches: number;
}

export class LogShipper {
  private readonly log: Logger;
  private readonly tailer: LogTailer;
  private readonly buffer: BatchBuffer;
  private readonly checkpointFile: string;
  private nextSeq: number;
  private readonly connection: MqttConnection;
  private timer: NodeJS.Timeout | undefined;
  private readonly inflight = new Set<number>();
  private pendingLines: string[] = [];
  private pendingBytes = 0;
  private pendingSince = 0;
  private stopped = false;
  private counters = { batchesSent: 0, batchesAcked: 0, linesShipped: 0 };
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly options: LogShipperOptions) {
    this.log = options.logger ?? silentLogger;
    this.checkpointFile = join(options.stateDir, 'checkpoint.json');
    this.buffer = new BatchBuffer(join(options.stateDir, 'buffer'), options.bufferMaxBytes, options.fsync);
    this.tailer = new LogTailer(options.file, { rotateGraceMs: options.rotateGraceMs, maxLineBytes: 16 * 1024 });
    const checkpoint = loadCheckpoint(this.checkpointFile);
    if (checkpoint && checkpoint.path !== options.file) this.log.warn('checkpoint belongs to another file; starting at the beginning', { checkpoint: checkpoint.path });
    this.tailer.resume(checkpoint && checkpoint.path === options.file ? checkpoint : undefined);
    this.nextSeq = Math.max(checkpoint?.nextSeq ?? 0, this.buffer.lastSeq + 1);
    this.connection = new MqttConnection({
      url: options.mqttUrl,
      clientId: options.clientId,
      username: options.username,
      password: options.password,
      keepaliveS: options.keepaliveS ?? 30,
      reconnectMinMs: options.reconnectMinMs ?? 500,
      reconnectMaxMs: options.reconnectMaxMs ?? 5000,
      logger: this.log,
      onUp: () => {
        this.log.info('sending buffered batches', { buffered: this.buffer.stats().batches });
        this.inflight.clear();
        this.send();
      },
      onDown: () => this.inflight.clear(),
    });
  }

  start(): void {
    this.connection.start();
    this.timer = setInterval(() => this.tick(), this.options.pollIntervalMs);
    this.tick();
  }

  private tick(): void {
    if (this.stopped) return;
    const now = Date.now();
    try {
      for (let round = 0; round < 64; round++) {
        if (!this.buffer.hasRoom()) {
          this.buffer.notePause();
          break;
        }
        const room = this.options.maxBatchLines - this.pendingLines.length;
        const lines = this.tailer.read(room, this.options.maxBatchBytes - this.pendingBytes, now);
        if (lines.length === 0) break;
        if (this.pendingLines.length === 0) this.pendingSince = now;
        for (const line of lines) {
          this.pendingLines.push(line);
          this.pendingBytes += line.length + 1;
        }
        if (this.pendingLines.length >= this.options.maxBatchLines || this.pendingBytes >= this.options.maxBatchBytes) this.cut();
      }
      if (this.pendingLines.length > 0 && now - this.pendingSince >= this.options.flushIntervalMs) this.cut();
      else if (this.pendingLines.length === 0) this.saveCheckpoint();
    } catch (error) {
      this.log.error('reading the log failed; retrying', { file: this.options.file, error: errorMessage(error) });
    }
    this.send();
    this.notifyIdle();
  }

  /** Moves the pending lines into the disk buffer as one batch, then moves the checkpoint past them. */
  private cut(): void {
    if (this.pendingLines.length === 0) return;
    const batch: ApiLogBatch = { v: API_LOG_BATCH_VERSION, source: this.options.source, seq: this.nextSeq, lines: this.pendingLines };
    let payload = Buffer.from(JSON.stringify(batch));
    if (payload.length > API_LOG_BATCH_MAX_BYTES) {
      // Only possible with many near-limit lines: split in two halves (each fits, lines are ≤ 16 KiB).
      const half = Math.ceil(this.pendingLines.length / 2);
      const rest = this.pendingLines.slice(half);
      this.pendingLines = this.pendingLines.slice(0, half);
      payload = Buffer.from(JSON.stringify({ ...batch, lines: this.pendingLines }));
      this.buffer.put(this.nextSeq++, payload);
      this.pendingLines = rest;
      return this.cut();
    }
    this.buffer.put(this.nextSeq++, payload);
    this.counters.linesShipped += this.pendingLines.length;
    this.pendingLines = [];
    this.pendingBytes = 0;
    this.saveCheckpoint();
  }

  private saveCheckpoint(): void {
    // The checkpoint may only cover lines that are in the buffer: never save with lines pending.
    if (this.pendingLines.length > 0) return;
    const position = this.tailer.position();
    if (!position) return;
    saveCheckpoint(this.checkpointFile, { v: 1, ...position, nextSeq: this.nextSeq }, this.options.fsync);
  }

  private send(): void {
    if (!this.connection.connected || this.stopped) return;
    const room = this.options.maxInflight - this.inflight.size;
    if (room <= 0) return;
    for (const { seq, payload } of this.buffer.pending(room, this.inflight)) {
      this.inflight.add(seq);
      const sent = this.connection.publish(topics.apiLogs(this.options.source), payload, { qos: 1 }, (error) => {
        this.inflight.delete(seq);
        if (error) return; // resent from the buffer after the reconnect
        this.buffer.ack(seq);
        this.counters.batchesAcked += 1;
        this.send();
        this.notifyIdle();
      });
      if (!sent) {
        this.inflight.delete(seq);
        return;
      }
      this.counters.batchesSent += 1;
    }
  }

  stats(): LogShipperStats {
    return { tailer: this.tailer.stats(), buffer: this.buffer.stats(), ...this.counters, mqttConnected: this.connection.connected, connection: { ...this.connection.counters } };
  }

  health(): LogShipperHealth {
    const connected = this.connection.connected;
    return { status: connected ? 'ok' : 'unavailable', mqttConnected: connected, mqtt: this.connection.describe(), bufferedBatches: this.buffer.stats().batches };
  }

  /** Resolves when everything read so far is acknowledged by the broker (for tests and benchmarks). */
  async drained(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.pendingLines.length === 0 && this.buffer.stats().batches === 0) return true;
      await new Promise<void>((resolve) => {
        this.idleWaiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    return false;
  }

  private notifyIdle(): void {
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Stops reading; cuts what is pending into the buffer; waits briefly for acknowledgements. */
  async stop(drainMs = 2000): Promise<void> {
    if (this.stopped) return;
    if (this.timer) clearInterval(this.timer);
    this.cut();
    this.send();
    await this.drained(drainMs);
    this.stopped = true;
    this.saveCheckpoint();
    this.tailer.close();
    await this.connection.stop();
  }
}
