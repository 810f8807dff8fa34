/**
 * The copy of vehicles' feature path states in InfluxDB (`vehicle_state`, one point per vehicle,
 * ingest/influxdb/line-protocol.ts `vehicleStateLine`), read by a worker that meets a vehicle it
 * has no local state for — the vehicle's shard moved to it.
 *
 * Writing goes through the spool with the anomaly points (vehicle-paths.ts decides when); this
 * module reads. A read is one query (POST) for up to `maxPerQuery` (2000) vehicles (tag equality ORed, which
 * InfluxDB answers from its index), bounded by `timeoutMs` and retried with backoff `attempts`
 * times; then it fails as a value (`ok: false`), never with an exception.
 */
import { Backoff, sleep } from '../../common/backoff.ts';
import { errorMessage } from '../../common/errors.ts';
import { MEASUREMENTS } from '../influxdb/schema.ts';

export interface SharedStateRead {
  ok: boolean;
  error?: string;
  states: Map<string, { state: Buffer; lastWindowMs: number }>;
}

export interface SharedVehicleStateOptions {
  influxUrl: string;
  database: string;
  timeoutMs?: number;
  attempts?: number;
  maxPerQuery?: number;
}

const VEHICLE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export class SharedVehicleState {
  private counters = { queries: 0, failures: 0, found: 0 };

  constructor(private readonly options: SharedVehicleStateOptions) {}

  async read(vehicles: readonly string[]): Promise<SharedStateRead> {
    const states = new Map<string, { state: Buffer; lastWindowMs: number }>();
    const ids = vehicles.filter((v) => VEHICLE_ID.test(v));
    const per = this.options.maxPerQuery ?? 2000;
    for (let i = 0; i < ids.length; i += per) {
      const chunk = ids.slice(i, i + per);
      const result = await this.query(chunk);
      if (!result.ok) return { ok: false, error: result.error, states };
      for (const [k, v] of result.states) states.set(k, v);
    }
    this.counters.found += states.size;
    return { ok: true, states };
  }

  stats() {
    return { ...this.counters };
  }

  private async query(vehicles: readonly string[]): Promise<SharedStateRead> {
    const where = vehicles.map((v) => `"vehicle" = '${v}'`).join(' OR ');
    const q = `SELECT "state", "last_window_ms", "vehicle" FROM ${MEASUREMENTS.vehicleState} WHERE (${where}) AND time = 0`;
    // POSTed: a query naming 2,000 vehicles is ~60 KB, too long for a URL.
    const url = `${this.options.influxUrl}/query?db=${encodeURIComponent(this.options.database)}&epoch=ms`;
    const backoff = new Backoff({ initialMs: 200, maxMs: 2000 });
    let lastError = '';
    for (let attempt = 0; attempt < (this.options.attempts ?? 3); attempt++) {
      if (attempt > 0) await sleep(backoff.next());
      this.counters.queries += 1;
      try {
        const response = await fetch(url, { method: 'POST', body: new URLSearchParams({ q }), signal: AbortSignal.timeout(this.options.timeoutMs ?? 3000) });
        if (!response.ok) throw new Error(`InfluxDB answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
        const body = (await response.json()) as { results?: Array<{ error?: string; series?: Array<{ columns: string[]; values: unknown[][] }> }> };
        const result = body.results?.[0];
        // No such measurement or database yet: nothing shared, which is an answer.
        if (result?.error && !/not found/i.test(result.error)) throw new Error(result.error);
        const states = new Map<string, { state: Buffer; lastWindowMs: number }>();
        for (const series of result?.series ?? []) {
          const col = (name: string) => series.columns.indexOf(name);
          for (const row of series.values) {
            const vehicle = row[col('vehicle')];
            const state = row[col('state')];
            if (typeof vehicle !== 'string' || typeof state !== 'string') continue;
            states.set(vehicle, { state: Buffer.from(state, 'base64'), lastWindowMs: Number(row[col('last_window_ms')] ?? 0) });
          }
        }
        return { ok: true, states };
      } catch (error) {
        lastError = errorMessage(error);
      }
    }
    this.counters.failures += 1;
    return { ok: false, error: lastError, states: new Map() };
  }
}
