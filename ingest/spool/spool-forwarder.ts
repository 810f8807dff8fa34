/**
 * Feeds InfluxDB from the spool, oldest first, as raw line protocol (`POST /write?precision=ns`).
 *
 * Guarantees:
 * - A chunk is committed (and its spool space becomes free) only after InfluxDB answered 2xx.
 * - Failures that may pass (connection refused, timeout, 5xx, database missing) are retried with
 *   exponential backoff and jitter, forever, on the same chunk: order is kept and nothing is
 *   skipped. The database is (re)created when InfluxDB says it does not exist.
 * - A chunk InfluxDB rejects as malformed (400: parse error, field type conflict) is not retried:
 *   InfluxDB 1.x has already stored the valid points of it; the rest are counted as rejected.
 * - Points older than their retention policy (a replayed old drive) are dropped by InfluxDB; they
 *   are counted (`beyondRetention`), not retried and not logged as malformed.
 * - Each chunk is split by retention policy (influxdb/write-routing.ts): raw telemetry goes to
 *   `raw_30d`, the rest to the DEFAULT RP. A chunk is committed when every part was answered; a
 *   retry sends the whole chunk again, which overwrites the same points (same series and time).
 * - The database, its retention policies and the rollup CQ are ensured at start and whenever
 *   InfluxDB says the database or an RP is missing (influxdb/retention-policies.ts).
 * - Writes happen when `batchBytes` are pending or `flushIntervalMs` after data arrived.
 * - `flush()` resolves when everything appended before the call is committed.
 */
import { Backoff, sleep } from '../../common/backoff.ts';
import { errorMessage } from '../../common/errors.ts';
import { type Logger, silentLogger } from '../../common/logger.ts';
import type { DiskSpool, SpoolPosition } from './disk-spool.ts';
import { createHistogram } from '../../common/metrics.ts';
import { ensureDatabase, influxClient } from '../influxdb/influx-admin.ts';
import { DEFAULT_RETENTION, ensureRetention, type RetentionSettings } from '../influxdb/retention-policies.ts';
import { splitByRetentionPolicy } from '../influxdb/write-routing.ts';

export interface SpoolForwarderOptions {
  spool: DiskSpool;
  influxUrl: string;
  database: string;
  batchBytes: number;
  flushIntervalMs: number;
  requestTimeoutMs?: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Retention policies and rollup created with the database (default DEFAULT_RETENTION). */
  retention?: RetentionSettings;
  logger?: Logger;
}

export interface SpoolForwarderStats {
  writes: number;
  writeFailures: number;
  bytesWritten: number;
  linesWritten: number;
  rejectedChunks: number;
  /** Points InfluxDB dropped as older than their retention policy. */
  beyondRetention: number;
  /** True while the last attempt failed (InfluxDB unreachable or erroring). */
  failing: boolean;
  lastError: string | undefined;
  lastWriteMs: number;
}

export class SpoolForwarder {
  private readonly log: Logger;
  private readonly writeUrl: string;
  private readonly authHeader: string | undefined;
  private wake: (() => void) | undefined;
  private stopped = false;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly flushWaiters: Array<{ upTo: number; resolve: () => void }> = [];
  private committedBytes = 0;
  private counters = { writes: 0, writeFailures: 0, bytesWritten: 0, linesWritten: 0, rejectedChunks: 0, beyondRetention: 0, lastWriteMs: 0 };
  private failing = false;
  private caughtUp = false;
  private lastError: string | undefined;
  readonly writeSeconds = createHistogram('fleetpulse_ingest_influx_write_seconds', 'Duration of successful InfluxDB writes', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);

  constructor(private readonly options: SpoolForwarderOptions) {
    this.log = options.logger ?? silentLogger;
    const url = new URL(options.influxUrl);
    this.authHeader = url.username ? `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}` : undefined;
    url.username = '';
    url.password = '';
    const base = url.toString().replace(/\/$/, '');
    this.writeUrl = `${base}/write?db=${encodeURIComponent(options.database)}&precision=ns`;
    options.spool.onAppend(() => {
      // Caught up: start the flush interval now. Otherwise only a full batch cuts the wait short.
      if (this.caughtUp || options.spool.stats().pendingBytes >= options.batchBytes) this.wake?.();
    });
  }

  start(): void {
    this.loop ??= this.run();
  }

  stats(): SpoolForwarderStats {
    return { ...this.counters, failing: this.failing, lastError: this.lastError };
  }

  flush(): Promise<void> {
    const upTo = this.options.spool.stats().appendedBytes;
    if (this.committedBytes >= upTo) return Promise.resolve();
    return new Promise((resolve) => {
      this.flushWaiters.push({ upTo, resolve });
      this.wake?.();
    });
  }

  /** Forwards what is pending for at most `timeoutMs`, then stops; the rest stays spooled. */
  async stop(timeoutMs = 10_000): Promise<void> {
    const drained = await Promise.race([this.flush().then(() => true), sleep(timeoutMs).then(() => false)]);
    if (!drained) this.log.warn('stopping with data still spooled; it is written on the next start', { pendingBytes: this.options.spool.stats().pendingBytes });
    this.stopped = true;
    this.abort.abort();
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { spool } = this.options;
    const backoff = new Backoff({ initialMs: this.options.retryInitialMs ?? 200, maxMs: this.options.retryMaxMs ?? 5000 });
    // Bytes of the spool already committed when this process started belong to earlier runs.
    this.committedBytes = spool.stats().appendedBytes - spool.stats().pendingBytes;
    while (!this.stopped) {
      let chunk = spool.read(this.options.batchBytes);
      if (!chunk) {
        this.caughtUp = true;
        await this.idle(60_000);
        this.caughtUp = false;
        continue;
      }
      if (chunk.data.length < this.options.batchBytes / 2 && this.flushWaiters.length === 0) {
        // A trickle: let a batch build up, but never longer than the flush interval.
        await this.idle(this.options.flushIntervalMs);
        if (this.stopped) break;
        chunk = spool.read(this.options.batchBytes) ?? chunk;
      }
      const result = await this.post(chunk.data);
      if (result === 'retry') {
        const delay = backoff.next();
        await sleep(delay, this.abort.signal);
        continue;
      }
      backoff.reset();
      this.commit(chunk.end);
    }
  }

  private commit(end: SpoolPosition): void {
    this.options.spool.commit(end);
    this.settle();
  }

  private settle(): void {
    const stats = this.options.spool.stats();
    this.committedBytes = stats.appendedBytes - stats.pendingBytes;
    for (let i = this.flushWaiters.length - 1; i >= 0; i--) {
      const waiter = this.flushWaiters[i]!;
      if (this.committedBytes >= waiter.upTo) {
        this.flushWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  private idle(ms: number): Promise<void> {
    this.settle();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
      if (this.stopped) done();
    });
  }

  private async post(data: Buffer): Promise<'ok' | 'rejected' | 'retry'> {
    const started = performance.now();
    let rejected = false;
    for (const part of splitByRetentionPolicy(data)) {
      const result = await this.postPart(part.data, part.retentionPolicy);
      if (result === 'retry') return 'retry';
      if (result === 'rejected') rejected = true;
    }
    const seconds = (performance.now() - started) / 1000;
    this.writeSeconds.observe(seconds);
    this.counters.writes += 1;
    this.counters.bytesWritten += data.length;
    this.counters.linesWritten += countLines(data);
    this.counters.lastWriteMs = seconds * 1000;
    if (this.failing) this.log.info('InfluxDB writes succeed again');
    this.failing = false;
    return rejected ? 'rejected' : 'ok';
  }

  private async postPart(data: Buffer, retentionPolicy: string | undefined): Promise<'ok' | 'rejected' | 'retry'> {
    const url = retentionPolicy ? `${this.writeUrl}&rp=${encodeURIComponent(retentionPolicy)}` : this.writeUrl;
    let status = 0;
    let text = '';
    try {
      const response = await fetch(url, {
        method: 'POST',
        body: data,
        headers: { 'content-type': 'text/plain; charset=utf-8', ...(this.authHeader ? { authorization: this.authHeader } : {}) },
        signal: AbortSignal.any([AbortSignal.timeout(this.options.requestTimeoutMs ?? 30_000), this.abort.signal]),
      });
      status = response.status;
      text = status >= 300 ? await response.text() : (await response.arrayBuffer(), '');
    } catch (error) {
      return this.failed(`${errorMessage(error)}`);
    }
    if (status >= 200 && status < 300) return 'ok';
    if ((status === 404 && /database not found/.test(text)) || /retention policy not found/.test(text)) {
      await this.createDatabase();
      return this.failed(`${text.slice(0, 200)}; created the database and its retention policies`);
    }
    const beyond = /points beyond retention policy dropped=(\d+)/.exec(text);
    if (status === 400 && beyond && !/unable to parse|field type conflict/.test(text)) {
      // The rest of the part is stored: expected when old drives are replayed, not a defect.
      const dropped = Number(beyond[1]);
      if (this.counters.beyondRetention === 0) this.log.warn('InfluxDB dropped points older than their retention policy (counted in beyondRetention)', { retentionPolicy: retentionPolicy ?? 'DEFAULT', dropped });
      this.counters.beyondRetention += dropped;
      return 'ok';
    }
    if (status === 400) {
      this.counters.rejectedChunks += 1;
      this.log.error('InfluxDB rejected part of a chunk; its valid points are stored, not retrying', { bytes: data.length, error: text.slice(0, 500) });
      return 'rejected';
    }
    return this.failed(`HTTP ${status}: ${text.slice(0, 200)}`);
  }

  private failed(reason: string): 'retry' {
    this.counters.writeFailures += 1;
    if (!this.failing) this.log.warn('InfluxDB write failed; data stays spooled and is retried', { error: reason });
    this.failing = true;
    this.lastError = reason;
    return 'retry';
  }

  /**
   * CREATE DATABASE, then its retention policies and rollup CQ (idempotent, through the `influx`
   * client); false when InfluxDB cannot be reached or refused a statement (logged).
   */
  async createDatabase(timeoutMs = 10_000): Promise<boolean> {
    const client = influxClient(this.options.influxUrl, this.options.database, timeoutMs);
    try {
      await ensureDatabase(client, this.options.database);
    } catch {
      return false; // retried with the next write
    }
    try {
      const report = await ensureRetention(client, this.options.database, this.options.retention ?? DEFAULT_RETENTION);
      const changed = [...Object.entries(report.retentionPolicies), ...Object.entries(report.continuousQueries)].filter(([, action]) => action !== 'unchanged');
      if (changed.length > 0) this.log.info('retention policies and rollups applied', { ...Object.fromEntries(changed), settings: this.options.retention ?? DEFAULT_RETENTION });
      return true;
    } catch (error) {
      this.log.error('could not apply retention policies and rollups; raw telemetry writes wait for them', { error: errorMessage(error) });
      return false;
    }
  }
}

/** Points in a chunk (lines that are not comments). */
function countLines(data: Buffer): number {
  let lines = 0;
  let at = 0;
  while (at < data.length) {
    const nl = data.indexOf(0x0a, at);
    if (data[at] !== 0x23) lines += 1;
    if (nl < 0) break;
    at = nl + 1;
  }
  return lines;
}
