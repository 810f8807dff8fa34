/**
 * Abuse rules over enriched requests, on event time. Each rule watches one kind of subject:
 *
 *   ip_burst        ≥ ipBurst requests from one client address within 10 s         → block the address
 *   net_burst       ≥ netBurst requests from one /24 (IPv4) or /64 (IPv6) in 10 s  → block the network
 *   key_guessing    ≥ authFailures 401 answers to one address within 60 s          → block the address
 *   path_probing    ≥ probePaths distinct 404 paths from one address within 60 s    → block the address
 *   oversize_flood  ≥ oversize 413 answers to one address within 60 s              → block the address
 *   leaked_key      one known API key seen from ≥ keyCountries countries in 5 min  → block the key
 *
 * Counting rules keep the last N event times per subject (a ring: "N within W" ⇔ the newest minus
 * the N-th newest ≤ W); distinct rules keep ≤ N values per subject with their last time. A subject
 * that fired is quiet until its block expires. Memory is bounded by `maxSubjects` per rule (oldest
 * subject evicted, counted).
 */
import { networkOf } from '../../api/client-ip.ts';
import type { BlockKind } from '../../contracts/api-logs.ts';

export interface AbuseThresholds {
  ipBurst: number;
  netBurst: number;
  authFailures: number;
  probePaths: number;
  oversize: number;
  keyCountries: number;
}

export const DEFAULT_THRESHOLDS: AbuseThresholds = { ipBurst: 300, netBurst: 1500, authFailures: 10, probePaths: 15, oversize: 10, keyCountries: 4 };

export interface Detection {
  rule: string;
  kind: BlockKind;
  subject: string;
  count: number;
  threshold: number;
  windowMs: number;
  firstMs: number;
  lastMs: number;
  evidence: Record<string, unknown>;
}

export interface EnrichedRequest {
  timeMs: number;
  clientIp: string;
  status: number;
  path: string;
  requestId: string;
  keyPrefix: string;
  knownKey: boolean;
  country: string;
}

class CountRule {
  private readonly rings = new Map<string, { times: number[]; next: number; ids: string[] }>();
  evicted = 0;
  constructor(readonly threshold: number, readonly windowMs: number, private readonly maxSubjects: number) {}

  /** Records one event; returns the oldest time of the N events when they fall within the window. */
  hit(subject: string, timeMs: number, id: string): { firstMs: number; ids: string[] } | undefined {
    let ring = this.rings.get(subject);
    if (!ring) {
      if (this.rings.size >= this.maxSubjects) {
        this.rings.delete(this.rings.keys().next().value!);
        this.evicted += 1;
      }
      ring = { times: [], next: 0, ids: [] };
      this.rings.set(subject, ring);
    }
    if (ring.times.length < this.threshold) {
      ring.times.push(timeMs);
      ring.ids.push(id);
    } else {
      ring.times[ring.next] = timeMs;
      ring.ids[ring.next] = id;
      ring.next = (ring.next + 1) % this.threshold;
    }
    if (ring.times.length < this.threshold) return undefined;
    const oldest = ring.times[ring.next]!;
    const newest = Math.max(...ring.times);
    if (newest - oldest > this.windowMs) return undefined;
    const ids = ring.ids.slice(-5);
    this.rings.delete(subject);
    return { firstMs: oldest, ids };
  }
}

class DistinctRule {
  private readonly sets = new Map<string, Map<string, number>>();
  evicted = 0;
  constructor(readonly threshold: number, readonly windowMs: number, private readonly maxSubjects: number) {}

  hit(subject: string, value: string, timeMs: number): string[] | undefined {
    let seen = this.sets.get(subject);
    if (!seen) {
      if (this.sets.size >= this.maxSubjects) {
        this.sets.delete(this.sets.keys().next().value!);
        this.evicted += 1;
      }
      seen = new Map();
      this.sets.set(subject, seen);
    }
    seen.delete(value);
    seen.set(value, timeMs);
    for (const [v, t] of seen) {
      if (timeMs - t > this.windowMs) seen.delete(v);
      else break;
    }
    if (seen.size > this.threshold) seen.delete(seen.keys().next().value!);
    if (seen.size < this.threshold) return undefined;
    const values = [...seen.keys()];
    this.sets.delete(subject);
    return values;
  }
}

export class AbuseDetector {
  private readonly ip: CountRule;
  private readonly net: CountRule;
  private readonly auth: CountRule;
  private readonly oversize: CountRule;
  private readonly probe: DistinctRule;
  private readonly countries: DistinctRule;
  /** rule|subject → event time until which the subject is not reported again. */
  private readonly quietUntil = new Map<string, number>();
  private detections = 0;

  constructor(
    private readonly thresholds: AbuseThresholds,
    private readonly blockMs: number,
    maxSubjects = 100_000,
  ) {
    this.ip = new CountRule(thresholds.ipBurst, 10_000, maxSubjects);
    this.net = new CountRule(thresholds.netBurst, 10_000, maxSubjects);
    this.auth = new CountRule(thresholds.authFailures, 60_000, maxSubjects);
    this.oversize = new CountRule(thresholds.oversize, 60_000, maxSubjects);
    this.probe = new DistinctRule(thresholds.probePaths, 60_000, maxSubjects);
    this.countries = new DistinctRule(thresholds.keyCountries, 300_000, maxSubjects);
  }

  observe(r: EnrichedRequest): Detection[] {
    const out: Detection[] = [];
    const t = r.timeMs;
    const count = (rule: string, kind: BlockKind, subject: string, c: CountRule, evidence: Record<string, unknown>) => {
      if (this.isQuiet(rule, subject, t)) return;
      const fired = c.hit(subject, t, r.requestId);
      if (fired) out.push(this.fire({ rule, kind, subject, count: c.threshold, threshold: c.threshold, windowMs: c.windowMs, firstMs: fired.firstMs, lastMs: t, evidence: { ...evidence, requestIds: fired.ids } }));
    };
    count('ip_burst', 'ip', r.clientIp, this.ip, { lastPath: r.path });
    const net = networkOf(r.clientIp);
    if (net) count('net_burst', 'net', net, this.net, { lastIp: r.clientIp });
    if (r.status === 401) count('key_guessing', 'ip', r.clientIp, this.auth, { lastKeyPrefix: r.keyPrefix, lastPath: r.path });
    if (r.status === 413) count('oversize_flood', 'ip', r.clientIp, this.oversize, { lastPath: r.path });
    if (r.status === 404 && !this.isQuiet('path_probing', r.clientIp, t)) {
      const paths = this.probe.hit(r.clientIp, r.path.slice(0, 128), t);
      if (paths) out.push(this.fire({ rule: 'path_probing', kind: 'ip', subject: r.clientIp, count: paths.length, threshold: this.thresholds.probePaths, windowMs: 60_000, firstMs: t - 60_000, lastMs: t, evidence: { paths: paths.slice(0, 20) } }));
    }
    if (r.knownKey && r.keyPrefix && r.country !== 'ZZ' && !this.isQuiet('leaked_key', r.keyPrefix, t)) {
      const countries = this.countries.hit(r.keyPrefix, r.country, t);
      if (countries) out.push(this.fire({ rule: 'leaked_key', kind: 'key', subject: r.keyPrefix, count: countries.length, threshold: this.thresholds.keyCountries, windowMs: 300_000, firstMs: t - 300_000, lastMs: t, evidence: { countries, lastIp: r.clientIp } }));
    }
    return out;
  }

  stats(): { detections: number; evictedSubjects: number } {
    return { detections: this.detections, evictedSubjects: this.ip.evicted + this.net.evicted + this.auth.evicted + this.oversize.evicted + this.probe.evicted + this.countries.evicted };
  }

  private isQuiet(rule: string, subject: string, t: number): boolean {
    const until = this.quietUntil.get(`${rule}|${subject}`);
    if (until === undefined) return false;
    if (t < until) return true;
    this.quietUntil.delete(`${rule}|${subject}`);
    return false;
  }

  private fire(d: Detection): Detection {
    this.detections += 1;
    if (this.quietUntil.size > 200_000) this.quietUntil.clear();
    this.quietUntil.set(`${d.rule}|${d.subject}`, d.lastMs + this.blockMs);
    return d;
  }
}
