/**
 * A bounded queue for CPU-heavy jobs (image processing), with a deadline and cancellation per job.
 *
 * Guarantees:
 * - At most `concurrency` jobs run at once, at most `maxQueued` wait (first in, first out). Beyond
 *   that, `submit` answers `busy` at once and counts it; the caller answers 503 with
 *   `retryAfterSeconds()`.
 * - Every job has a deadline counted from submission (waiting included) and an AbortSignal that
 *   fires when the deadline passes, when the caller's signal fires (its client is gone) or when the
 *   queue is closed and the drain period is over. A job that has not started is dropped at once;
 *   a running job is expected to stop at its next step (it gets the signal and the deadline), and
 *   its slot is held until it has: `running` counts work that really occupies the CPU.
 * - The outcome is a value: the job's result, or the reason it did not run to the end. A job that
 *   throws anything but the cancellation rejects `submit` (a programming or processing error).
 */
import { ERRORS } from '../common/error-codes.ts';
import { FleetpulseError } from '../common/errors.ts';
export type CancelReason = 'deadline' | 'client_gone' | 'shutting_down';

export type JobOutcome<T> = { ok: true; value: T } | { ok: false; reason: 'busy' | CancelReason };

/** What a running job gets: stop at the next step when `signal` fires; no step should outlive `deadlineAt`. */
export interface JobControl {
  readonly signal: AbortSignal;
  /** Epoch milliseconds. */
  readonly deadlineAt: number;
}

/** The abort reason of a job's signal, thrown by `signal.throwIfAborted()`. */
export class JobCancelled extends FleetpulseError {
  constructor(readonly reason: CancelReason) {
    super('FP_JOB_CANCELLED', ERRORS.FP_JOB_CANCELLED.message(reason));
    this.name = 'JobCancelled';
  }
}

export interface WorkQueueOptions {
  concurrency: number;
  maxQueued: number;
  deadlineMs: number;
}

export interface WorkQueueStats {
  running: number;
  queued: number;
  started: number;
  completed: number;
  failed: number;
  refusedBusy: number;
  refusedShuttingDown: number;
  cancelled: Record<CancelReason, number>;
}

interface QueuedJob {
  start(): void;
  cancel(reason: CancelReason): void;
}

export class WorkQueue {
  private readonly waiting: QueuedJob[] = [];
  private readonly active = new Set<QueuedJob>();
  private running = 0;
  private closing = false;
  private onIdle: (() => void) | undefined;
  /** Running average of how long a job holds its slot, for Retry-After. */
  private averageJobMs = 1000;
  private readonly counts = { started: 0, completed: 0, failed: 0, refusedBusy: 0, refusedShuttingDown: 0, cancelled: { deadline: 0, client_gone: 0, shutting_down: 0 } };

  constructor(private readonly options: WorkQueueOptions) {
    if (options.concurrency < 1 || options.maxQueued < 0 || options.deadlineMs <= 0) throw new RangeError('WorkQueue needs concurrency >= 1, maxQueued >= 0 and deadlineMs > 0');
  }

  submit<T>(work: (control: JobControl) => Promise<T>, callerSignal?: AbortSignal): Promise<JobOutcome<T>> {
    if (this.closing) {
      this.counts.refusedShuttingDown += 1;
      return Promise.resolve({ ok: false, reason: 'shutting_down' });
    }
    if (this.running >= this.options.concurrency && this.waiting.length >= this.options.maxQueued) {
      this.counts.refusedBusy += 1;
      return Promise.resolve({ ok: false, reason: 'busy' });
    }
    return new Promise<JobOutcome<T>>((resolve, reject) => {
      const controller = new AbortController();
      const control: JobControl = { signal: controller.signal, deadlineAt: Date.now() + this.options.deadlineMs };
      let started = false;
      let settled = false;
      const finish = (): void => {
        settled = true;
        clearTimeout(deadline);
        callerSignal?.removeEventListener('abort', onCallerAbort);
        this.active.delete(job);
      };
      const cancelled = (reason: CancelReason): void => {
        this.counts.cancelled[reason] += 1;
        finish();
        resolve({ ok: false, reason });
      };
      const job: QueuedJob = {
        cancel: (reason) => {
          if (settled || controller.signal.aborted) return;
          controller.abort(new JobCancelled(reason));
          if (started) return; // it stops at its next step and settles below
          this.waiting.splice(this.waiting.indexOf(job), 1);
          cancelled(reason);
          this.next();
        },
        start: () => {
          started = true;
          this.running += 1;
          this.counts.started += 1;
          const startedAt = Date.now();
          // The slot is given back before the outcome is told, so whoever hears it sees the work gone.
          const freeSlot = (): void => {
            this.running -= 1;
            this.averageJobMs = 0.8 * this.averageJobMs + 0.2 * (Date.now() - startedAt);
          };
          work(control)
            .then(
              (value) => {
                freeSlot();
                this.counts.completed += 1;
                finish();
                resolve({ ok: true, value });
              },
              (error: unknown) => {
                freeSlot();
                if (controller.signal.aborted) return cancelled((controller.signal.reason as JobCancelled).reason);
                if (error instanceof JobCancelled) return cancelled(error.reason);
                this.counts.failed += 1;
                finish();
                reject(error);
              },
            )
            .finally(() => this.next());
        },
      };
      const onCallerAbort = (): void => job.cancel('client_gone');
      const deadline = setTimeout(() => job.cancel('deadline'), this.options.deadlineMs);
      this.active.add(job);
      this.waiting.push(job);
      if (callerSignal?.aborted) job.cancel('client_gone');
      else callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
      this.next();
    });
  }

  /** Seconds a refused client should wait: the work ahead of it spread over the workers, 1-60. */
  retryAfterSeconds(): number {
    const aheadMs = ((this.waiting.length + this.running) * this.averageJobMs) / this.options.concurrency;
    return Math.min(60, Math.max(1, Math.ceil(aheadMs / 1000)));
  }

  /**
   * Refuses new jobs (`shutting_down`), lets running and queued ones go on for `drainMs`, then
   * cancels what is left; resolves once nothing runs any more.
   */
  async close(drainMs: number): Promise<void> {
    this.closing = true;
    if (this.active.size === 0 && this.running === 0) return;
    const drained = new Promise<void>((resolve) => (this.onIdle = resolve));
    const timer = setTimeout(() => {
      for (const job of [...this.active]) job.cancel('shutting_down');
    }, drainMs);
    await drained;
    clearTimeout(timer);
  }

  stats(): WorkQueueStats {
    return { running: this.running, queued: this.waiting.length, ...this.counts, cancelled: { ...this.counts.cancelled } };
  }

  private next(): void {
    while (this.running < this.options.concurrency && this.waiting.length > 0) this.waiting.shift()!.start();
    if (this.running === 0 && this.active.size === 0) this.onIdle?.();
  }
}
