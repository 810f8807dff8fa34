/**
 * Delivers one channel's outbox, oldest first, one send at a time: a change raised before it is
 * cleared reaches the receiver in that order.
 *
 * Each round asks the channel's plan what may go now (a webhook: the oldest delivery; email: the
 * changes of one rule, unless its digest interval or quiet hours say wait), takes a token from the
 * channel's rate limit, sends, and records the outcome in the outbox before the next round. A
 * failure worth retrying backs off exponentially (full jitter, common/backoff.ts; the receiver's
 * Retry-After when longer) and retries the same deliveries: their body and key do not change. A
 * crash between a receiver's success and its record makes the next start send that delivery again,
 * with the same key: at least once, never differently identified.
 */
import { Backoff, sleep } from '../../common/backoff.ts';
import { errorMessage } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import type { ChannelSender } from './delivery-outcome.ts';
import type { NotificationOutbox, OutboxRow } from './outbox.ts';
import type { RateLimit } from './rate-limit.ts';

export type DeliveryPlan = { send: OutboxRow[]; mailOfRule?: string } | { waitUntilMs: number; reason: 'digest' | 'quiet_hours' };

export type ChannelActivity = 'idle' | 'sending' | 'retrying' | 'rate_limited' | 'digest' | 'quiet_hours' | 'stopped';

export interface ChannelStats {
  name: string;
  type: 'webhook' | 'email';
  activity: ChannelActivity;
  delivered: number;
  /** Attempts that failed and will be retried. */
  failures: number;
  rejected: number;
  dropped: { outbox_full: number; expired: number };
  rateLimited: number;
  mails: { single: number; digest: number };
  lastDeliveryMs?: number;
  lastFailureMs?: number;
  lastError?: string;
  /** While retrying or waiting: when the next attempt is due. */
  nextAttemptMs?: number;
}

export interface ChannelWorkerOptions {
  sender: ChannelSender;
  outbox: NotificationOutbox;
  rate: RateLimit;
  backoff: Backoff;
  plan: (rows: OutboxRow[], nowMs: number) => DeliveryPlan;
  /** Waiting deliveries read per round (email groups them by rule). */
  lookahead: number;
  now: () => number;
  log: Logger;
}

export class ChannelWorker {
  readonly stats: ChannelStats;
  private stopped = false;
  /** Set when a send outlived stop's grace: the outbox may be closed by then, its outcome is not recorded. */
  private abandoned = false;
  private loop: Promise<void> | undefined;
  private waiting: { abort: AbortController; wakeable: boolean } | undefined;
  /** Since the last retryable failure, until a delivery succeeds: shown as `retrying` throughout. */
  private failing = false;

  constructor(private readonly o: ChannelWorkerOptions) {
    const lastDeliveryMs = o.outbox.lastDone(o.sender.name, 'delivered');
    this.stats = {
      name: o.sender.name, type: o.sender.type, activity: 'idle', delivered: 0, failures: 0, rejected: 0, dropped: { outbox_full: 0, expired: 0 }, rateLimited: 0, mails: { single: 0, digest: 0 },
      ...(lastDeliveryMs !== undefined ? { lastDeliveryMs } : {}),
    };
  }

  start(): void {
    this.loop ??= this.run().catch((error: unknown) => this.o.log.error('notification channel stopped on an unexpected error', { channel: this.o.sender.name, error: errorMessage(error) }));
  }

  /** Something new is in the outbox: re-plan now, unless backing off or rate limited. */
  wake(): void {
    if (this.waiting?.wakeable) this.waiting.abort.abort();
  }

  /**
   * Ends the loop. A send in flight gets `graceMs` to finish and its outcome is recorded; one that
   * takes longer is not (it is sent again, with the same key, at the next start).
   */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    this.waiting?.abort.abort();
    if (this.loop) {
      const abort = new AbortController();
      const finished = await Promise.race([this.loop.then(() => true), sleep(graceMs, abort.signal).then(() => false)]);
      abort.abort();
      if (!finished) this.abandoned = true;
    }
    this.stats.activity = 'stopped';
  }

  private async wait(ms: number, wakeable: boolean): Promise<void> {
    const abort = new AbortController();
    this.waiting = { abort, wakeable };
    await sleep(Math.max(0, ms), abort.signal);
    this.waiting = undefined;
  }

  private async run(): Promise<void> {
    const { outbox, sender, log } = this.o;
    while (!this.stopped) {
      const rows = outbox.pending(sender.name, this.o.lookahead);
      if (rows.length === 0) {
        this.stats.activity = 'idle';
        delete this.stats.nextAttemptMs;
        await this.wait(60_000, true);
        continue;
      }
      const now = this.o.now();
      const plan = this.o.plan(rows, now);
      if ('waitUntilMs' in plan) {
        this.stats.activity = plan.reason;
        this.stats.nextAttemptMs = plan.waitUntilMs;
        await this.wait(plan.waitUntilMs - now, true);
        continue;
      }
      const token = this.o.rate.take(now);
      if (!token.ok) {
        this.stats.rateLimited += 1;
        this.stats.activity = 'rate_limited';
        this.stats.nextAttemptMs = now + token.waitMs;
        await this.wait(token.waitMs, false);
        continue;
      }
      this.stats.activity = this.failing ? 'retrying' : 'sending';
      const attempt = Math.max(...plan.send.map((r) => r.attempts)) + 1;
      const outcome = await sender.send(plan.send.map((r) => r.body), attempt);
      if (this.abandoned) return;
      const seqs = plan.send.map((r) => r.seq);
      const at = this.o.now();
      if (outcome.ok) {
        if (plan.mailOfRule !== undefined) {
          outbox.mailSent(sender.name, plan.mailOfRule, seqs, at);
          this.stats.mails[seqs.length > 1 ? 'digest' : 'single'] += 1;
        } else {
          outbox.delivered(seqs, at);
        }
        this.o.backoff.reset();
        this.failing = false;
        this.stats.delivered += seqs.length;
        this.stats.lastDeliveryMs = at;
        delete this.stats.nextAttemptMs;
        continue;
      }
      this.stats.lastFailureMs = at;
      this.stats.lastError = outcome.error;
      if (!outcome.retry) {
        for (const seq of seqs) outbox.rejected(seq, outcome.error, at);
        this.stats.rejected += seqs.length;
        log.error('notification refused by the receiver; not retried', { channel: sender.name, error: outcome.error, keys: plan.send.map((r) => r.key) });
        continue;
      }
      for (const seq of seqs) outbox.recordAttempt(seq, outcome.error);
      this.failing = true;
      this.stats.failures += 1;
      const delay = Math.max(this.o.backoff.next(), outcome.retryAfterMs ?? 0);
      this.stats.activity = 'retrying';
      this.stats.nextAttemptMs = at + delay;
      log.warn('notification not delivered; retrying', { channel: sender.name, error: outcome.error, attempt, retryInMs: delay, waiting: outbox.pendingCount(sender.name) });
      await this.wait(delay, false);
    }
  }
}
