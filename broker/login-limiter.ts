/**
 * Failed-login rate limiting per source address: after `maxFailures` failed logins within `windowMs`,
 * further connections from that address are refused (CONNACK 5) without checking a password, until
 * the window has passed. Each address is tracked in a fixed window starting at its first failure.
 *
 * Bound: at most `maxTrackedAddresses` addresses; at the bound the oldest entry is forgotten
 * (counted in `evicted`), so a spray from many addresses cannot grow memory.
 */
export interface LoginLimiterOptions {
  maxFailures: number;
  windowMs: number;
  maxTrackedAddresses: number;
  now?: () => number;
}

export class LoginLimiter {
  private readonly entries = new Map<string, { since: number; failures: number }>();
  evicted = 0;
  refused = 0;

  constructor(private readonly options: LoginLimiterOptions) {}

  /** False while the address is locked out; counts the refusal. */
  allow(address: string): boolean {
    const entry = this.current(address);
    if (entry && entry.failures >= this.options.maxFailures) {
      this.refused += 1;
      return false;
    }
    return true;
  }

  recordFailure(address: string): void {
    const now = (this.options.now ?? Date.now)();
    const entry = this.current(address);
    if (entry) {
      entry.failures += 1;
      return;
    }
    if (this.entries.size >= this.options.maxTrackedAddresses) {
      this.entries.delete(this.entries.keys().next().value!);
      this.evicted += 1;
    }
    this.entries.set(address, { since: now, failures: 1 });
  }

  get lockedOut(): number {
    let n = 0;
    for (const [address] of this.entries) if ((this.current(address)?.failures ?? 0) >= this.options.maxFailures) n += 1;
    return n;
  }

  private current(address: string): { since: number; failures: number } | undefined {
    const entry = this.entries.get(address);
    if (!entry) return undefined;
    if ((this.options.now ?? Date.now)() - entry.since >= this.options.windowMs) {
      this.entries.delete(address);
      return undefined;
    }
    return entry;
  }
}
