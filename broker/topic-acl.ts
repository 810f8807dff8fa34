/**
 * Who may publish and read what, per role. Pure functions over MQTT topic filters, so the same rules
 * serve publish checks, subscription narrowing and the per-message forward check.
 *
 *   vehicle  publish its own telemetry, health, status and config-state; read everything under its own vehicle id
 *   ingest   read every fleet topic and every API log; publish alerts, the API blocklist and baseline
 *            resets (the query API relays an operator token's reset to the worker of the vehicle's shard)
 *   logship  publish API logs; read the API blocklist (the edge host's privacy API enforces it)
 *   viewer   read alerts, status, vehicle health and the broker's $SYS metrics
 *   operator publish (retained) vehicle config and baseline resets; read config, config-state, status and alerts
 *
 * Topics beginning with `$` are never published by clients, and are readable only when a grant names
 * them explicitly (a `#` filter does not match `$SYS/…`, as MQTT 3.1.1 §4.7.2 says).
 */
import { topics } from '../contracts/topics.ts';
import type { DeviceIdentity } from './device-store.ts';

export interface Grants {
  /** Filters a client may publish to (matched against the concrete topic). */
  readonly publish: readonly string[];
  /** Filters bounding what a client may receive. */
  readonly read: readonly string[];
}

const SYS_FILTER = '$SYS/#';

export function grantsFor(identity: DeviceIdentity): Grants {
  switch (identity.role) {
    case 'vehicle': {
      const id = identity.vehicleId ?? identity.username;
      return { publish: [topics.telemetry(id), topics.health(id), topics.status(id), topics.configState(id)], read: [topics.vehicleFilter(id)] };
    }
    case 'ingest':
      // Baseline resets: the query API (served by ingest) relays an operator token's reset to the worker of the vehicle's shard.
      return { publish: [topics.fleetFilter('alerts'), topics.fleetFilter('baseline-reset'), topics.apiBlocklist()], read: [topics.fleetFilter(), topics.apiLogsFilter()] };
    case 'logship':
      return { publish: [topics.apiLogsFilter()], read: [topics.apiBlocklist()] };
    case 'viewer':
      return { publish: [], read: [topics.fleetFilter('alerts'), topics.fleetFilter('status'), topics.fleetFilter('health'), SYS_FILTER] };
    case 'operator':
      return {
        publish: [topics.fleetFilter('config'), topics.fleetFilter('baseline-reset')],
        read: [topics.fleetFilter('config'), topics.fleetFilter('config-state'), topics.fleetFilter('status'), topics.fleetFilter('alerts')],
      };
  }
}

/**
 * True when `topic` (no wildcards) matches `filter`, with MQTT's rule that wildcards skip `$` topics.
 * Runs on every publish and every delivery, so it walks both strings level by level in place
 * instead of splitting them (two arrays per call were most of the ACL's cost per message).
 */
export function topicMatches(filter: string, topic: string): boolean {
  const first = filter.charCodeAt(0);
  if (topic.charCodeAt(0) === DOLLAR && (first === PLUS || first === HASH)) return false;
  let fi = 0;
  let ti = 0;
  let topicDone = false;
  for (;;) {
    let fEnd = filter.indexOf('/', fi);
    const filterLast = fEnd < 0;
    if (filterLast) fEnd = filter.length;
    const fLen = fEnd - fi;
    const wildcard = fLen === 1 ? filter.charCodeAt(fi) : 0;
    if (wildcard === HASH) return true;
    if (topicDone) return false;
    let tEnd = topic.indexOf('/', ti);
    const topicLast = tEnd < 0;
    if (topicLast) tEnd = topic.length;
    if (wildcard !== PLUS) {
      if (tEnd - ti !== fLen) return false;
      for (let k = 0; k < fLen; k++) if (filter.charCodeAt(fi + k) !== topic.charCodeAt(ti + k)) return false;
    }
    if (filterLast) return topicLast;
    fi = fEnd + 1;
    if (topicLast) topicDone = true;
    else ti = tEnd + 1;
  }
}

const DOLLAR = 0x24;
const PLUS = 0x2b;
const HASH = 0x23;

/**
 * The filter matching exactly the topics both filters match, or `null` when they share none.
 * (For MQTT's filter grammar the intersection is always expressible as one filter.)
 */
export function intersectFilters(a: string, b: string): string | null {
  const x = a.split('/');
  const y = b.split('/');
  const xDollar = a.startsWith('$');
  const yDollar = b.startsWith('$');
  // A leading wildcard never matches a `$` topic.
  if ((xDollar && (y[0] === '+' || y[0] === '#')) || (yDollar && (x[0] === '+' || x[0] === '#'))) return null;
  const out: string[] = [];
  for (let i = 0; ; i++) {
    const p = x[i];
    const q = y[i];
    if (p === '#') return [...out, ...y.slice(i)].join('/') || (i === 0 ? '#' : out.join('/'));
    if (q === '#') return [...out, ...x.slice(i)].join('/') || (i === 0 ? '#' : out.join('/'));
    if (p === undefined && q === undefined) return out.join('/');
    if (p === undefined || q === undefined) {
      // `a/#` also matches `a`; handled above. Otherwise different depths share nothing.
      return null;
    }
    if (p === '+') out.push(q);
    else if (q === '+' || p === q) out.push(p);
    else return null;
  }
}

export type SubscribeDecision =
  /** Keep the filter as requested: it lies inside what the client may read. */
  | { kind: 'allow'; filter: string }
  /** Replace it by the part the client may read (e.g. a vehicle's `fleet/#` → its own subtree). */
  | { kind: 'narrow'; filter: string }
  /** It overlaps several readable areas: keep it and let the forward check drop the rest. */
  | { kind: 'filter-on-forward'; filter: string }
  | { kind: 'deny' };

export function decideSubscribe(grants: Grants, filter: string): SubscribeDecision {
  if (filter.startsWith('$share/') || filter.startsWith('$queue/')) return { kind: 'deny' };
  const overlaps: string[] = [];
  for (const allowed of grants.read) {
    const common = intersectFilters(filter, allowed);
    if (common === null) continue;
    if (common === filter) return { kind: 'allow', filter };
    overlaps.push(common);
  }
  if (overlaps.length === 0) return { kind: 'deny' };
  if (overlaps.length === 1) return { kind: 'narrow', filter: overlaps[0]! };
  return { kind: 'filter-on-forward', filter };
}

export function mayPublish(grants: Grants, topic: string): boolean {
  if (topic.startsWith('$')) return false;
  return grants.publish.some((f) => topicMatches(f, topic));
}

export function mayRead(grants: Grants, topic: string): boolean {
  return grants.read.some((f) => topicMatches(f, topic));
}
