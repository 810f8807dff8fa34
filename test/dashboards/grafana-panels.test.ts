/**
 * Keeps the Grafana provisioning (dashboards/grafana/) from rotting: a real pipeline (influxd,
 * Aedes, ingest with the shipped model and API-log analytics) is filled with simulated vehicles —
 * two healthy, one developing a vacuum leak — and nginx access-log lines including two attackers,
 * then EVERY target of EVERY panel of both dashboards is interpolated the way Grafana does for
 * InfluxQL and run against that influxd. Each must return at least one series with rows, every
 * selected column must hold a value somewhere (a renamed field shows up as an all-null column),
 * and every GROUP BY tag must have values (a renamed tag groups under ""). Structure is checked
 * too: unique panel ids, grid positions, datasource uids, measurements named in docs/data-layout.md.
 *
 * Event times lie in the last 20 minutes so Grafana's default range (`now-1h`) covers them.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { parse as parseYaml } from 'yaml';
import type { RunningBroker } from '../../broker/broker-server.ts';
import { sharedOptions } from '../../cli/shared-options.ts';
import { topics } from '../../contracts/topics.ts';
import { encodeVehicleHealth, VEHICLE_HEALTH_SCHEMA, type VehicleHealthEvent } from '../../contracts/vehicle-health.ts';
import { CustomerTable, generateApiKey, writeCustomerTable } from '../../api/customer-table.ts';
import { TrustedProxies } from '../../api/client-ip.ts';
import { ApiLogProcessor } from '../../ingest/apilogs/api-log-processor.ts';
import { DEFAULT_THRESHOLDS } from '../../ingest/apilogs/abuse-detector.ts';
import { GeoLookup } from '../../ingest/apilogs/geo-lookup.ts';
import type { IngestService } from '../../ingest/ingest-service.ts';
import { ModelProvider } from '../../ingest/scoring/model-provider.ts';
import { DEFAULT_MODEL_PATH } from '../../ingest/scoring/scoring-options.ts';
import { DEFAULT_RETENTION } from '../../ingest/influxdb/retention-policies.ts';
import { RAW, ROLLUP, ROLLUP_TELEMETRY } from '../../ingest/influxdb/rollups.ts';
import { influxQuery, rowsOf, waitFor, type RestartableTestInfluxd, type Series } from '../support/influx.ts';
import { startTestPipeline, type TestPipelineWithIngest } from '../support/pipeline.ts';
import { publishSamples } from '../ingest/fixtures.ts';
import { layOut, simulatedWindows, WINDOW_MS } from '../ingest/scoring-fixtures.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const GRAFANA = join(ROOT, 'dashboards', 'grafana');
const DASHBOARD_FILES = ['fleet-health.json', 'api-traffic.json'];

// ---------------------------------------------------------------- the dashboard model (what we use of it)

interface DatasourceRef {
  type?: string;
  uid?: string;
}
interface Target {
  refId: string;
  datasource?: DatasourceRef;
  rawQuery?: boolean;
  query?: string;
  resultFormat?: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos?: { h: number; w: number; x: number; y: number };
  datasource?: DatasourceRef;
  interval?: string;
  timeFrom?: string;
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  query: string;
  datasource?: DatasourceRef;
  multi?: boolean;
  includeAll?: boolean;
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  time: { from: string; to: string };
  panels: Panel[];
  templating: { list: Variable[] };
}

const dashboards = DASHBOARD_FILES.map((f) => ({ file: f, dash: JSON.parse(readFileSync(join(GRAFANA, 'dashboards', f), 'utf8')) as Dashboard }));
const datasourceFile = parseYaml(readFileSync(join(GRAFANA, 'provisioning', 'datasources', 'fleetpulse-influxdb.yaml'), 'utf8')) as {
  apiVersion: number;
  datasources: Array<{ name: string; uid: string; type: string; url: string; database?: string; jsonData: { dbName: string; version: string; timeInterval?: string } }>;
};
const providerFile = parseYaml(readFileSync(join(GRAFANA, 'provisioning', 'dashboards', 'fleetpulse.yaml'), 'utf8')) as {
  apiVersion: number;
  providers: Array<{ name: string; type: string; options: { path: string } }>;
};
const datasource = datasourceFile.datasources[0]!;

/** Panels including those nested in collapsed rows. */
function allPanels(dash: Dashboard): Panel[] {
  return dash.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** Measurements of docs/data-layout.md: the first column of its tables, in backticks. */
function documentedMeasurements(): Set<string> {
  const doc = readFileSync(join(ROOT, 'docs', 'data-layout.md'), 'utf8');
  return new Set([...doc.matchAll(/^\| `([a-z][a-z0-9_]*)` \|/gm)].map((m) => m[1]!));
}

/** Measurements a query reads (subqueries included), with the RP they are qualified with (`''` = DEFAULT). */
function sourcesOf(query: string): Array<{ retentionPolicy: string; measurement: string }> {
  return [...query.matchAll(/\bFROM\s+(?!\()(?:"?([A-Za-z_]\w*)"?\.)?"?([A-Za-z_]\w*)"?/gi)].map((m) => ({ retentionPolicy: m[1] ?? '', measurement: m[2]! }));
}

function measurementsOf(query: string): string[] {
  return sourcesOf(query).map((s) => s.measurement);
}

/** The RP a measurement must be read from: raw telemetry and its rollup do not live in the DEFAULT RP. */
const READ_FROM: Record<string, string> = { [RAW.measurement]: RAW.retentionPolicy, [ROLLUP.measurement]: ROLLUP.retentionPolicy };

// ---------------------------------------------------------------- Grafana's InfluxQL interpolation

const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
function durationMs(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d|w)$/.exec(text);
  if (!m) throw new Error(`not a Grafana duration: ${text}`);
  return Number(m[1]) * DURATION_MS[m[2]!]!;
}

/** Regex escaping Grafana applies to multi-value/all variables in InfluxQL. */
function regexEscape(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&');
}

interface Scope {
  /** Grafana's relative range start, e.g. `now-1h`, or a panel's `timeFrom` override. */
  from: string;
  intervalMs: number;
  nowMs: number;
  /** Selected values per template variable. */
  values: Map<string, string[]>;
  variables: Map<string, Variable>;
  legacy: boolean;
}

/**
 * `$timeFilter` as Grafana renders it: `time >= <from>ms and time <= <to>ms` (the InfluxQL
 * backend of Grafana 9+), or `time >= now() - 1h` (the older browser-side datasource, `legacy`);
 * `$__interval` (`10s`, `30s`, `1m`, …), `$__interval_ms`, `${__from}`/`${__to}` (epoch ms), and
 * template variables the way Grafana's InfluxDB datasource formats them: one value regex-escaped,
 * several as `(a|b)`. An unknown `$name` fails: Grafana would send it verbatim and InfluxDB reject it.
 */
function interpolate(query: string, scope: Scope): string {
  const relative = scope.from.replace(/^now-/, '');
  const fromMs = scope.nowMs - durationMs(relative);
  const interval = scope.intervalMs % 60_000 === 0 ? `${scope.intervalMs / 60_000}m` : `${scope.intervalMs / 1000}s`;
  const builtins: Record<string, string> = {
    timeFilter: scope.legacy ? `time >= now() - ${relative}` : `time >= ${fromMs}ms and time <= ${scope.nowMs}ms`,
    __interval: interval,
    __interval_ms: String(scope.intervalMs),
    __from: String(fromMs),
    __to: String(scope.nowMs),
  };
  return query.replace(/\$(\w+)|\$\{(\w+)\}/g, (whole, a: string | undefined, b: string | undefined) => {
    const name = (a ?? b)!;
    if (name in builtins) return builtins[name]!;
    const variable = scope.variables.get(name);
    const values = scope.values.get(name);
    if (!variable || !values) throw new Error(`unknown variable ${whole} in ${query}`);
    if (!variable.multi && !variable.includeAll) return values[0]!;
    const escaped = values.map(regexEscape);
    return escaped.length === 1 ? escaped[0]! : `(${escaped.join('|')})`;
  });
}

/** Why a result would show an empty or broken panel; empty when it is fine. */
function problemsWith(series: Series[]): string[] {
  const problems: string[] = [];
  if (!series.some((s) => s.values.length > 0)) return ['no data'];
  const columns = new Set(series.flatMap((s) => s.columns).filter((c) => c !== 'time'));
  for (const column of columns) {
    const filled = series.some((s) => {
      const i = s.columns.indexOf(column);
      return i >= 0 && s.values.some((row) => row[i] !== null && row[i] !== undefined);
    });
    if (!filled) problems.push(`column ${column} is always null (renamed field?)`);
  }
  for (const s of series) for (const [tag, value] of Object.entries(s.tags ?? {})) if (value === '') problems.push(`GROUP BY ${tag}: no such tag`);
  return problems;
}

// ---------------------------------------------------------------- the pipeline under test

const DB = datasource.jsonData.dbName;
const SOURCE = 'edge-1';
/** Client addresses GeoLite2 places in different countries (US, GB, DE, JP, BR, FR). */
const CLIENTS = ['8.8.8.8', '81.2.69.142', '5.9.0.1', '133.242.0.1', '200.160.2.3', '62.210.0.1'];
const ENDPOINTS = ['/v1/blur', '/v1/blur', '/v1/blur', '/openapi.json', '/healthz'];

interface LogLine {
  t: number;
  id: string;
  addr: string;
  xff: string;
  method: string;
  path: string;
  status: number;
  bytes_in: number;
  bytes_out: number;
  rt: number;
  urt: string;
  key: string;
  ua: string;
}

/** nginx access-log lines (api/nginx/nginx.conf.template's JSON format), in time order. */
function accessLog(keys: string[], fromMs: number, toMs: number): LogLine[] {
  const lines: LogLine[] = [];
  let n = 0;
  const line = (tMs: number, addr: string, path: string, status: number, key: string, rt: number): LogLine => ({
    t: tMs / 1000,
    id: `req${String(n++).padStart(6, '0')}`,
    addr,
    xff: '',
    method: path === '/v1/blur' ? 'POST' : 'GET',
    path,
    status,
    bytes_in: path === '/v1/blur' ? 20_000 + (n % 7) * 1000 : 0,
    bytes_out: status === 200 ? 15_000 : 120,
    rt,
    urt: status === 200 ? String(rt) : '-',
    key: key.slice(0, 8),
    ua: 'grafana-panels-test',
  });
  // Ordinary customers: one request every 2 s, each with its country, some 5xx and 4xx.
  for (let t = fromMs, i = 0; t < toMs - 30_000; t += 2000, i++) {
    const path = ENDPOINTS[i % ENDPOINTS.length]!;
    const key = path === '/v1/blur' ? keys[i % keys.length]! : '';
    const status = i % 17 === 5 ? 500 : i % 13 === 7 ? 429 : 200;
    lines.push(line(t, CLIENTS[i % CLIENTS.length]!, path, status, key, 0.004 + (i % 11) * 0.009));
  }
  // A key guesser (random keys, 401) and a path prober (404 on distinct paths), near the end.
  const attackAt = toMs - 25_000;
  for (let i = 0; i < 14; i++) lines.push(line(attackAt + i * 300, '203.0.113.10', '/v1/blur', 401, generateApiKey(), 0.001));
  for (let i = 0; i < 18; i++) lines.push(line(attackAt + 5000 + i * 300, '203.0.113.20', `/wp-admin/probe-${i}.php`, 404, '', 0.001));
  return lines.sort((a, b) => a.t - b.t);
}

describe('Grafana dashboards', () => {
  it('are provisioned consistently: one InfluxQL datasource, the file provider, valid layout and references', () => {
    expect(datasourceFile.apiVersion).toBe(1);
    expect(datasourceFile.datasources).toHaveLength(1);
    expect(datasource.type).toBe('influxdb');
    expect(datasource.jsonData.version).toBe('InfluxQL');
    // The database the pipeline writes by default, under both the old and the new field.
    expect(datasource.jsonData.dbName).toBe(sharedOptions.influxDatabase.default);
    expect(datasource.database).toBe(sharedOptions.influxDatabase.default);
    // URL from the environment; the shipped env file holds fleetpulse's own default.
    expect(datasource.url).toBe('$FLEETPULSE_INFLUX_URL');
    const env = readFileSync(join(GRAFANA, 'grafana.env'), 'utf8');
    expect(env).toMatch(new RegExp(`^FLEETPULSE_INFLUX_URL=${sharedOptions.influxUrl.default!.replace(/\./g, '\\.')}$`, 'm'));

    expect(providerFile.providers).toHaveLength(1);
    const provider = providerFile.providers[0]!;
    expect(provider.type).toBe('file');
    expect(provider.options.path.startsWith('/')).toBe(true);
    // The docs tell users to mount the JSON folder exactly where the provider looks.
    expect(readFileSync(join(ROOT, 'docs', 'grafana.md'), 'utf8')).toContain(provider.options.path);
    expect(readdirSync(join(GRAFANA, 'dashboards')).filter((f) => f.endsWith('.json')).sort()).toEqual([...DASHBOARD_FILES].sort());

    const measurements = documentedMeasurements();
    expect(measurements.size).toBeGreaterThanOrEqual(7);
    expect(new Set(dashboards.map((d) => d.dash.uid)).size).toBe(dashboards.length);
    for (const { file, dash } of dashboards) {
      expect(dash.schemaVersion, file).toBeGreaterThanOrEqual(39);
      expect(dash.uid, file).toMatch(/^[a-z0-9-]{1,40}$/);
      const panels = allPanels(dash);
      expect(new Set(panels.map((p) => p.id)).size, `${file}: duplicate panel ids`).toBe(panels.length);
      expect(new Set(panels.map((p) => p.title)).size, `${file}: duplicate panel titles`).toBe(panels.length);
      const cells = new Map<string, string>();
      for (const p of panels) {
        const where = `${file} panel ${p.id} "${p.title}"`;
        const g = p.gridPos;
        expect(g, `${where}: gridPos`).toBeDefined();
        for (const k of ['h', 'w', 'x', 'y'] as const) expect(Number.isInteger(g![k]), `${where}: gridPos.${k}`).toBe(true);
        expect(g!.x + g!.w, `${where}: wider than the grid`).toBeLessThanOrEqual(24);
        for (let x = g!.x; x < g!.x + g!.w; x++) {
          for (let y = g!.y; y < g!.y + g!.h; y++) {
            const other = cells.get(`${x},${y}`);
            expect(other, `${where} overlaps ${other}`).toBeUndefined();
            cells.set(`${x},${y}`, where);
          }
        }
        if (p.type === 'row' || p.type === 'text') {
          expect(p.targets ?? [], where).toEqual([]);
          continue;
        }
        expect(p.datasource, where).toEqual({ type: 'influxdb', uid: datasource.uid });
        expect(p.targets?.length, `${where}: no targets`).toBeGreaterThan(0);
        expect(new Set(p.targets!.map((t) => t.refId)).size, `${where}: refIds`).toBe(p.targets!.length);
        for (const t of p.targets!) {
          expect(t.datasource ?? p.datasource, where).toEqual({ type: 'influxdb', uid: datasource.uid });
          expect(t.rawQuery, `${where} ${t.refId}: raw InfluxQL`).toBe(true);
          expect(['time_series', 'table']).toContain(t.resultFormat);
          const query = t.query ?? '';
          expect(measurementsOf(query).length, `${where} ${t.refId}: no FROM`).toBeGreaterThan(0);
          for (const m of measurementsOf(query)) expect(measurements.has(m), `${where}: measurement ${m} is not in docs/data-layout.md`).toBe(true);
          for (const { retentionPolicy, measurement } of sourcesOf(query)) expect(retentionPolicy, `${where}: ${measurement} is read from RP`).toBe(READ_FROM[measurement] ?? '');
          expect(query, `${where}: must be limited to the dashboard time range`).toContain('$timeFilter');
          // api_requests holds every request twice (10 s and 1 min windows): pick one.
          if (measurementsOf(query).includes('api_requests')) expect(query, `${where}: filter on "window"`).toMatch(/"window" = '(10s|1m)'/);
          // A numeric fill would turn a renamed field's nulls into zeros and hide it from this test.
          expect(query, `${where}: numeric fill`).not.toMatch(/fill\(\s*-?\d/);
        }
      }
      for (const v of dash.templating.list) {
        expect(v.datasource, `${file} variable ${v.name}`).toEqual({ type: 'influxdb', uid: datasource.uid });
        for (const m of measurementsOf(v.query)) expect(measurements.has(m), `${file} variable ${v.name}`).toBe(true);
        for (const { retentionPolicy, measurement } of sourcesOf(v.query)) expect(retentionPolicy, `${file} variable ${v.name}: ${measurement} is read from RP`).toBe(READ_FROM[measurement] ?? '');
      }
    }
  });

  it('notices a renamed measurement, field or tag (the checks below can fail)', () => {
    const good: Series[] = [{ name: 'm', tags: { vehicle: 'a' }, columns: ['time', 'mean', 'mean_1'], values: [[1, 2, 3]] }];
    expect(problemsWith(good)).toEqual([]);
    expect(problemsWith([])).toEqual(['no data']);
    expect(problemsWith([{ ...good[0]!, values: [[1, 2, null]] }])).toEqual(['column mean_1 is always null (renamed field?)']);
    expect(problemsWith([{ ...good[0]!, tags: { vehicel: '' } }])).toEqual(['GROUP BY vehicel: no such tag']);
    expect(measurementsOf('SELECT count(x) FROM (SELECT last("x") AS "x" FROM "anomaly" WHERE $timeFilter) WHERE x = 1')).toEqual(['anomaly']);
    expect(sourcesOf('SELECT mean("mean_rpm") FROM "rollup_1y"."telemetry_1m" WHERE $timeFilter')).toEqual([{ retentionPolicy: 'rollup_1y', measurement: 'telemetry_1m' }]);
    expect(sourcesOf('SELECT mean("rpm") FROM "telemetry" WHERE $timeFilter')).toEqual([{ retentionPolicy: '', measurement: 'telemetry' }]);
    expect(documentedMeasurements().has('anomalies')).toBe(false);
  });

  describe('on a pipeline filled with simulated vehicles and API traffic', () => {
    let dir: string;
    let pipeline: TestPipelineWithIngest;
    let influx: RestartableTestInfluxd;
    let broker: RunningBroker;
    let ingest: IngestService;
    let customers: CustomerTable;
    const counts = { vehicles: 0 };

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'fleetpulse-grafana-'));
      const keys = [generateApiKey(), generateApiKey(), generateApiKey()];
      const customersFile = join(dir, 'customers.json');
      writeCustomerTable(customersFile, { keys: keys.map((key, i) => ({ key, customer: `customer-${i}`, plan: i === 0 ? 'pro' : 'free' })) });
      customers = new CustomerTable(customersFile);
      const processor = new ApiLogProcessor({
        geo: await GeoLookup.open(),
        customers,
        trustedProxies: new TrustedProxies(['127.0.0.0/8']),
        windows: { sizesMs: [10_000, 60_000], allowedLatenessMs: 3000, idleTimeoutMs: 1000, maxOpenCells: 100_000 },
        thresholds: DEFAULT_THRESHOLDS,
        blockMs: 900_000,
        maxBlocklistEntries: 1000,
        maxRememberedIds: 100_000,
      });
      // Resolves once the persistent subscriptions exist: before the first publish.
      pipeline = await startTestPipeline({
        ingest: {
          influxDatabase: DB,
          clientId: 'grafana-ingest',
          // The CQ runs every second over the last 30 minutes, so the rollup panels fill without waiting for the minute.
          retention: { ...DEFAULT_RETENTION, rollupEveryS: 1, rollupForS: 1800 },
          spoolDir: join(dir, 'spool'),
          windowMs: WINDOW_MS,
          allowedLatenessMs: 2000,
          idleTimeoutMs: 1000,
          apiLogs: processor,
          scoring: { provider: await ModelProvider.load(DEFAULT_MODEL_PATH), modelPollMs: 0, maxDelayMs: 50, batchSize: 16, alertStatePath: join(dir, 'alerts.json') },
        },
      });
      ({ influx, broker, ingest } = pipeline);

      // Three vehicles over the last ~12 minutes: two healthy, one whose vacuum leak (severity 0.9)
      // shows after four healthy windows, once its engine is warm enough to idle warm (the model
      // sees the car's recent idle fuel trim; its own baseline is still learning, fleet evidence flags it).
      const healthy = simulatedWindows(undefined, 0, 20);
      const faulty = simulatedWindows('vacuum_leak', 0.9, 12, 16);
      const now = Date.now();
      const base = Math.floor((now - 20 * 60_000) / WINDOW_MS) * WINDOW_MS;
      const fleet: Array<[string, typeof healthy]> = [
        ['gp-car-1', healthy.slice(0, 10)],
        ['gp-car-2', healthy.slice(10, 20)],
        ['gp-car-3', [...healthy.slice(0, 4), ...faulty]],
      ];
      counts.vehicles = fleet.length;
      const client = await mqtt.connectAsync(broker.url, { clientId: 'grafana-publisher' });
      for (const [vehicle, windows] of fleet) await publishSamples(client, vehicle, layOut(windows, base), 30);
      // The cars' own diagnosis: gp-car-1's ECU confirms a misfire (MIL, freeze frame), gp-car-2 has it pending.
      const health = (vehicle: string, seq: number, lit: boolean): VehicleHealthEvent => ({
        schema: VEHICLE_HEALTH_SCHEMA, vehicle, seq, t: now - 15 * 60_000 + seq * 60_000, reason: seq === 0 ? 'snapshot' : 'change', source: 'simulator',
        mil: lit, dtcCount: lit ? 1 : 0, readiness: null, confirmed: lit ? ['P0301'] : [], pending: ['P0301'], permanent: lit ? ['P0301'] : [], vin: null, counters: {},
        freezeFrame: lit ? { dtc: 'P0301', frame: 0, signals: { RPM: 790, COOLANT_TEMP: 90 } } : null,
      });
      for (const e of [health('gp-car-1', 0, false), health('gp-car-1', 1, true), health('gp-car-2', 0, false)]) await client.publishAsync(topics.health(e.vehicle), encodeVehicleHealth(e), { qos: 1 });
      // gp-car-3, the one the model raises an alert for: a lean code confirmed and cleared after that alert,
      // so its newest alert row is a cleared `dtc` one while the model's alert stays open.
      const lean = (seq: number, confirmed: string[]): VehicleHealthEvent => ({
        schema: VEHICLE_HEALTH_SCHEMA, vehicle: 'gp-car-3', seq, t: now - (2 - seq) * 60_000, reason: seq === 0 ? 'snapshot' : 'change', source: 'simulator',
        mil: false, dtcCount: confirmed.length, readiness: null, confirmed, pending: [], permanent: [], vin: null, counters: {}, freezeFrame: null,
      });
      for (const e of [lean(0, ['P0171']), lean(1, [])]) await client.publishAsync(topics.health(e.vehicle), encodeVehicleHealth(e), { qos: 1 });
      // Dead letters: a telemetry message that is not JSON, an API-log batch of the wrong schema.
      await client.publishAsync(topics.telemetry('gp-car-1'), 'not json at all', { qos: 1 });
      await client.publishAsync(topics.apiLogs(SOURCE), JSON.stringify({ v: 9, source: SOURCE }), { qos: 1 });
      // API traffic as the log shipper sends it: batches of raw nginx lines on apilogs/{source}.
      // It ends 2.5 min ago, so even its last 1-minute window closes without waiting.
      const lines = accessLog(keys, now - 12 * 60_000, now - 150_000);
      for (let i = 0, seq = 0; i < lines.length; i += 100, seq++) {
        await client.publishAsync(topics.apiLogs(SOURCE), JSON.stringify({ v: 1, source: SOURCE, seq, lines: lines.slice(i, i + 100).map((l) => JSON.stringify(l)) }), { qos: 1 });
      }
      await client.endAsync();

      const total = async (query: string): Promise<number> => Number(rowsOf((await influxQuery(influx.url, DB, query))[0])[0]?.n ?? 0);
      const windows = fleet.reduce((n, [, w]) => n + w.length, 0);
      const filled = await waitFor(
        async () =>
          (await total('SELECT count(score) AS n FROM anomaly')) === windows &&
          (await total(`SELECT count(alert_id) AS n FROM alerts WHERE "state" = 'raised'`)) >= 1 &&
          (await total(`SELECT sum(requests) AS n FROM api_requests WHERE "window" = '1m'`)) === lines.length &&
          (await total(`SELECT sum(requests) AS n FROM api_requests WHERE "window" = '10s'`)) === lines.length &&
          (await total('SELECT count(subject) AS n FROM api_threats')) >= 2 &&
          (await total('SELECT count(first_seen_ms) AS n FROM dtc')) === 5 &&
          (await total(`SELECT count(alert_id) AS n FROM alerts WHERE "kind" = 'dtc' AND "vehicle" = 'gp-car-3'`)) === 2 &&
          (await total('SELECT count(bytes) AS n FROM dead_letters')) >= 2 &&
          (await total(`SELECT count(mean_rpm) AS n FROM ${ROLLUP_TELEMETRY} WHERE vehicle = 'gp-car-1'`)) >= 5,
        40_000,
        250,
      );
      expect(filled, `pipeline state: ${JSON.stringify(ingest.stats())}`).toBe(true);
      await ingest.flush();
    });

    afterAll(async () => {
      await pipeline?.stop();
      customers?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const minIntervalMs = durationMs(datasource.jsonData.timeInterval ?? '10s');

    /** Variable values from the variables' own queries, as Grafana gets them. */
    const variableOptions = async (dash: Dashboard): Promise<Map<string, string[]>> => {
      const options = new Map<string, string[]>();
      for (const v of dash.templating.list) {
        expect(v.type, v.name).toBe('query');
        const series = await influxQuery(influx.url, DB, v.query);
        const values = series.flatMap((s) => rowsOf(s).map((r) => String(r.value)));
        expect(values.length, `variable ${v.name} has no values`).toBeGreaterThan(0);
        options.set(v.name, [...new Set(values)]);
      }
      return options;
    };

    const scopeFor = (dash: Dashboard, panel: Panel, values: Map<string, string[]>, legacy: boolean, nowMs: number): Scope => ({
      from: panel.timeFrom ? `now-${panel.timeFrom}` : dash.time.from,
      intervalMs: Math.max(minIntervalMs, panel.interval ? durationMs(panel.interval) : 0),
      nowMs,
      values,
      variables: new Map(dash.templating.list.map((v) => [v.name, v])),
      legacy,
    });

    /** Rows of one panel's target, every variable at All. */
    const panelRows = async (file: string, title: string, refId = 'A'): Promise<Array<Record<string, unknown>>> => {
      const dash = dashboards.find((d) => d.file === file)!.dash;
      const panel = allPanels(dash).find((p) => p.title === title);
      expect(panel, `${file}: no panel "${title}"`).toBeDefined();
      const target = panel!.targets!.find((t) => t.refId === refId)!;
      const query = interpolate(target.query!, scopeFor(dash, panel!, await variableOptions(dash), false, Date.now()));
      return (await influxQuery(influx.url, DB, query)).flatMap((s) => rowsOf(s).map((r) => ({ ...s.tags, ...r })));
    };

    it.each(DASHBOARD_FILES)('%s: every panel query returns data for all and for each value of its variables', async (file) => {
      const dash = dashboards.find((d) => d.file === file)!.dash;
      const nowMs = Date.now();
      const options = await variableOptions(dash);
      if (options.has('vehicle')) expect(options.get('vehicle')).toHaveLength(counts.vehicles);
      // All values (with both renderings of $timeFilter), then each single value of each variable.
      const selections: Array<{ values: Map<string, string[]>; legacy: boolean }> = [
        { values: new Map(options), legacy: false },
        { values: new Map(options), legacy: true },
      ];
      for (const [name, values] of options) for (const value of values) selections.push({ values: new Map([...options, [name, [value]]]), legacy: false });

      const failures: string[] = [];
      let queries = 0;
      for (const panel of allPanels(dash)) {
        for (const target of panel.targets ?? []) {
          for (const { values, legacy } of selections) {
            const query = interpolate(target.query!, scopeFor(dash, panel, values, legacy, nowMs));
            const selected = [...values].filter(([n]) => values.get(n)!.length === 1).map(([n, v]) => `${n}=${v[0]}`).join(' ');
            const where = `panel ${panel.id} "${panel.title}" ${target.refId}${selected ? ` [${selected}]` : ''}${legacy ? ' [now()-relative time filter]' : ''}`;
            queries += 1;
            try {
              for (const problem of problemsWith(await influxQuery(influx.url, DB, query))) failures.push(`${where}: ${problem}\n    ${query}`);
            } catch (error) {
              failures.push(`${where}: ${(error as Error).message}\n    ${query}`);
            }
          }
        }
      }
      expect(failures, failures.join('\n')).toEqual([]);
      expect(queries).toBeGreaterThan(20);
    });

    it('shows what happened: one faulty vehicle in red with its alert, the countries, both attackers blocked', async () => {
      const fleet = 'fleet-health.json';
      const api = 'api-traffic.json';
      expect(await panelRows(fleet, 'Faulty vehicles')).toEqual([expect.objectContaining({ vehicles: 1 })]);
      expect(await panelRows(fleet, 'Healthy vehicles')).toEqual([expect.objectContaining({ vehicles: 2 })]);
      const states = await panelRows(fleet, 'Vehicles by anomaly state');
      expect(Object.fromEntries(states.map((r) => [r.vehicle, r.state]))).toEqual({ 'gp-car-1': false, 'gp-car-2': false, 'gp-car-3': true });
      // Open alerts per vehicle, kind and code: gp-car-3's model alert (its lean code came and went after it),
      // gp-car-1's misfire code and MIL.
      const open = await panelRows(fleet, 'Active alerts', 'A');
      expect(open.map((r) => `${r.vehicle} ${r.kind || 'model'} ${r.code || '-'} ${r.state}`).sort()).toEqual(['gp-car-1 dtc P0301 raised', 'gp-car-1 mil - raised', 'gp-car-3 model - raised']);
      expect(await panelRows(fleet, 'Vehicles alerting')).toEqual([expect.objectContaining({ alerts: 2 })]);
      const changes = await panelRows(fleet, 'Alert changes');
      expect(changes.filter((r) => r.vehicle === 'gp-car-3' && r.kind === 'dtc').map((r) => `${r.state} ${r.code}`)).toEqual(['cleared P0171', 'raised P0171']);
      expect((await panelRows(fleet, 'Dead letters by reason')).map((r) => r.reason).sort()).toEqual(['not_json', 'schema']);
      expect(await panelRows(fleet, 'Check-engine lights on')).toEqual([expect.objectContaining({ vehicles: 1 })]);
      const codes = await panelRows(fleet, 'Trouble codes per vehicle');
      expect(codes.map((r) => `${r.vehicle} ${r.code} ${r.kind} ${r.state}`).sort()).toEqual(['gp-car-1 P0301 confirmed active', 'gp-car-1 P0301 pending active', 'gp-car-1 P0301 permanent active', 'gp-car-2 P0301 pending active', 'gp-car-3 P0171 confirmed cleared']);
      expect(codes.find((r) => r.kind === 'confirmed' && r.vehicle === 'gp-car-1')).toMatchObject({ description: expect.stringMatching(/misfire/i), freeze_frame: '{"RPM":790,"COOLANT_TEMP":90}' });
      const kinds = await panelRows(fleet, 'Trouble codes first seen, by kind');
      expect(Object.fromEntries(['pending', 'confirmed', 'permanent'].map((k) => [k, kinds.filter((r) => r.kind === k).reduce((n, r) => n + Number(r.count), 0)]))).toEqual({ pending: 2, confirmed: 2, permanent: 1 });
      const mil = await panelRows(fleet, 'Check-engine light per vehicle');
      expect(mil.filter((r) => r.last === true).map((r) => r.vehicle)).toEqual(['gp-car-1']);
      // The long-range variant reads the rollup: every vehicle, each minute's mean between its min and max.
      const rollup = await panelRows(fleet, 'Engine speed (1-min rollup)');
      expect(new Set(rollup.map((r) => r.vehicle))).toEqual(new Set(['gp-car-1', 'gp-car-2', 'gp-car-3']));
      const minutes = rollup.filter((r) => typeof r.rpm === 'number');
      expect(minutes.length).toBeGreaterThan(10);
      for (const r of minutes) {
        expect(r['rpm min'] as number).toBeLessThanOrEqual(r.rpm as number);
        expect(r['rpm max'] as number).toBeGreaterThanOrEqual(r.rpm as number);
      }

      const countries = (await panelRows(api, 'Traffic by country')).map((r) => r.country);
      expect(countries).toEqual(expect.arrayContaining(['US', 'GB', 'DE', 'JP', 'BR', 'FR', 'ZZ']));
      expect(new Set((await panelRows(api, 'Threats by rule')).map((r) => r.rule))).toEqual(new Set(['key_guessing', 'path_probing']));
      expect((await panelRows(api, 'Blocks in force')).map((r) => r.subject).sort()).toEqual(['203.0.113.10', '203.0.113.20']);
      expect((await panelRows(api, 'Server errors (5xx)'))[0]?.sum).toBeGreaterThan(0);
    });
  });
});
