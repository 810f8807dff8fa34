/**
 * Reads from InfluxDB 1.x over HTTP for pages and the query API: several InfluxQL statements in
 * one request, times as epoch milliseconds, a timeout on the whole request. A measurement that
 * does not exist yet is no series (not an error); any other failure throws with InfluxDB's words.
 */

export interface Series {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

/** Runs `statements` in one request; the series of each, in order (undefined: no data). */
export async function readInflux(influxUrl: string, database: string, statements: readonly string[], timeoutMs: number): Promise<Array<Series[] | undefined>> {
  const url = `${influxUrl}/query?db=${encodeURIComponent(database)}&epoch=ms&q=${encodeURIComponent(statements.join(';'))}`;
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`InfluxDB answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
  const body = (await response.json()) as { results?: Array<{ statement_id?: number; series?: Series[]; error?: string }> };
  const out: Array<Series[] | undefined> = statements.map(() => undefined);
  for (const [i, r] of (body.results ?? []).entries()) {
    if (r.error && !/not found/i.test(r.error)) throw new Error(r.error);
    out[r.statement_id ?? i] = r.series;
  }
  return out;
}

/** The rows of a series as objects keyed by column. */
export function seriesRows(series: Series | undefined): Array<Record<string, unknown>> {
  if (!series) return [];
  return series.values.map((row) => Object.fromEntries(series.columns.map((c, i) => [c, row[i]])));
}

/** A finite number, or undefined. */
export const finiteOrUndefined = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** An InfluxQL string literal ('…' with quotes and backslashes escaped). */
export function influxString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
