/**
 * The live dashboard in a real browser (Debian's chromium through playwright-core) over a real
 * pipeline: influxd, Aedes, ingest with the shipped model and API-log analytics, the dashboard on
 * a free port, a small simulated fleet.
 *
 * - The page loads and lists the fleet.
 * - A vehicle with a developing vacuum leak (severity 0.9, as in the ingest-scoring test) turns red
 *   and its alert appears with what moved in words; a healthy one whose baseline has learnt turns
 *   blue; the simulated fleet, just started, shows grey "learning n %".
 * - A key-guessing client (API log lines as the log shipper sends them) appears under threats and
 *   blocks, and API traffic shows up by country.
 * - A reload, and a dashboard started afresh (empty memory, as after an ingest restart), show the
 *   same from InfluxDB.
 * Screenshots go to test-artifacts/dashboard-*.png.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CustomerTable, generateApiKey, writeCustomerTable } from '../../api/customer-table.ts';
import { TrustedProxies } from '../../api/client-ip.ts';
import type { RunningBroker } from '../../broker/broker-server.ts';
import { topics } from '../../contracts/topics.ts';
import { encodeVehicleHealth, VEHICLE_HEALTH_SCHEMA, type VehicleHealthEvent } from '../../contracts/vehicle-health.ts';
import { DEFAULT_THRESHOLDS } from '../../ingest/apilogs/abuse-detector.ts';
import { ApiLogProcessor } from '../../ingest/apilogs/api-log-processor.ts';
import { GeoLookup } from '../../ingest/apilogs/geo-lookup.ts';
import { startDashboard, type RunningDashboard } from '../../ingest/dashboard/dashboard-server.ts';
import type { IngestService } from '../../ingest/ingest-service.ts';
import { ModelProvider } from '../../ingest/scoring/model-provider.ts';
import { DEFAULT_MODEL_PATH } from '../../ingest/scoring/scoring-options.ts';
import { VehiclePaths } from '../../ingest/scoring/vehicle-paths.ts';
import { SimulatedFleet } from '../../agent/simulated-fleet.ts';
import { publishSamples } from '../ingest/fixtures.ts';
import { layOut, simulatedWindows, WINDOW_MS } from '../ingest/scoring-fixtures.ts';
import { influxQuery, rowsOf, waitFor, type RestartableTestInfluxd } from '../support/influx.ts';
import { startTestPipeline, type TestPipelineWithIngest } from '../support/pipeline.ts';
import { chromiumInstalled, launchChromium, type TestBrowser } from './browser.ts';

const DB = 'dashboard_e2e';
const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts');
const ATTACKER = '195.154.1.77';

/** One nginx JSON access-log line (api/nginx/nginx.conf.template's format), behind a loopback proxy. */
function accessLine(i: number, client: string, status: number, key: string): string {
  return JSON.stringify({ t: (Date.now() - 2000 + i) / 1000, id: `req-${client}-${i}-${Date.now()}`, addr: '127.0.0.1', xff: client, method: 'POST', path: '/v1/blur', status, bytes_in: 2048, bytes_out: status === 200 ? 4096 : 64, rt: 0.012, urt: '0.011', key: key.slice(0, 8), ua: 'test' });
}

/** A car's diagnosis as its agent reports it: seq 0 pending P0301, seq 1 confirmed with the MIL and a freeze frame. */
function healthEvent(vehicle: string, seq: number, t: number): VehicleHealthEvent {
  const lit = seq > 0;
  return {
    schema: VEHICLE_HEALTH_SCHEMA, vehicle, seq, t, reason: seq === 0 ? 'snapshot' : 'change', source: 'obd', mil: lit, dtcCount: lit ? 1 : 0, readiness: null,
    confirmed: lit ? ['P0301'] : [], pending: ['P0301'], permanent: lit ? ['P0301'] : [], vin: null, counters: {},
    freezeFrame: lit ? { dtc: 'P0301', frame: 0, signals: { RPM: 812.25, COOLANT_TEMP: 88 } } : null,
  };
}

/** What the page shows of a car's diagnosis: tile badge, fleet count, and the panel's codes once selected. */
async function expectDiagnosis(page: Page, vehicle: string): Promise<void> {
  const tile = page.locator(`#tiles .tile[data-vehicle="${vehicle}"]`);
  expect(await waitFor(async () => (await tile.getAttribute('data-mil', { timeout: 1000 }).catch(() => null)) === 'on', 15_000, 250)).toBe(true);
  expect(await tile.locator('.mil').textContent()).toBe('MIL P0301');
  expect(await page.locator('#n-mil').textContent()).toBe('1');
  await tile.click();
  const row = page.locator('#diagnosis tr[data-code="P0301"][data-kind="confirmed"]');
  expect(await waitFor(async () => (await row.count()) === 1, 10_000, 250)).toBe(true);
  expect(await row.textContent()).toMatch(/misfire.*freeze frame: RPM 812\.3 · COOLANT_TEMP 88.*first seen/is);
  expect(await page.locator('#diagnosis [data-mil="on"]').textContent()).toMatch(/^Check-engine light ON/);
  expect(await page.locator('#diagnosis tr[data-code="P0301"][data-kind="pending"]').count()).toBe(1);
}

const tileState = (page: Page, vehicle: string) => page.locator(`#tiles .tile[data-vehicle="${vehicle}"]`).getAttribute('data-state', { timeout: 1000 }).catch(() => null);

describe.skipIf(!chromiumInstalled())('live dashboard in a browser', () => {
  let dir: string;
  let pipeline: TestPipelineWithIngest;
  let influx: RestartableTestInfluxd;
  let broker: RunningBroker;
  let ingest: IngestService;
  let fleet: SimulatedFleet;
  let browser: TestBrowser;
  const dashboards: RunningDashboard[] = [];
  const clients: MqttClient[] = [];
  let key: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fleetpulse-dashboard-'));
    mkdirSync(ARTIFACTS, { recursive: true });
    key = generateApiKey();
    const customersFile = join(dir, 'customers.json');
    writeCustomerTable(customersFile, { keys: [{ key, customer: 'acme', plan: 'pro' }] });
    const processor = new ApiLogProcessor({
      geo: await GeoLookup.open(),
      customers: new CustomerTable(customersFile),
      trustedProxies: new TrustedProxies(['127.0.0.0/8']),
      windows: { sizesMs: [10_000, 60_000], allowedLatenessMs: 1000, idleTimeoutMs: 1000, maxOpenCells: 10_000 },
      thresholds: { ...DEFAULT_THRESHOLDS, authFailures: 8 },
      blockMs: 10 * 60_000,
      maxBlocklistEntries: 1000,
      maxRememberedIds: 100_000,
    });
    const provider = await ModelProvider.load(DEFAULT_MODEL_PATH);
    [pipeline, browser] = await Promise.all([
      startTestPipeline({
        ingest: {
          influxDatabase: DB,
          clientId: 'dashboard-ingest',
          spoolDir: join(dir, 'spool'),
          allowedLatenessMs: 2000,
          idleTimeoutMs: 20_000,
          httpPort: 0,
          apiLogs: processor,
          // Baselines learn from 3 min of warm driving here (3 h in production), so fine-car is learnt within the test.
          scoring: { provider, modelPollMs: 0, maxDelayMs: 50, paths: new VehiclePaths({ baseline: { learnHours: 0.05 } }) },
          stopDrainMs: 5000,
        },
      }),
      launchChromium(),
    ]);
    ({ influx, broker, ingest } = pipeline);
    dashboards.push(await startDashboard(ingest, { host: '127.0.0.1', port: 0, influxUrl: influx.url, influxDatabase: DB }));
    fleet = new SimulatedFleet({ vehicles: 4, idPrefix: 'live-', seed: 7, mqttUrl: broker.url, sampleRateHz: 2, batchIntervalMs: 500, maxBatchSamples: 100, outboxSamples: 10_000 });
    await fleet.start();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await fleet?.stop();
    for (const c of clients) await c.endAsync().catch(() => undefined);
    for (const d of dashboards) await d.close();
    await pipeline?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('shows the fleet, turns a faulty vehicle red, shows an attack, and backfills from InfluxDB on reload', async () => {
    const page = await browser.context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(dashboards[0]!.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });

    // The fleet is listed, and it moves: pushed deltas keep arriving.
    const fleetIds = fleet.specs.map((s) => s.vehicleId);
    expect(await waitFor(async () => (await page.locator('#tiles .tile').count()) >= fleetIds.length, 20_000, 250)).toBe(true);
    for (const id of fleetIds) expect(await page.locator(`#fleet tbody tr[data-vehicle="${id}"]`).count(), id).toBe(1);
    const deltas = () => page.evaluate(() => (globalThis as unknown as { __dashboard: { deltas: number } }).__dashboard.deltas);
    const before = await deltas();
    expect(await waitFor(async () => (await deltas()) >= before + 3, 10_000, 200)).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-loaded.png'), fullPage: true });

    // A vehicle with a fast-developing fault and a healthy one, as whole simulated windows in the recent past.
    const publisher = await mqtt.connectAsync(broker.url, { clientId: 'dashboard-publisher' });
    clients.push(publisher);
    const base = Math.floor((Date.now() - 8 * 60_000) / WINDOW_MS) * WINDOW_MS;
    // Warm windows: a cold engine's first minutes have no warm idle, where a vacuum leak shows.
    await publishSamples(publisher, 'fine-car', layOut(simulatedWindows(undefined, 0, 12, 16), base), 30);
    const sick = layOut(simulatedWindows('vacuum_leak', 0.9, 12, 16), base);
    await publishSamples(publisher, 'sick-car', sick, 30);
    expect(await waitFor(async () => (await tileState(page, 'sick-car')) === 'anomalous', 30_000, 250), `sick-car is ${await tileState(page, 'sick-car')}`).toBe(true);
    expect(await waitFor(async () => (await tileState(page, 'fine-car')) === 'healthy', 10_000, 250), `fine-car is ${await tileState(page, 'fine-car')}`).toBe(true);
    expect(await waitFor(async () => (await page.locator('#alerts li[data-alert-vehicle="sick-car"][data-alert-state="raised"]').count()) === 1, 10_000, 250)).toBe(true);
    expect(await page.locator('#alerts li[data-alert-vehicle="sick-car"][data-alert-state="raised"] .why').textContent()).toMatch(/^fuel trim [\d.]+ % above /);
    expect(await page.locator('#alerts li[data-alert-vehicle="fine-car"]').count()).toBe(0);
    // The fleet started with the test: scored, normal so far, its own baselines still learning.
    const learningTile = page.locator('#tiles .tile[data-state="learning"]').first();
    expect(await waitFor(async () => (await learningTile.count()) === 1, 30_000, 250)).toBe(true);
    expect(await learningTile.textContent()).toMatch(/learning \d+ %/);

    // A key guesser among normal customers in three countries.
    const lines = [
      ...['8.8.8.8', '81.2.69.160', '202.12.27.33'].flatMap((ip, n) => Array.from({ length: 4 + n }, (_, i) => accessLine(i, ip, 200, key))),
      ...Array.from({ length: 12 }, (_, i) => accessLine(i, ATTACKER, 401, 'kguessedkey')),
    ];
    await publisher.publishAsync(topics.apiLogs('edge-1'), JSON.stringify({ v: 1, source: 'edge-1', seq: 0, lines }), { qos: 1 });
    const threatRow = page.locator(`#threats tbody tr[data-threat-rule="key_guessing"][data-threat-subject="${ATTACKER}"]`);
    expect(await waitFor(async () => (await threatRow.count()) === 1, 10_000, 250)).toBe(true);
    expect(await waitFor(async () => (await page.locator('#countries tbody tr').count()) >= 4, 10_000, 250)).toBe(true);
    expect(await page.locator('#countries tr[data-country="US"] td').nth(1).textContent()).toBe('4');
    expect(await page.locator('#countries tr[data-country="FR"] td').nth(2).textContent()).toBe('12');
    await page.locator('#tiles .tile[data-vehicle="sick-car"]').click();
    await page.waitForSelector('body[data-history-loaded="sick-car"]', { timeout: 10_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-attack.png'), fullPage: true });

    // A misfire the engine control unit confirms: the check-engine light and the code.
    const healthAt = Date.now() - 60_000;
    for (const seq of [0, 1]) await publisher.publishAsync(topics.health('mil-car'), encodeVehicleHealth(healthEvent('mil-car', seq, healthAt + seq * 30_000)), { qos: 1 });
    await expectDiagnosis(page, 'mil-car');
    expect(await page.locator('#alerts li[data-alert-vehicle="mil-car"][data-alert-state="raised"]').count()).toBe(2);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-mil.png'), fullPage: true });

    // Everything is in InfluxDB before the page is opened again.
    await ingest.flush();
    expect(await waitFor(async () => rowsOf((await influxQuery(influx.url, DB, `SELECT * FROM api_threats`))[0]).length === 1, 10_000, 200)).toBe(true);
    // API windows close up to 10 s + lateness after their last request.
    const apiRequests = async () => Number(rowsOf((await influxQuery(influx.url, DB, `SELECT sum(requests) FROM api_requests WHERE "window" = '10s'`))[0])[0]?.sum ?? 0);
    expect(await waitFor(async () => (await apiRequests()) === lines.length, 20_000, 250)).toBe(true);

    // Reload: the stream starts over with a snapshot (live state + InfluxDB).
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
    expect(await waitFor(async () => (await tileState(page, 'sick-car')) === 'anomalous', 10_000, 250)).toBe(true);
    expect(await page.evaluate(() => (globalThis as unknown as { __dashboard: { snapshots: number } }).__dashboard.snapshots)).toBe(1);

    // A dashboard started afresh knows nothing live about sick-car: what it shows comes from InfluxDB.
    await dashboards[0]!.close();
    const fresh = await startDashboard(ingest, { host: '127.0.0.1', port: 0, influxUrl: influx.url, influxDatabase: DB });
    dashboards.push(fresh);
    expect(fresh.state.snapshot().vehicles.some((v) => v.id === 'sick-car')).toBe(false);
    await page.goto(fresh.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
    expect(await tileState(page, 'sick-car')).toBe('anomalous');
    expect(await tileState(page, 'fine-car')).toBe('healthy');
    expect(await page.locator('#alerts li[data-alert-vehicle="sick-car"][data-alert-state="raised"]').count()).toBe(1);
    expect(await threatRow.count()).toBe(1);
    expect(await page.locator('#countries tr[data-country="US"] td').nth(1).textContent()).toBe('4');
    expect(await page.locator('#countries tr[data-country="FR"] td').nth(2).textContent()).toBe('12');
    expect(await page.locator('#backfill').textContent()).toMatch(/opened with InfluxDB history: \d+ vehicles, 3 alerts, 1 blocks/);
    await expectDiagnosis(page, 'mil-car');
    await page.locator('#tiles .tile[data-vehicle="sick-car"]').click();
    await page.waitForSelector('body[data-history-loaded="sick-car"]', { timeout: 10_000 });
    expect(await page.locator('#selected-note').textContent()).toMatch(new RegExp(`^history from InfluxDB: ${sick.length} samples, 1[12] windows$`)); // the 12th closes when sick-car idles 20 s
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-backfill.png'), fullPage: true });

    const metrics = await (await fetch(`${ingest.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/fleetpulse_ingest_dashboard_sse_clients 1\n/);
    expect(metrics).toMatch(/fleetpulse_ingest_dashboard_sse_snapshots_total [1-9]/);
    expect(metrics).toMatch(/fleetpulse_ingest_dashboard_sse_dropped_slow_total 0\n/);
    expect(pageErrors).toEqual([]);
  }, 90_000);
});
