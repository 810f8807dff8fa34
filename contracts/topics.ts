/**
 * The only place that spells MQTT topics. Everything else calls these functions.
 *
 *   fleet/{shard}/{vehicleId}/telemetry   QoS 1, agent → ingest
 *   fleet/{shard}/{vehicleId}/health      QoS 1, retained, agent → ingest, viewers: vehicle health events
 *                                         (DTCs, MIL, readiness, freeze frame; contracts/vehicle-health.ts)
 *   fleet/{shard}/{vehicleId}/status      retained, agent (with last will)
 *   fleet/{shard}/{vehicleId}/alerts      QoS 1, ingest → agent, viewers (JSON, contracts/alerts.ts)
 *   fleet/{shard}/{vehicleId}/config      retained, operator → agent (JSON, contracts/agent-config.ts)
 *   fleet/{shard}/{vehicleId}/config-state retained, agent → operator: applied version or why rejected
 *   fleet/{shard}/{vehicleId}/baseline-reset QoS 1, operator (or a cleared DTC) → the ingest worker of the
 *                                         shard: forget the vehicle's learned baseline (contracts/baseline-reset.ts)
 *   apilogs/{source}                      log shipper → ingest
 *   security/api-blocklist                retained, ingest → privacy API (abuse blocklist)
 *
 * `shard = fnv1a32(vehicleId) mod 64` lets ingest workers split the fleet with plain
 * subscriptions (Aedes has no shared subscriptions) while each vehicle always lands on the
 * same worker, so its windows are never split.
 */
export const SHARD_COUNT = 64;

export const VEHICLE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export type VehicleTopicKind = 'telemetry' | 'health' | 'status' | 'alerts' | 'config' | 'config-state' | 'baseline-reset';

const vehicleKinds: readonly VehicleTopicKind[] = ['telemetry', 'health', 'status', 'alerts', 'config', 'config-state', 'baseline-reset'];

/** FNV-1a over the id's UTF-8 bytes: cheap, stable across languages and releases. */
export function shardOf(vehicleId: string): number {
  return fnv1a32(vehicleId) % SHARD_COUNT;
}

/** FNV-1a, 32 bit, over the text's UTF-8 bytes (also the feature-set and baseline-list ids of models/). */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

export function isValidVehicleId(vehicleId: string): boolean {
  return VEHICLE_ID_PATTERN.test(vehicleId);
}

function vehicleTopic(vehicleId: string, kind: VehicleTopicKind): string {
  if (!isValidVehicleId(vehicleId)) throw new TypeError(`invalid vehicle id ${JSON.stringify(vehicleId)}`);
  return `fleet/${shardOf(vehicleId)}/${vehicleId}/${kind}`;
}

export const topics = {
  telemetry: (vehicleId: string) => vehicleTopic(vehicleId, 'telemetry'),
  health: (vehicleId: string) => vehicleTopic(vehicleId, 'health'),
  status: (vehicleId: string) => vehicleTopic(vehicleId, 'status'),
  alerts: (vehicleId: string) => vehicleTopic(vehicleId, 'alerts'),
  config: (vehicleId: string) => vehicleTopic(vehicleId, 'config'),
  configState: (vehicleId: string) => vehicleTopic(vehicleId, 'config-state'),
  baselineReset: (vehicleId: string) => vehicleTopic(vehicleId, 'baseline-reset'),
  /** Subscription filter for one shard's messages of one kind. */
  shardFilter: (shard: number, kind: VehicleTopicKind) => `fleet/${shard}/+/${kind}`,
  /** Filter for every topic of one vehicle (what a vehicle's own identity may read). */
  vehicleFilter: (vehicleId: string) => {
    if (!isValidVehicleId(vehicleId)) throw new TypeError(`invalid vehicle id ${JSON.stringify(vehicleId)}`);
    return `fleet/${shardOf(vehicleId)}/${vehicleId}/#`;
  },
  /** Filter for one kind across the whole fleet; without a kind, every fleet topic. */
  fleetFilter: (kind?: VehicleTopicKind) => (kind ? `fleet/+/+/${kind}` : 'fleet/#'),
  /** API log batches shipped from one source (an nginx host), e.g. `apilogs/edge-1`. */
  apiLogs: (source: string) => {
    if (!isValidVehicleId(source)) throw new TypeError(`invalid api log source ${JSON.stringify(source)}`);
    return `apilogs/${source}`;
  },
  /** Filter for every API log topic. */
  apiLogsFilter: () => 'apilogs/#',
  /** The abuse blocklist (retained, JSON `ApiBlocklist` of contracts/api-logs.ts), ingest → privacy API. */
  apiBlocklist: () => 'security/api-blocklist',
  /** The broker's own counters (JSON), published under MQTT's `$SYS` convention. */
  brokerMetrics: (brokerId: string) => `$SYS/${brokerId}/fleetpulse/metrics`,
} as const;

/** True for `apilogs/{source}` topics (the source is checked by the batch's own field). */
export function isApiLogsTopic(topic: string): boolean {
  return topic.startsWith('apilogs/') && topic.indexOf('/', 8) === -1 && topic.length > 8;
}

export interface ParsedVehicleTopic {
  shard: number;
  vehicleId: string;
  kind: VehicleTopicKind;
}

/** Parses a vehicle topic; `undefined` for anything that is not one of ours. */
export function parseVehicleTopic(topic: string): ParsedVehicleTopic | undefined {
  const parts = topic.split('/');
  if (parts.length !== 4 || parts[0] !== 'fleet') return undefined;
  const [, shardText, vehicleId, kind] = parts as [string, string, string, string];
  const shard = Number(shardText);
  if (!/^\d+$/.test(shardText) || shard >= SHARD_COUNT) return undefined;
  if (!isValidVehicleId(vehicleId) || !(vehicleKinds as readonly string[]).includes(kind)) return undefined;
  return { shard, vehicleId, kind: kind as VehicleTopicKind };
}

/**
 * Parses a shard selection such as `0-63`, `0-31`, `5` or `0-7,32-39` into sorted shard numbers.
 * Throws a RangeError naming the bad part; callers turn it into a config error.
 */
export function parseShardRanges(text: string): number[] {
  const shards = new Set<number>();
  for (const part of text.split(',').map((p) => p.trim())) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!match) throw new RangeError(`'${part}' is not a shard or range like 0-31`);
    const from = Number(match[1]);
    const to = match[2] === undefined ? from : Number(match[2]);
    if (from > to || to >= SHARD_COUNT) throw new RangeError(`'${part}' is outside 0-${SHARD_COUNT - 1}`);
    for (let s = from; s <= to; s++) shards.add(s);
  }
  return [...shards].sort((a, b) => a - b);
}
