/**
 * A token bucket per channel: `perMinute` sends a minute on average, bursts of up to `burst`.
 * A send that finds the bucket empty waits (its delivery stays in the outbox): nothing is dropped
 * here, the outbox bound is what bounds the backlog.
 */
export class RateLimit {
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly perMinute: number,
    private readonly burst: number,
    nowMs: number,
  ) {
    this.tokens = burst;
    this.refilledAt = nowMs;
  }

  /** Takes a token, or returns how long (ms) until one is there. */
  take(nowMs: number): { ok: true } | { ok: false; waitMs: number } {
    this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.refilledAt) / 60_000) * this.perMinute);
    this.refilledAt = nowMs;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, waitMs: Math.ceil(((1 - this.tokens) * 60_000) / this.perMinute) };
  }
}
