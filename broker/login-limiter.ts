/**
 * Failed-login limits that cannot lock out the innocent.
 *
 * - Per identity (the username a client claims, whether it exists or not): after `maxFailures` failed
 *   logins within `windowMs` the identity is limited until its window ends. Its password is then no
 *   longer checked with scrypt, only against passwords the broker verified before, so a vehicle that
 *   was connected keeps getting in while someone guesses at its name, and the guesser gets nothing
 *   and costs nothing. Unknown names are limited the same way: a limit does not reveal which exist.
 * - Per source address, for unknown identities only: after `maxFailures` failed logins with names
 *   that do not exist, further unknown names from that address are refused without the dummy scrypt
 *   (the CPU an attacker spraying names would otherwise cost). Identities that exist are still
 *   checked, so valid vehicles behind an address shared with an attacker (one depot NAT) stay online.
 *   (The old limiter counted every failure per address: 10 bad logins refused a whole depot, while an
 *   attacker only had to change address.)
 *
 * Each window is fixed, starting at its key's first failure. Bound: at most `maxTracked` identities
 * and as many addresses; at the bound the oldest entry is forgotten (counted in `evicted`), so a spray
 * of names or addresses cannot grow memory.
 */
export interface LoginLimiterOptions {
  maxFailures: number;
  windowMs: number;
  /** Identities, and separately addresses, tracked at most. */
  maxTracked: number;
  now?: () => number;
}

/** Which limits a failure made reach their bound (for one log line per limit). */
export interface FailureOutcome {
  identityLimited: boolean;
  addressLimited: boolean;
}

export class LoginLimiter {
  private readonly identities: FailureWindows;
  private readonly addresses: FailureWindows;

  constructor(options: LoginLimiterOptions) {
    this.identities = new FailureWindows(options);
    this.addresses = new FailureWindows(options);
  }

  identityLimited(username: string): boolean {
    return this.identities.limited(username);
  }

  /** True when unknown names from this address are refused without a password check. */
  addressLimited(address: string): boolean {
    return this.addresses.limited(address);
  }

  /** Counts a failed login; `known` says whether the identity exists (only unknown ones count per address). */
  recordFailure(username: string, address: string, known: boolean): FailureOutcome {
    return {
      identityLimited: this.identities.record(username),
      addressLimited: known ? false : this.addresses.record(address),
    };
  }

  /** Entries forgotten at the tracking bound. */
  get evicted(): number {
    return this.identities.evicted + this.addresses.evicted;
  }
}

/** Failures per key in a fixed window from the key's first failure, for a bounded number of keys. */
class FailureWindows {
  private readonly entries = new Map<string, { since: number; failures: number }>();
  evicted = 0;

  constructor(private readonly options: LoginLimiterOptions) {}

  limited(key: string): boolean {
    return (this.current(key)?.failures ?? 0) >= this.options.maxFailures;
  }

  /** Counts a failure; true when this one reached the limit. */
  record(key: string): boolean {
    const entry = this.current(key);
    if (entry) {
      entry.failures += 1;
      return entry.failures === this.options.maxFailures;
    }
    if (this.entries.size >= this.options.maxTracked) {
      this.entries.delete(this.entries.keys().next().value!);
      this.evicted += 1;
    }
    this.entries.set(key, { since: (this.options.now ?? Date.now)(), failures: 1 });
    return this.options.maxFailures === 1;
  }

  private current(key: string): { since: number; failures: number } | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if ((this.options.now ?? Date.now)() - entry.since >= this.options.windowMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }
}
