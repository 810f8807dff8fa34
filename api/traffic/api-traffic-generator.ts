/**
 * Simulated users of the privacy API: real HTTP requests to nginx on loopback, each carrying the
 * simulated client's address in X-Forwarded-For (nginx and the API trust loopback as a proxy), so
 * the pipeline sees customers worldwide. Attackers mixed in:
 *
 *   key-guesser   random API keys (401s)            prober      random paths (404s)
 *   oversize      uploads over the size limit (413)  burst       one address as fast as it can
 *   leaked-key    a real customer key from many countries
 *
 * Bounded in count and time; refuses any target that is not a loopback address.
 */
import { isIP } from 'node:net';
import sharp from 'sharp';
import { createRng } from '../../simulator/rng.ts';

export type AttackerKind = 'key-guesser' | 'prober' | 'oversize' | 'burst' | 'leaked-key';

export interface TrafficOptions {
  /** nginx URL, e.g. http://127.0.0.1:8088. */
  target: string;
  /** Valid keys of simulated customers. */
  keys: readonly string[];
  /** Total requests (customers and attackers together). */
  maxRequests: number;
  maxDurationMs: number;
  /** Requests per second over all simulated users. */
  rate: number;
  concurrency: number;
  attackers: readonly AttackerKind[];
  /** Share of requests sent by attackers (0-1). */
  attackShare: number;
  seed: number;
  /** Body size the API refuses (oversize attacker sends a bit more). */
  oversizeBytes?: number;
  /** Called for every response (tests watch for 403s). */
  onResponse?: (r: { actor: string; ip: string; status: number; atMs: number }) => void;
  signal?: AbortSignal;
}

export interface TrafficResult {
  requests: number;
  byStatus: Record<string, number>;
  byActor: Record<string, number>;
  failures: number;
  durationMs: number;
}

/** Seeded random numbers in [0, 1): the simulator's generator, so runs repeat with a seed. */
export function rng(seed: number): () => number {
  return createRng(seed).next;
}

/** A public-looking IPv4 address (skips private, loopback, multicast and reserved first octets). */
export function publicIp(random: () => number): string {
  const skip = new Set([0, 10, 100, 127, 169, 172, 192, 198, 203, 224]);
  let first = 1;
  do first = 1 + Math.floor(random() * 222);
  while (skip.has(first));
  return `${first}.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}.${1 + Math.floor(random() * 254)}`;
}

function hashText(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function assertLoopback(target: string): void {
  const host = new URL(target).hostname.replace(/^\[|\]$/g, '');
  const ok = host === 'localhost' || (isIP(host) === 4 && host.startsWith('127.')) || host === '::1';
  if (!ok) throw new RangeError(`traffic goes to loopback only; ${host} is not a loopback address`);
}

export async function runApiTraffic(options: TrafficOptions): Promise<TrafficResult> {
  assertLoopback(options.target);
  const random = rng(options.seed);
  const photo = await sharp({ create: { width: 160, height: 120, channels: 3, background: { r: 90, g: 120, b: 160 } } }).jpeg().toBuffer();
  // A customer's addresses follow from its key, so they stay the same across runs and seeds
  // (otherwise every run would look like a leaked key used from new countries).
  const customers = Array.from({ length: Math.max(1, options.keys.length) }, (_, i) => {
    const key = options.keys[i % options.keys.length] ?? '';
    const home = rng(hashText(key));
    return { key, ips: [publicIp(home), publicIp(home)] };
  });
  const attackerIps = new Map<AttackerKind, string>(options.attackers.map((a, i) => [a, `203.0.113.${10 + i}`]));
  const result: TrafficResult = { requests: 0, byStatus: {}, byActor: {}, failures: 0, durationMs: 0 };
  const start = Date.now();
  const deadline = start + options.maxDurationMs;
  const interval = 1000 / options.rate;
  let issued = 0;

  const one = async (): Promise<void> => {
    const n = issued++;
    const attack = options.attackers.length > 0 && random() < options.attackShare;
    let actor = 'customer';
    let ip: string;
    let method = 'POST';
    let path = '/v1/blur?regions=20,60,60,20&mode=regions';
    let key: string | undefined;
    let body: Buffer | undefined = photo;
    if (attack) {
      const kind = options.attackers[Math.floor(random() * options.attackers.length)]!;
      actor = kind;
      ip = attackerIps.get(kind)!;
      if (kind === 'key-guesser') key = `k${Math.floor(random() * 1e16).toString(36).padEnd(23, 'x')}`;
      else if (kind === 'prober') {
        method = 'GET';
        body = undefined;
        path = `/${['admin', '.env', 'wp-login.php', 'backup', 'config', 'api/v0', '.git/config', 'phpmyadmin'][n % 8]}/${n}`;
        key = options.keys[0];
      } else if (kind === 'oversize') {
        key = options.keys[0];
        body = Buffer.alloc((options.oversizeBytes ?? 10 * 1024 * 1024) + 1024, 0xff);
      } else if (kind === 'leaked-key') {
        key = options.keys[0];
        ip = publicIp(random);
      } else key = options.keys[1] ?? options.keys[0];
    } else {
      const c = customers[Math.floor(random() * customers.length)]!;
      key = c.key;
      ip = c.ips[Math.floor(random() * c.ips.length)]!;
      if (random() < 0.05) {
        method = 'GET';
        body = undefined;
        path = '/openapi.json';
      }
    }
    const headers: Record<string, string> = { 'x-forwarded-for': ip!, 'user-agent': `fleetpulse-sim/${actor}` };
    if (key) headers['x-api-key'] = key;
    if (body) headers['content-type'] = 'image/jpeg';
    try {
      const response = await fetch(`${options.target}${path}`, { method, headers, body, signal: options.signal });
      await response.arrayBuffer();
      result.byStatus[response.status] = (result.byStatus[response.status] ?? 0) + 1;
      options.onResponse?.({ actor, ip: ip!, status: response.status, atMs: Date.now() });
    } catch {
      result.failures += 1;
    }
    result.requests += 1;
    result.byActor[actor] = (result.byActor[actor] ?? 0) + 1;
  };

  const workers = Array.from({ length: options.concurrency }, async () => {
    while (issued < options.maxRequests && Date.now() < deadline && !options.signal?.aborted) {
      // Paced: request k starts no earlier than start + k × interval.
      const due = start + issued * interval;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, Math.min(wait, 1000)));
      if (issued >= options.maxRequests || Date.now() >= deadline || options.signal?.aborted) break;
      await one();
    }
  });
  await Promise.all(workers);
  result.durationMs = Date.now() - start;
  return result;
}
