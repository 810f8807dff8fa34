/**
 * Who is asking, for the query API and the dashboard: the token of a request (an
 * `Authorization: Bearer` header, or the dashboard's session cookie set by its login form),
 * checked against the token file, with failed attempts limited.
 *
 * Failed-attempt limits (broker/login-limiter.ts, the broker's own): a token id that exists
 * fails per id; malformed and unknown tokens fail per source address. At `maxFailures` in
 * `windowMs` further attempts of that kind are refused (`rate_limited`) without running scrypt,
 * so guessing costs the guesser, not ingest's CPU; a valid token from the same address still
 * gets in. Both bounded by `maxTracked` keys.
 */
import { isIP } from 'node:net';
import { LoginLimiter } from '../../broker/login-limiter.ts';
import type { FileTokenStore, TokenIdentity } from './token-store.ts';

/** The dashboard's session cookie: the token itself, httpOnly and SameSite=Strict. */
export const SESSION_COOKIE = 'fp_session';

export type AuthOutcome =
  | { ok: true; identity: TokenIdentity }
  | { ok: false; reason: 'missing' | 'invalid' | 'rate_limited' };

export interface RequestCredentials {
  authorization?: string | undefined;
  cookie?: string | undefined;
  address: string;
}

export interface AuthStats {
  accepted: number;
  refused: number;
  rateLimited: number;
}

/** True for 127.0.0.0/8, ::1, ::ffff:127.x and `localhost`: addresses only this machine reaches. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h);
  return false;
}

export function bearerToken(authorization: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return match?.[1];
}

export class RequestAuthenticator {
  private readonly limiter: LoginLimiter;
  private readonly counters: AuthStats = { accepted: 0, refused: 0, rateLimited: 0 };

  constructor(
    readonly store: FileTokenStore,
    limits: { maxFailures?: number; windowMs?: number; maxTracked?: number } = {},
  ) {
    this.limiter = new LoginLimiter({ maxFailures: limits.maxFailures ?? 10, windowMs: limits.windowMs ?? 60_000, maxTracked: limits.maxTracked ?? 10_000 });
  }

  stats(): AuthStats {
    return { ...this.counters };
  }

  /** The request's identity from its bearer token, else its session cookie. */
  authenticate(credentials: RequestCredentials): Promise<AuthOutcome> {
    const token = bearerToken(credentials.authorization) ?? credentials.cookie;
    return token ? this.check(token, credentials.address) : Promise.resolve({ ok: false, reason: 'missing' });
  }

  /** Checks one token (the login form's too); counts and limits failures. */
  async check(token: string, address: string): Promise<AuthOutcome> {
    const id = /^fpt_([0-9a-f]{12})_/.exec(token)?.[1];
    this.store.reload();
    const known = id !== undefined && this.store.hasId(id);
    if (known ? this.limiter.identityLimited(id) : this.limiter.addressLimited(address)) {
      this.counters.rateLimited += 1;
      return { ok: false, reason: 'rate_limited' };
    }
    const result = await this.store.verify(token);
    if (result.ok) {
      this.counters.accepted += 1;
      return result;
    }
    this.counters.refused += 1;
    this.limiter.recordFailure(id ?? 'malformed', address, known);
    return { ok: false, reason: 'invalid' };
  }
}
