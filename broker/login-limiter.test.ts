import { describe, expect, it } from 'vitest';
import { LoginLimiter } from './login-limiter.ts';

describe('LoginLimiter', () => {
  const limiter = (now: { t: number }, maxTracked = 100) => new LoginLimiter({ maxFailures: 3, windowMs: 60_000, maxTracked, now: () => now.t });

  it('limits an identity after maxFailures, from any address, until its window ends', () => {
    const now = { t: 0 };
    const l = limiter(now);
    expect(l.recordFailure('car-1', '10.0.0.1', true)).toEqual({ identityLimited: false, addressLimited: false });
    l.recordFailure('car-1', '10.0.0.2', true);
    expect(l.identityLimited('car-1')).toBe(false);
    expect(l.recordFailure('car-1', '10.0.0.3', true)).toEqual({ identityLimited: true, addressLimited: false });
    expect(l.identityLimited('car-1')).toBe(true);
    expect(l.identityLimited('car-2')).toBe(false);
    now.t = 59_999;
    expect(l.identityLimited('car-1')).toBe(true);
    now.t = 60_000;
    expect(l.identityLimited('car-1')).toBe(false);
  });

  it('counts per address only failures with unknown names', () => {
    const l = limiter({ t: 0 });
    for (let i = 0; i < 10; i++) l.recordFailure(`car-${i}`, '10.0.0.1', true);
    expect(l.addressLimited('10.0.0.1')).toBe(false);
    l.recordFailure('ghost-1', '10.0.0.1', false);
    l.recordFailure('ghost-2', '10.0.0.1', false);
    expect(l.recordFailure('ghost-3', '10.0.0.1', false).addressLimited).toBe(true);
    expect(l.addressLimited('10.0.0.1')).toBe(true);
    expect(l.addressLimited('10.0.0.2')).toBe(false);
    // An unknown name is limited as an identity too, like a known one.
    for (let i = 0; i < 3; i++) l.recordFailure('ghost-9', '10.0.0.3', false);
    expect(l.identityLimited('ghost-9')).toBe(true);
  });

  it('tracks a bounded number of identities and addresses, forgetting the oldest', () => {
    const l = limiter({ t: 0 }, 2);
    for (let i = 0; i < 3; i++) l.recordFailure('car-1', '10.0.0.1', false);
    l.recordFailure('car-2', '10.0.0.2', false);
    l.recordFailure('car-3', '10.0.0.3', false);
    expect(l.identityLimited('car-1')).toBe(false);
    expect(l.addressLimited('10.0.0.1')).toBe(false);
    expect(l.evicted).toBe(2);
  });
});
