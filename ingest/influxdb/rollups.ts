/**
 * Where the 1-minute telemetry rollups live, named once: the retention setup creates the retention
 * policy and the continuous query that fills the measurement; the query API and Grafana read it for
 * long ranges. A rollup point holds, per signal field `f` of `telemetry`, `mean_f`, `min_f` and
 * `max_f` (what `SELECT mean(*), min(*), max(*) … GROUP BY time(1m), *` writes), tag `vehicle`.
 */
export const ROLLUP = { retentionPolicy: 'rollup_1y', measurement: 'telemetry_1m' } as const;

/** One rollup interval, ms: a range read from the rollup is never finer than this. */
export const ROLLUP_INTERVAL_MS = 60_000;

/** The rollup field that holds `aggregate` of a telemetry field. */
export function rollupField(aggregate: 'mean' | 'min' | 'max', field: string): string {
  return `${aggregate}_${field}`;
}
