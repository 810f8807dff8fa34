/**
 * What the dashboard reads from InfluxDB when a page (re)opens, so it shows history and survives an
 * ingest restart: latest state per vehicle, recent alerts, API requests by country, active
 * threats, and one vehicle's recent signals and scores for its charts.
 *
 * Every query has a time range and a LIMIT, and the whole read a timeout (`timeoutMs`); a failing
 * InfluxDB is a value (`ok: false` with the error), never an exception: the page then shows live
 * data only and says so.
 */
import { errorMessage } from '../../common/errors.ts';
import { finiteOrUndefined, readInflux, seriesRows, type Series } from '../influxdb/influx-read.ts';
import { LIVE_SIGNALS, colourOf, type AlertView, type CountryView, type SampleTuple, type ThreatView, type VehicleView } from './live-state.ts';
import type { ListedCode } from '../ingest-events.ts';
import { RAW_TELEMETRY } from '../influxdb/rollups.ts';

export interface FleetBackfill {
  ok: boolean;
  error?: string;
  vehicles: VehicleView[];
  alerts: AlertView[];
  countries: CountryView[];
  threats: ThreatView[];
}

export interface VehicleHistory {
  ok: boolean;
  error?: string;
  vehicle: string;
  signals: readonly string[];
  samples: SampleTuple[];
  /** [window start ms, score, threshold]. */
  scores: Array<[number, number, number]>;
}


export interface BackfillOptions {
  influxUrl: string;
  database: string;
  timeoutMs?: number;
  /** How far back the fleet's latest state, alerts and threats are read (default 1 h). */
  lookbackMs?: number;
  /** Window of API requests by country (the live window, default 5 min). */
  apiWindowMs?: number;
}

const VEHICLE_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
const FIELDS = LIVE_SIGNALS.map((s) => s.toLowerCase());

const rows = seriesRows;
const num = finiteOrUndefined;

export class InfluxBackfill {
  private counters = { queries: 0, failures: 0 };
  private readonly timeoutMs: number;
  private readonly lookback: string;
  private readonly apiWindow: string;

  constructor(private readonly options: BackfillOptions) {
    this.timeoutMs = options.timeoutMs ?? 3000;
    this.lookback = `${Math.round((options.lookbackMs ?? 3_600_000) / 1000)}s`;
    this.apiWindow = `${Math.round((options.apiWindowMs ?? 300_000) / 1000)}s`;
  }

  static isVehicleId(id: string): boolean {
    return VEHICLE_ID.test(id);
  }

  stats(): { queries: number; failures: number } {
    return { ...this.counters };
  }

  /** The fleet as InfluxDB has it (the vehicles' colours use the same rule as the live state). */
  async fleet(nowMs = Date.now()): Promise<FleetBackfill> {
    const lb = this.lookback;
    try {
      const [telemetry, anomaly, alerts, api, threats, health, codes] = await this.query([
        `SELECT last(rpm) AS rpm, ${FIELDS.filter((f) => f !== 'rpm').join(', ')} FROM ${RAW_TELEMETRY} WHERE time > now() - ${lb} GROUP BY vehicle`,
        `SELECT last(score) AS score, threshold, anomalous, baseline, baseline_progress FROM anomaly WHERE time > now() - ${lb} GROUP BY vehicle`,
        `SELECT * FROM alerts WHERE time > now() - 24h ORDER BY time DESC LIMIT 500`,
        `SELECT sum(requests) AS requests, sum(errors) AS errors, sum(client_errors) AS client_errors FROM api_requests WHERE "window" = '10s' AND time > now() - ${this.apiWindow} GROUP BY country`,
        `SELECT * FROM api_threats WHERE block_until_ms > ${nowMs} AND time > now() - 24h ORDER BY time DESC LIMIT 500`,
        // The car's own diagnosis: the last MIL per vehicle, and the codes listed now (a `dtc` point's time is its first seen).
        `SELECT last(seq) AS seq, mil FROM vehicle_health WHERE time > now() - 30d GROUP BY vehicle`,
        `SELECT code, kind, description, freeze_frame, first_seen_ms FROM dtc WHERE state = 'active' AND time > now() - 400d GROUP BY vehicle LIMIT 50`,
      ]);
      const vehicles = new Map<string, VehicleView>();
      const vehicle = (id: string): VehicleView => {
        let v = vehicles.get(id);
        if (!v) vehicles.set(id, (v = { id, state: 'unscored' }));
        return v;
      };
      for (const s of telemetry ?? []) {
        const r = rows(s)[0];
        if (!r || !s.tags?.vehicle) continue;
        const v = vehicle(s.tags.vehicle);
        v.t = num(r.time);
        v.values = FIELDS.map((f) => num(r[f]) ?? null);
      }
      for (const s of anomaly ?? []) {
        const r = rows(s)[0];
        if (!r || !s.tags?.vehicle) continue;
        const v = vehicle(s.tags.vehicle);
        const score = num(r.score);
        if (score === undefined) continue;
        Object.assign(v, { score, threshold: num(r.threshold) ?? 0.5, anomalous: r.anomalous === true, windowStartMs: num(r.time) });
        if (r.baseline === 'learning' || r.baseline === 'learned') v.baseline = { status: r.baseline, progress: num(r.baseline_progress) ?? (r.baseline === 'learned' ? 1 : 0) };
      }
      const alertViews: AlertView[] = [];
      const lastState = new Map<string, Record<string, unknown>>();
      for (const r of rows(alerts?.[0])) {
        const id = String(r.vehicle ?? '');
        if (!id) continue;
        // Rows come newest first; the tile's alert state is the model's (dtc and mil rows carry a `kind` tag).
        if (!lastState.has(id) && (r.kind === undefined || r.kind === null || r.kind === 'engine_anomaly')) lastState.set(id, r);
        if (alertViews.length < 100) {
          const at = num(r.time) ?? 0;
          alertViews.push({
            alertId: String(r.alert_id ?? ''),
            vehicle: id,
            state: r.state === 'cleared' ? 'cleared' : 'raised',
            kind: r.kind === 'dtc' || r.kind === 'mil' ? r.kind : 'engine_anomaly',
            score: num(r.score) ?? 0,
            threshold: num(r.threshold) ?? 0,
            windowStartMs: at,
            atMs: at,
            topFeatures: String(r.top_features ?? '').split(',').filter(Boolean).map((f) => f.split(':')[0]!),
            ...(typeof r.text === 'string' && r.text ? { text: r.text } : {}),
          });
        }
      }
      for (const s of health ?? []) {
        const r = rows(s)[0];
        if (!r || !s.tags?.vehicle) continue;
        const listed = rows((codes ?? []).find((c) => c.tags?.vehicle === s.tags!.vehicle)).map((c): ListedCode => {
          const frame = typeof c.freeze_frame === 'string' ? parseFrame(c.freeze_frame) : undefined;
          return {
            code: String(c.code ?? ''),
            kind: c.kind === 'confirmed' || c.kind === 'permanent' ? c.kind : 'pending',
            description: String(c.description ?? ''),
            firstSeenMs: num(c.first_seen_ms) ?? num(c.time) ?? 0,
            ...(frame ? { freezeFrame: frame } : {}),
          };
        });
        vehicle(s.tags.vehicle).health = { mil: typeof r.mil === 'boolean' ? r.mil : null, t: num(r.time) ?? 0, codes: listed };
      }
      for (const [id, r] of lastState) {
        const v = vehicle(id);
        v.alerting = r.state === 'raised';
        if (v.alerting) v.alertId = String(r.alert_id ?? '');
      }
      for (const v of vehicles.values()) v.state = colourOf(v);
      const countries: CountryView[] = (api ?? []).map((s) => {
        const r = rows(s)[0] ?? {};
        return { country: s.tags?.country ?? 'ZZ', requests: num(r.requests) ?? 0, errors: (num(r.errors) ?? 0) + (num(r.client_errors) ?? 0) };
      });
      const threatViews = new Map<string, ThreatView>();
      for (const r of rows(threats?.[0])) {
        const key = `${String(r.rule)}|${String(r.subject)}`;
        if (threatViews.has(key)) continue;
        threatViews.set(key, {
          key,
          source: String(r.source ?? ''),
          rule: String(r.rule ?? ''),
          kind: String(r.kind ?? ''),
          subject: String(r.subject ?? ''),
          count: num(r.count) ?? 0,
          threshold: num(r.threshold) ?? 0,
          windowMs: (num(r.window_s) ?? 0) * 1000,
          firstMs: num(r.first_ms) ?? 0,
          lastMs: num(r.last_ms) ?? 0,
          blockUntilMs: num(r.block_until_ms) ?? 0,
        });
      }
      return { ok: true, vehicles: [...vehicles.values()], alerts: alertViews, countries, threats: [...threatViews.values()] };
    } catch (error) {
      this.counters.failures += 1;
      return { ok: false, error: errorMessage(error), vehicles: [], alerts: [], countries: [], threats: [] };
    }
  }

  /** One vehicle's last `minutes` of charted signals (≤ 3,600 samples) and scores (≤ 500 windows). */
  async vehicle(id: string, minutes: number): Promise<VehicleHistory> {
    const out: VehicleHistory = { ok: true, vehicle: id, signals: LIVE_SIGNALS, samples: [], scores: [] };
    if (!VEHICLE_ID.test(id)) return { ...out, ok: false, error: 'invalid vehicle id' };
    const m = Math.max(1, Math.min(120, Math.round(minutes)));
    try {
      const [telemetry, anomaly] = await this.query([
        `SELECT ${FIELDS.join(', ')} FROM ${RAW_TELEMETRY} WHERE vehicle = '${id}' AND time > now() - ${m}m ORDER BY time DESC LIMIT 3600`,
        `SELECT score, threshold FROM anomaly WHERE vehicle = '${id}' AND time > now() - ${Math.max(m, 60)}m ORDER BY time DESC LIMIT 500`,
      ]);
      out.samples = rows(telemetry?.[0]).reverse().map((r) => [num(r.time) ?? 0, ...FIELDS.map((f) => num(r[f]) ?? null)] as SampleTuple);
      out.scores = rows(anomaly?.[0]).reverse().map((r) => [num(r.time) ?? 0, num(r.score) ?? 0, num(r.threshold) ?? 0]);
      return out;
    } catch (error) {
      this.counters.failures += 1;
      return { ...out, ok: false, error: errorMessage(error) };
    }
  }

  /** Runs several statements in one request; the series of each, in order. */
  private async query(statements: string[]): Promise<Array<Series[] | undefined>> {
    this.counters.queries += 1;
    return readInflux(this.options.influxUrl, this.options.database, statements, this.timeoutMs);
  }
}

/** A stored freeze frame (JSON of signal → value); undefined when it is not one. */
function parseFrame(text: string): Record<string, number> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && Object.values(value).every((v) => typeof v === 'number') ? (value as Record<string, number>) : undefined;
  } catch {
    return undefined;
  }
}
