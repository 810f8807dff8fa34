/**
 * Where each kind of data lives in InfluxDB 1.x and for how long: the one place that names the
 * retention policies (RPs), the rollup measurement and its continuous query (CQ). Readers (Grafana
 * panels, the live dashboard's backfill, the query API) take names from here, never spell them.
 *
 *   raw_30d     telemetry (every sample), default 30 days             written with `rp=raw_30d`
 *   rollup_1y   telemetry_1m: mean/min/max per signal per vehicle     written by the CQ
 *               and minute, default 365 days
 *   autogen     everything else (features, anomaly, alerts, dtc,      written without `rp` (DEFAULT)
 *               vehicle_health, api_requests, api_threats, dead
 *               letters, baseline events, vehicle_state); kept until
 *               deleted: vehicle_state points sit at time 0, which a
 *               finite RP would drop on write
 *
 * Names state the default duration; the configured one is what `SHOW RETENTION POLICIES` shows.
 * `autogen` stays the DEFAULT RP so that every unqualified query keeps reading what it read before.
 */
import { MEASUREMENTS } from './schema.ts';

/** The raw telemetry RP: every sample as ingest wrote it. */
export const RAW = { retentionPolicy: 'raw_30d', measurement: MEASUREMENTS.telemetry } as const;

/** The 1-minute telemetry rollup (mean/min/max per signal, tag vehicle kept). */
export const ROLLUP = {
  retentionPolicy: 'rollup_1y',
  measurement: 'telemetry_1m',
  continuousQuery: 'telemetry_1m_cq',
  /** Width of one rollup point. */
  intervalMs: 60_000,
} as const;

/** One rollup interval, ms: a range read from the rollup is never finer than this. */
export const ROLLUP_INTERVAL_MS = ROLLUP.intervalMs;

/** The RP every write without `rp=` lands in and every unqualified query reads. */
export const DEFAULT_RETENTION_POLICY = 'autogen';

export type RollupStat = 'mean' | 'min' | 'max';
export const ROLLUP_STATS: readonly RollupStat[] = ['mean', 'min', 'max'];

/** A signal's field in `telemetry_1m`: InfluxDB names wildcard aggregates `<function>_<field>`. */
export function rollupField(stat: RollupStat, signal: string): string {
  return `${stat}_${signal.toLowerCase()}`;
}

/** `"rp"."measurement"` for a FROM clause. */
export function qualified(target: { retentionPolicy: string; measurement: string }): string {
  return `"${target.retentionPolicy}"."${target.measurement}"`;
}

/** Raw telemetry in a FROM clause: `"raw_30d"."telemetry"`. */
export const RAW_TELEMETRY = qualified(RAW);
/** The rollup in a FROM clause: `"rollup_1y"."telemetry_1m"`. */
export const ROLLUP_TELEMETRY = qualified(ROLLUP);

/**
 * Measurements written into an RP other than the DEFAULT one, by measurement name. The spool
 * forwarder splits each chunk by this table (ingest/spool/spool-forwarder.ts).
 */
export const WRITE_RETENTION_POLICY: Readonly<Record<string, string>> = {
  [RAW.measurement]: RAW.retentionPolicy,
};

/**
 * Which source a time range should be read from: raw samples while the range is short enough to
 * draw point by point and still inside the raw RP, the rollup otherwise.
 */
export function telemetrySourceFor(rangeMs: number, fromAgeMs: number, rawRetentionMs: number, maxRawRangeMs = 6 * 3_600_000): 'raw' | 'rollup' {
  return rangeMs <= maxRawRangeMs && fromAgeMs < rawRetentionMs ? 'raw' : 'rollup';
}
