/**
 * What the query API reads from InfluxDB: one vehicle's telemetry (raw, means of raw, or the
 * 1-minute rollup for long ranges), alert changes, DTC episodes and each vehicle's MIL. Every
 * query has a time range and a LIMIT; the vehicle scope of a token becomes a `vehicle =~` regex
 * in the query itself, so a scoped viewer's page is full even when other vehicles dominate.
 *
 * Failures of InfluxDB throw (with its words): the routes answer them with FP_API_UPSTREAM_FAILED.
 */
import { SIGNAL_NAMES, signalField } from '../../contracts/signals.ts';
import { finiteOrUndefined as num, influxString, readInflux, seriesRows, type Series } from '../influxdb/influx-read.ts';
import { RAW_TELEMETRY, ROLLUP_INTERVAL_MS, ROLLUP_TELEMETRY, rollupField } from '../influxdb/rollups.ts';
import type { ApiAlert, ApiDtc, ApiTelemetry } from './api-schemas.ts';

/** Ranges up to this are answered with raw points (unless `every` asks for buckets). */
export const RAW_RANGE_MAX_MS = 6 * 3_600_000;

export const TELEMETRY_FIELDS: readonly string[] = SIGNAL_NAMES.map(signalField);

/** Field names for a `signals` parameter (wire names or field names); undefined lists the unknown ones. */
export function telemetryFields(signals: string | undefined): { ok: true; fields: string[] } | { ok: false; unknown: string[] } {
  if (!signals) return { ok: true, fields: [...TELEMETRY_FIELDS] };
  const wanted = [...new Set(signals.split(',').map((s) => s.trim()).filter(Boolean).map(signalField))];
  const unknown = wanted.filter((f) => !TELEMETRY_FIELDS.includes(f));
  return unknown.length > 0 || wanted.length === 0 ? { ok: false, unknown } : { ok: true, fields: wanted };
}

/** `10s`, `5m`, `1h` → ms. */
export function durationMs(text: string): number {
  const n = Number(text.slice(0, -1));
  return n * ({ s: 1000, m: 60_000, h: 3_600_000 } as const)[text.slice(-1) as 's' | 'm' | 'h'];
}

/** A `vehicle =~ /…/` condition for a token's scope (patterns are globs of vehicle ids: no `/`). */
export function scopeCondition(scope: RegExp[] | undefined): string {
  if (!scope) return '';
  return ` AND vehicle =~ /${scope.map((r) => `(?:${r.source})`).join('|')}/`;
}

export interface TelemetryRequest {
  vehicle: string;
  from: number;
  to: number;
  fields: string[];
  everyMs: number | undefined;
  afterMs: number | undefined;
  limit: number;
}

export class ApiInfluxReader {
  constructor(private readonly options: { influxUrl: string; database: string; timeoutMs?: number }) {}

  private query(statements: string[]): Promise<Array<Series[] | undefined>> {
    return readInflux(this.options.influxUrl, this.options.database, statements, this.options.timeoutMs ?? 5000);
  }

  /**
   * Telemetry of one vehicle. Raw points up to RAW_RANGE_MAX_MS without `every`; beyond, 1-minute
   * (or `every`) means, read from the rollup when it has points in the range, else from raw.
   * Pages run forward in time: `afterMs` is the last point's time of the previous page.
   */
  async telemetry(r: TelemetryRequest): Promise<Omit<ApiTelemetry, 'nextCursor'> & { more: boolean }> {
    const long = r.to - r.from > RAW_RANGE_MAX_MS;
    const everyMs = r.everyMs ?? (long ? ROLLUP_INTERVAL_MS : undefined);
    const start = r.afterMs !== undefined ? Math.max(r.from, r.afterMs + 1) : r.from;
    const where = `vehicle = ${influxString(r.vehicle)} AND time >= ${start}ms AND time <= ${r.to}ms`;
    const fetchRows = async (statement: string): Promise<Array<Record<string, unknown>>> => seriesRows((await this.query([statement]))[0]?.[0]);
    let source: ApiTelemetry['source'] = 'raw';
    let rows: Array<Record<string, unknown>> = [];
    if (everyMs === undefined) {
      rows = await fetchRows(`SELECT ${r.fields.map((f) => `"${f}"`).join(', ')} FROM ${RAW_TELEMETRY} WHERE ${where} ORDER BY time ASC LIMIT ${r.limit + 1}`);
    } else {
      const bucket = `${Math.max(1, Math.round(everyMs / 1000))}s`;
      if (long && everyMs >= ROLLUP_INTERVAL_MS) {
        const select = r.fields.map((f) => `mean("${rollupField('mean', f)}") AS "${f}"`).join(', ');
        rows = await fetchRows(`SELECT ${select} FROM ${ROLLUP_TELEMETRY} WHERE ${where} GROUP BY time(${bucket}) fill(none) LIMIT ${r.limit + 1}`);
        if (rows.length > 0) source = 'rollup_1m';
      }
      if (source === 'raw') {
        source = 'raw_aggregated';
        const select = r.fields.map((f) => `mean("${f}") AS "${f}"`).join(', ');
        rows = await fetchRows(`SELECT ${select} FROM ${RAW_TELEMETRY} WHERE ${where} GROUP BY time(${bucket}) fill(none) LIMIT ${r.limit + 1}`);
      }
    }
    const more = rows.length > r.limit;
    const points = rows.slice(0, r.limit).map((row) => ({ t: num(row.time) ?? 0, values: Object.fromEntries(r.fields.map((f) => [f, num(row[f]) ?? null])) }));
    return { vehicle: r.vehicle, from: r.from, to: r.to, source, everyMs: everyMs ?? null, fields: r.fields, points, more };
  }

  /**
   * Alert changes, newest first, from `sinceMs`; `before` continues a page: rows older than its
   * time, or at its time after the first `skip` (several changes may share a millisecond).
   */
  async alerts(q: { sinceMs: number; state?: 'raised' | 'cleared' | undefined; vehicle?: string; scope?: RegExp[] | undefined; before?: { t: number; skip: number }; limit: number }): Promise<{ items: ApiAlert[]; more: boolean; last?: { t: number; skip: number } }> {
    const conditions = [`time >= ${q.sinceMs}ms`];
    if (q.before) conditions.push(`time <= ${q.before.t}ms`);
    if (q.state) conditions.push(`"state" = ${influxString(q.state)}`);
    if (q.vehicle) conditions.push(`vehicle = ${influxString(q.vehicle)}`);
    const skip = q.before?.skip ?? 0;
    const rows = seriesRows((await this.query([`SELECT * FROM alerts WHERE ${conditions.join(' AND ')}${scopeCondition(q.scope)} ORDER BY time DESC LIMIT ${q.limit + skip + 1}`]))[0]?.[0]);
    const rest = q.before ? rows.filter((row, i) => num(row.time)! < q.before!.t || i >= skip) : rows;
    const page = rest.slice(0, q.limit);
    const items = page.map((row) => ({
      alertId: String(row.alert_id ?? ''),
      vehicle: String(row.vehicle ?? ''),
      state: row.state === 'cleared' ? ('cleared' as const) : ('raised' as const),
      kind: typeof row.kind === 'string' && row.kind ? row.kind : 'model',
      atMs: num(row.time) ?? 0,
      score: num(row.score) ?? null,
      threshold: num(row.threshold) ?? null,
      text: typeof row.text === 'string' && row.text ? row.text : null,
    }));
    const lastT = items[items.length - 1]?.atMs;
    const last = lastT === undefined ? undefined : { t: lastT, skip: items.filter((a) => a.atMs === lastT).length + (q.before?.t === lastT ? skip : 0) };
    return { items, more: rest.length > q.limit, ...(last ? { last } : {}) };
  }

  /** A vehicle's DTC episodes, newest first (at most 1,000; docs/data-layout.md, `dtc`). */
  async dtcs(vehicle: string): Promise<ApiDtc[]> {
    const rows = seriesRows((await this.query([`SELECT * FROM dtc WHERE vehicle = ${influxString(vehicle)} ORDER BY time DESC LIMIT 1000`]))[0]?.[0]);
    const text = (v: unknown): string | null => (typeof v === 'string' && v ? v : null);
    return rows.map((row) => ({
      code: String(row.code ?? ''),
      kind: String(row.kind ?? ''),
      state: String(row.state ?? ''),
      firstSeenMs: num(row.first_seen_ms) ?? num(row.time) ?? null,
      lastSeenMs: num(row.last_seen_ms) ?? null,
      clearedMs: num(row.cleared_ms) ?? null,
      description: text(row.description),
      system: text(row.system),
    }));
  }

  /** Each vehicle's MIL from its newest `vehicle_health` point of the last 30 days. */
  async mil(): Promise<Map<string, boolean>> {
    const series = (await this.query([`SELECT last(mil) AS mil FROM vehicle_health WHERE time > now() - 30d GROUP BY vehicle`]))[0] ?? [];
    const out = new Map<string, boolean>();
    for (const s of series) {
      const row = seriesRows(s)[0];
      if (s.tags?.vehicle && typeof row?.mil === 'boolean') out.set(s.tags.vehicle, row.mil);
    }
    return out;
  }
}
