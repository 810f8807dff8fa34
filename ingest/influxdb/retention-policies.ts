/**
 * Creates the retention policies and the rollup continuous query of ./rollups.ts in a database,
 * from settings (./retention-options.ts).
 *
 * Guarantees:
 * - Idempotent: run at every ingest start (and whenever the database is re-created); a second run
 *   with the same settings changes nothing and reports every item `unchanged`.
 * - A changed setting is applied: an RP whose duration differs is ALTERed (InfluxDB then drops
 *   shards that fall outside it at its next retention check); a CQ whose text differs is dropped
 *   and created again (InfluxDB 1.x has no ALTER for CQs; nothing is lost, the next run covers
 *   its RESAMPLE FOR window again).
 * - The DEFAULT flag is never moved: `autogen` stays DEFAULT, so unqualified queries keep working.
 */
import type { InfluxDB } from 'influx';
import { RAW, ROLLUP, ROLLUP_STATS } from './rollups.ts';

export interface RetentionSettings {
  /** Days raw telemetry is kept; 0 = forever. */
  rawDays: number;
  /** Days the 1-minute rollup is kept; 0 = forever. */
  rollupDays: number;
  /** How often the CQ runs (RESAMPLE EVERY), seconds. */
  rollupEveryS: number;
  /** How far back each CQ run recomputes (RESAMPLE FOR), seconds: samples arriving later are not rolled up. */
  rollupForS: number;
}

export const DEFAULT_RETENTION: RetentionSettings = { rawDays: 30, rollupDays: 365, rollupEveryS: 60, rollupForS: 600 };

export type SchemaAction = 'created' | 'altered' | 'unchanged';

export interface RetentionReport {
  retentionPolicies: Record<string, SchemaAction>;
  continuousQueries: Record<string, SchemaAction>;
}

const DAY_MS = 86_400_000;

/** InfluxQL duration literal of a number of days (0 = INF). */
function durationOfDays(days: number): string {
  return days === 0 ? 'INF' : `${days}d`;
}

/** Milliseconds of a duration as SHOW RETENTION POLICIES prints it (`720h0m0s`, `0s` = INF). */
export function parseShownDuration(text: string): number {
  let ms = 0;
  for (const [, value, unit] of text.matchAll(/(\d+(?:\.\d+)?)(h|m|s|ms|µs|us|ns)/g)) {
    const factor = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, µs: 1e-3, us: 1e-3, ns: 1e-6 }[unit as 'h'];
    ms += Number(value) * factor;
  }
  return ms;
}

/** The body (SELECT … INTO …) of the rollup CQ; also what a hand-run backfill executes with a time range. */
export function rollupSelect(database: string, where = ''): string {
  const aggregates = ROLLUP_STATS.map((stat) => `${stat}(*)`).join(', ');
  return (
    `SELECT ${aggregates} INTO "${database}"."${ROLLUP.retentionPolicy}"."${ROLLUP.measurement}" ` +
    `FROM "${database}"."${RAW.retentionPolicy}"."${RAW.measurement}"${where ? ` WHERE ${where}` : ''} ` +
    `GROUP BY time(${ROLLUP.intervalMs / 1000}s), *`
  );
}

/** Rolls up raw telemetry of [fromMs, toMs) by hand: late samples the CQ's RESAMPLE FOR window missed. */
export async function backfillRollup(client: InfluxDB, database: string, fromMs: number, toMs: number): Promise<void> {
  await client.queryRaw(rollupSelect(database, `time >= ${fromMs}ms AND time < ${toMs}ms`), { database });
}

function resampleClause(settings: RetentionSettings): string {
  return `RESAMPLE EVERY ${settings.rollupEveryS}s FOR ${settings.rollupForS}s`;
}

export async function ensureRetention(client: InfluxDB, database: string, settings: RetentionSettings): Promise<RetentionReport> {
  const report: RetentionReport = { retentionPolicies: {}, continuousQueries: {} };
  const existing = new Map((await client.showRetentionPolicies(database)).map((rp) => [rp.name, rp]));
  const wanted: Array<[string, number]> = [
    [RAW.retentionPolicy, settings.rawDays],
    [ROLLUP.retentionPolicy, settings.rollupDays],
  ];
  for (const [name, days] of wanted) {
    const options = { database, duration: durationOfDays(days), replication: 1 };
    const current = existing.get(name);
    if (!current) {
      await client.createRetentionPolicy(name, options);
      report.retentionPolicies[name] = 'created';
    } else if (parseShownDuration(current.duration) !== days * DAY_MS) {
      // Without `isDefault` node-influx leaves the DEFAULT flag as it is.
      await client.alterRetentionPolicy(name, options);
      report.retentionPolicies[name] = 'altered';
    } else {
      report.retentionPolicies[name] = 'unchanged';
    }
  }

  const shown = (await showContinuousQueries(client, database)).find((cq) => cq.name === ROLLUP.continuousQuery);
  const resample = resampleClause(settings);
  const select = rollupSelect(database);
  if (shown && sameContinuousQuery(shown.query, resample, select)) {
    report.continuousQueries[ROLLUP.continuousQuery] = 'unchanged';
  } else {
    if (shown) await client.dropContinuousQuery(ROLLUP.continuousQuery, database);
    await client.createContinuousQuery(ROLLUP.continuousQuery, select, database, resample);
    report.continuousQueries[ROLLUP.continuousQuery] = shown ? 'altered' : 'created';
  }
  return report;
}

interface RawQueryResult {
  results?: Array<{ error?: string; series?: Array<{ name: string; values?: unknown[][] }> }>;
}

/** The CQs of one database (node-influx has no SHOW for them). */
export async function showContinuousQueries(client: InfluxDB, database: string): Promise<Array<{ name: string; query: string }>> {
  const raw = (await client.queryRaw('SHOW CONTINUOUS QUERIES')) as RawQueryResult;
  const result = raw.results?.[0];
  if (result?.error) throw new Error(`SHOW CONTINUOUS QUERIES: ${result.error}`);
  const series = result?.series?.find((s) => s.name === database);
  return (series?.values ?? []).map(([name, query]) => ({ name: String(name), query: String(query) }));
}

/**
 * InfluxDB prints a CQ normalised (quotes dropped, durations rewritten: 600s → 10m), so the shown
 * text is compared with ours after the same reduction: lower case, no quotes, durations in ms.
 */
function sameContinuousQuery(shownText: string, resample: string, select: string): boolean {
  const reduce = (text: string): string =>
    text
      .toLowerCase()
      .replace(/"/g, '')
      .replace(/\b(\d+)(ms|s|m|h|d|w)\b/g, (_, n: string, unit: string) => `${Number(n) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS, w: 7 * DAY_MS }[unit as 's']}ms`)
      .replace(/\s+/g, ' ')
      .trim();
  const shown = reduce(shownText);
  return shown.includes(reduce(resample)) && shown.includes(reduce(select));
}
