/**
 * The query API over a real influxd: tokens from a real token file (scrypt), the dashboard's
 * server on a free port, data written to InfluxDB as ingest writes it (docs/data-layout.md).
 *
 * - 401 without a token, with a malformed one and with a revoked one; 403 for a viewer on an admin
 *   route; a viewer limited to `van-*` sees only those vehicles (404 for another).
 * - Pagination walks every vehicle once; a cursor of another list is a 400.
 * - Telemetry comes from InfluxDB: raw points for a short range (values as written), the 1-minute
 *   rollup (ingest/influxdb/rollups.ts names) for a long range, means when `every` asks.
 * - Alerts, DTCs, MIL, and /openapi.json (OpenAPI 3.1 with every route).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RequestAuthenticator } from '../../ingest/access/request-auth.ts';
import { FileTokenStore } from '../../ingest/access/token-store.ts';
import { startDashboard, type RunningDashboard } from '../../ingest/dashboard/dashboard-server.ts';
import { RAW, ROLLUP } from '../../ingest/influxdb/rollups.ts';
import { influxQuery, startTestInfluxd, type TestInfluxd } from '../support/influx.ts';

const DB = 'query_api';
const noIngest = { addEventListener: () => undefined, addMetrics: () => undefined };

describe('query API', () => {
  let dir: string;
  let influx: TestInfluxd;
  let dashboard: RunningDashboard;
  let store: FileTokenStore;
  const tokens: Record<'admin' | 'viewer' | 'vans' | 'revoked', string> = { admin: '', viewer: '', vans: '', revoked: '' };
  const now = Date.now();
  const base = () => dashboard.url.replace(/\/$/, '');
  const get = async (path: string, token?: string) => {
    const response = await fetch(`${base()}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    return { status: response.status, body: (await response.json()) as any };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fleetpulse-query-api-'));
    influx = await startTestInfluxd();
    await influxQuery(influx.url, DB, `CREATE DATABASE ${DB}`);
    await influxQuery(influx.url, DB, `CREATE RETENTION POLICY ${ROLLUP.retentionPolicy} ON ${DB} DURATION 52w REPLICATION 1`);
    await influxQuery(influx.url, DB, `CREATE RETENTION POLICY ${RAW.retentionPolicy} ON ${DB} DURATION 30d REPLICATION 1`);
    const lines: string[] = [];
    const raw: string[] = [];
    for (const vehicle of ['car-a', 'car-b', 'van-1', 'van-2']) {
      for (let i = 0; i < 30; i++) raw.push(`telemetry,vehicle=${vehicle} rpm=${1000 + i},speed=${i} ${now - 60_000 + i * 1000}`);
      lines.push(`anomaly,vehicle=${vehicle} score=0.1,threshold=0.5,anomalous=false,baseline="learned",baseline_progress=1 ${now - 30_000}`);
    }
    lines.push(`alerts,vehicle=car-a,state=raised alert_id="car-a:1",score=0.9,threshold=0.5,text="coolant high" ${now - 20_000}`);
    lines.push(`alerts,vehicle=van-1,state=raised alert_id="van-1:1",score=0.8,threshold=0.5 ${now - 50_000}`);
    lines.push(`alerts,vehicle=van-1,state=cleared alert_id="van-1:1",score=0.2,threshold=0.5 ${now - 40_000}`);
    lines.push(`dtc,vehicle=car-a,code=P0301,kind=confirmed state="active",first_seen_ms=${now - 90_000}i,last_seen_ms=${now - 10_000}i,description="Cylinder 1 misfire detected",system="powertrain" ${now - 90_000}`);
    lines.push(`vehicle_health,vehicle=car-a mil=true,dtc_count=1i ${now - 10_000}`);
    lines.push(`vehicle_health,vehicle=car-b mil=false,dtc_count=0i ${now - 10_000}`);
    const written = await fetch(`${influx.url}/write?db=${DB}&precision=ms`, { method: 'POST', body: lines.join('\n') });
    expect(written.status).toBe(204);
    // Raw telemetry where ingest writes it (ingest/influxdb/rollups.ts).
    const rawWritten = await fetch(`${influx.url}/write?db=${DB}&rp=${RAW.retentionPolicy}&precision=ms`, { method: 'POST', body: raw.join('\n') });
    expect(rawWritten.status).toBe(204);
    // One day of 1-minute rollups, two days ago (raw telemetry has nothing there).
    const rollup = Array.from({ length: 60 }, (_, i) => `${ROLLUP.measurement},vehicle=car-a mean_rpm=${2000 + i},min_rpm=1900,max_rpm=2100,mean_speed=50 ${now - 2 * 86_400_000 + i * 60_000}`);
    const rolled = await fetch(`${influx.url}/write?db=${DB}&rp=${ROLLUP.retentionPolicy}&precision=ms`, { method: 'POST', body: rollup.join('\n') });
    expect(rolled.status).toBe(204);

    store = new FileTokenStore(join(dir, 'tokens.json'));
    tokens.admin = (await store.add({ name: 'ops-admin', role: 'admin' })).token;
    tokens.viewer = (await store.add({ name: 'wallboard', role: 'viewer' })).token;
    tokens.vans = (await store.add({ name: 'van-customer', role: 'viewer', vehicles: ['van-*'] })).token;
    tokens.revoked = (await store.add({ name: 'old', role: 'admin' })).token;
    await store.revoke('old');
    // A second store instance reads the file as ingest does.
    dashboard = await startDashboard(noIngest, { host: '127.0.0.1', port: 0, influxUrl: influx.url, influxDatabase: DB, access: new RequestAuthenticator(new FileTokenStore(join(dir, 'tokens.json'))) });
  }, 60_000);

  afterAll(async () => {
    await dashboard?.close();
    await influx?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 401 in the one error shape without a token, with a malformed one and with a revoked one', async () => {
    for (const token of [undefined, 'nonsense', tokens.revoked, `${tokens.admin.slice(0, -2)}xx`]) {
      const { status, body } = await get('/v1/vehicles', token);
      expect(status, String(token)).toBe(401);
      expect(body.error.code).toBe('FP_API_UNAUTHORIZED');
      expect(typeof body.error.message).toBe('string');
    }
  });

  it('answers 403 for a viewer on an admin route, 200 for an admin', async () => {
    const viewer = await get('/v1/tokens', tokens.viewer);
    expect(viewer.status).toBe(403);
    expect(viewer.body.error.code).toBe('FP_API_FORBIDDEN');
    const admin = await get('/v1/tokens', tokens.admin);
    expect(admin.status).toBe(200);
    expect(admin.body.items.map((t: { name: string }) => t.name)).toEqual(['ops-admin', 'van-customer', 'wallboard']);
    // The secret is everything after `fpt_<id>_`; it may itself contain '_'.
    expect(JSON.stringify(admin.body)).not.toContain(tokens.admin.slice('fpt_'.length + 13));
  });

  it('lists vehicles with state, last seen, score, MIL and open alerts', async () => {
    const { status, body } = await get('/v1/vehicles', tokens.viewer);
    expect(status).toBe(200);
    expect(body.items.map((v: { id: string }) => v.id)).toEqual(['car-a', 'car-b', 'van-1', 'van-2']);
    const carA = body.items[0];
    expect(carA).toMatchObject({ id: 'car-a', state: 'anomalous', mil: true, openAlerts: ['car-a:1'], score: 0.1 });
    expect(carA.lastSeenMs).toBe(now - 60_000 + 29_000);
    expect(body.items[1]).toMatchObject({ id: 'car-b', state: 'healthy', mil: false, openAlerts: [] });
    expect(body.items[2]).toMatchObject({ id: 'van-1', state: 'healthy', mil: null, openAlerts: [] });
  });

  it('shows a scoped viewer only its vehicles, and 404 for any other', async () => {
    const list = await get('/v1/vehicles', tokens.vans);
    expect(list.body.items.map((v: { id: string }) => v.id)).toEqual(['van-1', 'van-2']);
    expect((await get('/v1/vehicles/van-1', tokens.vans)).status).toBe(200);
    for (const path of ['/v1/vehicles/car-a', '/v1/vehicles/car-a/telemetry', '/v1/vehicles/car-a/dtcs']) {
      const { status, body } = await get(path, tokens.vans);
      expect(status, path).toBe(404);
      expect(body.error.code).toBe('FP_API_NOT_FOUND');
    }
    const alerts = await get('/v1/alerts', tokens.vans);
    expect(alerts.body.items.map((a: { vehicle: string }) => a.vehicle)).toEqual(['van-1', 'van-1']);
    expect((await get('/v1/threats', tokens.vans)).status).toBe(403);
  });

  it('pages through vehicles with an opaque cursor, each once', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const { status, body }: { status: number; body: { items: Array<{ id: string }>; nextCursor: string | null } } = await get(`/v1/vehicles?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, tokens.viewer);
      expect(status).toBe(200);
      seen.push(...body.items.map((v) => v.id));
      cursor = body.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(seen).toEqual(['car-a', 'car-b', 'van-1', 'van-2']);
    expect(pages).toBe(4);
    const first = await get('/v1/vehicles?limit=1', tokens.viewer);
    const wrongList = await get(`/v1/tokens?cursor=${encodeURIComponent(first.body.nextCursor)}`, tokens.admin);
    expect(wrongList.status).toBe(400);
    expect(wrongList.body.error.code).toBe('FP_API_BAD_REQUEST');
    expect((await get('/v1/vehicles?limit=0', tokens.viewer)).body.error.message).toMatch(/^limit:/);
  });

  it('reads raw telemetry from InfluxDB for a short range, page by page', async () => {
    const from = now - 120_000;
    const first = await get(`/v1/vehicles/car-b/telemetry?from=${from}&to=${now}&signals=RPM,speed&limit=20`, tokens.viewer);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ vehicle: 'car-b', source: 'raw', everyMs: null, fields: ['rpm', 'speed'] });
    expect(first.body.points).toHaveLength(20);
    expect(first.body.points[0]).toEqual({ t: now - 60_000, values: { rpm: 1000, speed: 0 } });
    const second = await get(`/v1/vehicles/car-b/telemetry?from=${from}&to=${now}&signals=RPM,speed&limit=20&cursor=${encodeURIComponent(first.body.nextCursor)}`, tokens.viewer);
    expect(second.body.points.map((p: { values: { rpm: number } }) => p.values.rpm)).toEqual(Array.from({ length: 10 }, (_, i) => 1020 + i));
    expect(second.body.nextCursor).toBeNull();
    const bad = await get('/v1/vehicles/car-b/telemetry?signals=WARP_FACTOR', tokens.viewer);
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('warp_factor');
  });

  it('means raw telemetry into buckets with every, and reads the 1-minute rollup for a long range', async () => {
    const every = await get(`/v1/vehicles/car-b/telemetry?from=${now - 120_000}&to=${now}&signals=rpm&every=1h`, tokens.viewer);
    expect(every.body.source).toBe('raw_aggregated');
    const rpm = every.body.points.map((p: { values: { rpm: number } }) => p.values.rpm);
    // 30 samples 1000 … 1029 in one or two hour buckets: their mean overall is 1014.5.
    expect(rpm.length).toBeGreaterThanOrEqual(1);
    if (rpm.length === 1) expect(rpm[0]).toBeCloseTo(1014.5);
    const long = await get(`/v1/vehicles/car-a/telemetry?from=${now - 3 * 86_400_000}&to=${now - 86_400_000}&signals=rpm`, tokens.viewer);
    expect(long.status).toBe(200);
    expect(long.body.source).toBe('rollup_1m');
    expect(long.body.everyMs).toBe(60_000);
    expect(long.body.points).toHaveLength(60);
    expect(long.body.points[0].values.rpm).toBe(2000);
  });

  it('lists alert changes newest first, filtered by state, paged', async () => {
    const all = await get('/v1/alerts?limit=2', tokens.viewer);
    expect(all.body.items.map((a: { alertId: string; state: string }) => `${a.alertId}/${a.state}`)).toEqual(['car-a:1/raised', 'van-1:1/cleared']);
    const rest = await get(`/v1/alerts?limit=2&cursor=${encodeURIComponent(all.body.nextCursor)}`, tokens.viewer);
    expect(rest.body.items.map((a: { alertId: string; state: string }) => `${a.alertId}/${a.state}`)).toEqual(['van-1:1/raised']);
    expect(rest.body.nextCursor).toBeNull();
    const cleared = await get('/v1/alerts?state=cleared', tokens.viewer);
    expect(cleared.body.items).toHaveLength(1);
    expect(cleared.body.items[0]).toMatchObject({ vehicle: 'van-1', kind: 'model', state: 'cleared' });
    expect((await get(`/v1/alerts?since=${now - 30_000}`, tokens.viewer)).body.items).toHaveLength(1);
  });

  it("lists a vehicle's DTCs from InfluxDB", async () => {
    const { body } = await get('/v1/vehicles/car-a/dtcs', tokens.viewer);
    expect(body.items).toEqual([{ code: 'P0301', kind: 'confirmed', state: 'active', firstSeenMs: now - 90_000, lastSeenMs: now - 10_000, clearedMs: null, description: 'Cylinder 1 misfire detected', system: 'powertrain' }]);
  });

  it('serves an OpenAPI 3.1 document of every route, without a token', async () => {
    const response = await fetch(`${base()}/openapi.json`);
    expect(response.status).toBe(200);
    const doc = (await response.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual(['/v1/alerts', '/v1/api-traffic', '/v1/threats', '/v1/tokens', '/v1/vehicles', '/v1/vehicles/{id}', '/v1/vehicles/{id}/baseline-reset', '/v1/vehicles/{id}/dtcs', '/v1/vehicles/{id}/telemetry']);
    expect(Object.keys(doc.paths['/v1/vehicles/{id}/baseline-reset'] as object)).toEqual(['post']);
    expect(JSON.stringify(doc.paths['/v1/vehicles/{id}/telemetry'])).toContain('every');
  });
});
