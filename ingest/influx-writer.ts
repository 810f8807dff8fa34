/**
 * Batched, retrying writes of points to InfluxDB.
 *
 * Guarantees at this seam:
 * - `write()` resolves once the points are in the buffer. The buffer holds at most
 *   `maxBufferedPoints`; when it is full `write()` waits, so a slow or down InfluxDB pushes back
 *   on the caller (and through it on the broker) instead of growing memory.
 * - Points are written in batches of up to `batchSize`, at least every `flushIntervalMs`.
 * - A write that fails for a reason that may pass (connection refused, timeout, 5xx) is retried
 *   with exponential backoff and jitter until it succeeds or the writer is closed; points keep
 *   their order. A write InfluxDB rejects as malformed (HTTP 400) is not retried: its points are
 *   counted as rejected and handed to `onRejected`.
 * - `flush()` resolves when everything buffered before the call is written or rejected.
 */
import type { IPoint } from 'influx';
import { Backoff, sleep } from '../common/backoff.ts';
import { errorMessage } from '../common/errors.ts';
import { type Logger, silentLogger } from '../common/logger.ts';

/** Where points go; InfluxSink is the real one. */
export interface PointSink {
  writePoints(points: IPoint[]): Promise<void>;
}

export interface InfluxWriterOptions {
  sink: PointSink;
  batchSize: number;
  flushIntervalMs: number;
  maxBufferedPoints: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
  logger?: Logger;
  onRejected?: (points: IPoint[], reason: string) => void;
}

export interface InfluxWriterStats {
  bufferedPoints: number;
  pointsWritten: number;
  pointsRejected: number;
  writes: number;
  writeFailures: number;
  /** Duration of the last successful write, in milliseconds. */
  lastWriteMs: number;
  /** Callers currently waiting for room in the buffer. */
  blockedWriters: number;
}

/** HTTP status of a failed node-influx request, if it got that far. */
function statusOf(error: unknown): number | undefined {
  const res = (error as { res?: { statusCode?: number } } | undefined)?.res;
  return typeof res?.statusCode === 'number' ? res.statusCode : undefined;
}

export class InfluxWriter {
  private buffer: IPoint[] = [];
  private readonly waitingForRoom: Array<() => void> = [];
  private readonly flushWaiters: Array<{ upTo: number; resolve: () => void }> = [];
  private enqueued = 0;
  private settled = 0;
  private wake: (() => void) | undefined;
  private closed = false;
  private readonly abort = new AbortController();
  private readonly loop: Promise<void>;
  private readonly log: Logger;
  private counters = { pointsWritten: 0, pointsRejected: 0, writes: 0, writeFailures: 0, lastWriteMs: 0 };

  constructor(private readonly options: InfluxWriterOptions) {
    if (options.maxBufferedPoints < options.batchSize) throw new RangeError('maxBufferedPoints must be ≥ batchSize');
    this.log = options.logger ?? silentLogger;
    this.loop = this.run();
  }

  async write(points: IPoint[]): Promise<void> {
    if (this.closed) throw new Error('writer is closed');
    // A single call larger than the whole buffer is admitted once the buffer is empty.
    while (this.buffer.length > 0 && this.buffer.length + points.length > this.options.maxBufferedPoints) {
      await new Promise<void>((resolve) => this.waitingForRoom.push(resolve));
      if (this.closed) throw new Error('writer is closed');
    }
    for (const p of points) this.buffer.push(p);
    this.enqueued += points.length;
    if (this.buffer.length >= this.options.batchSize) this.wake?.();
  }

  flush(): Promise<void> {
    if (this.settled >= this.enqueued) return Promise.resolve();
    const upTo = this.enqueued;
    return new Promise((resolve) => {
      this.flushWaiters.push({ upTo, resolve });
      this.wake?.();
    });
  }

  stats(): InfluxWriterStats {
    return { bufferedPoints: this.buffer.length, ...this.counters, blockedWriters: this.waitingForRoom.length };
  }

  /** Writes what is buffered (bounded by `timeoutMs`), then stops. */
  async close(timeoutMs = 10_000): Promise<void> {
    const drained = await Promise.race([this.flush().then(() => true), sleep(timeoutMs).then(() => false)]);
    if (!drained) this.log.warn('closing with unwritten points', { points: this.buffer.length });
    this.closed = true;
    this.abort.abort();
    this.wake?.();
    for (const resolve of this.waitingForRoom.splice(0)) resolve();
    await this.loop;
  }

  private async run(): Promise<void> {
    const backoff = new Backoff({ initialMs: this.options.retryInitialMs ?? 200, maxMs: this.options.retryMaxMs ?? 10_000 });
    while (!this.closed) {
      const flushRequested = this.flushWaiters.length > 0;
      if (this.buffer.length < this.options.batchSize && !flushRequested) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.options.flushIntervalMs);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
        if (this.closed) break;
      }
      if (this.buffer.length === 0) {
        this.settleFlushes();
        continue;
      }
      const batch = this.buffer.slice(0, this.options.batchSize);
      const started = performance.now();
      try {
        await this.options.sink.writePoints(batch);
        this.counters.writes += 1;
        this.counters.pointsWritten += batch.length;
        this.counters.lastWriteMs = performance.now() - started;
        backoff.reset();
      } catch (error) {
        const status = statusOf(error);
        if (status === 400) {
          this.counters.pointsRejected += batch.length;
          this.log.error('InfluxDB rejected a batch; not retrying it', { points: batch.length, error: errorMessage(error) });
          this.options.onRejected?.(batch, errorMessage(error));
        } else {
          this.counters.writeFailures += 1;
          const delay = backoff.next();
          this.log.warn('InfluxDB write failed; will retry', { points: batch.length, status, retryInMs: delay, error: errorMessage(error) });
          await sleep(delay, this.abort.signal);
          continue;
        }
      }
      this.buffer.splice(0, batch.length);
      this.settled += batch.length;
      this.settleFlushes();
      while (this.waitingForRoom.length > 0 && this.buffer.length < this.options.maxBufferedPoints) this.waitingForRoom.shift()!();
    }
  }

  private settleFlushes(): void {
    for (let i = this.flushWaiters.length - 1; i >= 0; i--) {
      const waiter = this.flushWaiters[i]!;
      if (this.settled >= waiter.upTo) {
        this.flushWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }
}
