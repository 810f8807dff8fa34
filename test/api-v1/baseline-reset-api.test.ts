/**
 * `POST /v1/vehicles/{id}/baseline-reset` on real parts: a broker with logins and ACLs, an ingest
 * worker with scoring (its own broker identity), the query API on the dashboard's server, tokens
 * from a real token file, a real influxd.
 *
 * An operator token resets a vehicle: 202 once the broker has the command; the worker of the
 * vehicle's shard applies it (its baseline is learnt again) and records it in `baseline_events`
 * with the reason given. A viewer gets 403, a token scoped to other vehicles or an unknown vehicle
 * 404, a bad body 400, no token 401 — and none of these reach the worker. A server without a broker
 * connection answers 503.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RequestAuthenticator } from '../../ingest/access/request-auth.ts';
import { FileTokenStore } from '../../ingest/access/token-store.ts';
import { startDashboard, type RunningDashboard } from '../../ingest/dashboard/dashboard-server.ts';
import { ModelProvider } from '../../ingest/scoring/model-provider.ts';
import { DEFAULT_MODEL_PATH } from '../../ingest/scoring/scoring-options.ts';
import { VehiclePaths } from '../../ingest/scoring/vehicle-paths.ts';
import { VehicleStateStore } from '../../ingest/scoring/vehicle-state-store.ts';
import { deviceFixture, type Fixture } from '../broker/broker-fixture.ts';
import { influxQuery, rowsOf, waitFor } from '../support/influx.ts';
import { startTestPipeline, type TestIngestWithScoring, type TestPipeline } from '../support/pipeline.ts';

const DB = 'baseline_reset_api';

describe('baseline reset through the query API', () => {
  let devices: Fixture;
  let pipeline: TestPipeline;
  let worker: TestIngestWithScoring;
  let dashboard: RunningDashboard;
  let brokerless: RunningDashboard;
  let dir: string;
  const tokens: Record<'operator' | 'viewer' | 'scoped', string> = { operator: '', viewer: '', scoped: '' };
  const post = async (server: RunningDashboard, path: string, body: unknown, token?: string) => {
    const response = await fetch(`${server.url.replace(/\/$/, '')}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as any };
  };
  const events = async () => rowsOf((await influxQuery(pipeline.influx.url, DB, 'SELECT vehicle, kind, reason FROM baseline_events'))[0]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fleetpulse-reset-api-'));
    devices = await deviceFixture([{ username: 'reset-ingest', role: 'ingest' }]);
    pipeline = await startTestPipeline({ broker: { auth: { devicesFile: devices.devicesFile, watchIntervalMs: 100 } } });
    worker = (await pipeline.startIngest({
      influxDatabase: DB, clientId: 'reset-ingest', username: 'reset-ingest', password: devices.passwords.get('reset-ingest')!, spoolDir: join(dir, 'spool'),
      scoring: {
        provider: await ModelProvider.load(DEFAULT_MODEL_PATH), maxDelayMs: 50, batchSize: 8, alertStatePath: join(dir, 'alert-state.json'),
        paths: new VehiclePaths({ store: new VehicleStateStore({ file: join(dir, 'state.sqlite') }) }),
      },
    })) as TestIngestWithScoring;
    // Two vehicles the fleet knows (the dashboard reads them back from InfluxDB).
    const now = Date.now();
    const lines = ['api-car-1', 'api-car-2'].map((v) => `anomaly,vehicle=${v} score=0.1,threshold=0.5,anomalous=false,baseline="learned",baseline_progress=1 ${now - 30_000}`);
    expect((await fetch(`${pipeline.influx.url}/write?db=${DB}&precision=ms`, { method: 'POST', body: lines.join('\n') })).status).toBe(204);

    const store = new FileTokenStore(join(dir, 'tokens.json'));
    tokens.operator = (await store.add({ name: 'workshop', role: 'operator' })).token;
    tokens.viewer = (await store.add({ name: 'wallboard', role: 'viewer' })).token;
    tokens.scoped = (await store.add({ name: 'van-workshop', role: 'operator', vehicles: ['api-car-2'] })).token;
    const access = () => new RequestAuthenticator(new FileTokenStore(join(dir, 'tokens.json')));
    dashboard = await startDashboard(worker.ingest, { host: '127.0.0.1', port: 0, influxUrl: pipeline.influx.url, influxDatabase: DB, access: access() });
    brokerless = await startDashboard({ addEventListener: () => undefined, addMetrics: () => undefined }, { host: '127.0.0.1', port: 0, influxUrl: pipeline.influx.url, influxDatabase: DB, access: access() });
  }, 90_000);

  afterAll(async () => {
    await dashboard?.close();
    await brokerless?.close();
    await pipeline?.stop();
    devices?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses what an operator token for this vehicle does not send, and nothing reaches the worker', async () => {
    const path = '/v1/vehicles/api-car-1/baseline-reset';
    expect((await post(dashboard, path, {})).status).toBe(401);
    const viewer = await post(dashboard, path, {}, tokens.viewer);
    expect([viewer.status, viewer.body.error.code]).toEqual([403, 'FP_API_FORBIDDEN']);
    const scoped = await post(dashboard, path, {}, tokens.scoped);
    expect([scoped.status, scoped.body.error.code]).toEqual([404, 'FP_API_NOT_FOUND']);
    const unknown = await post(dashboard, '/v1/vehicles/ghost-9/baseline-reset', {}, tokens.operator);
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'FP_API_NOT_FOUND']);
    const bad = await post(dashboard, path, { reason: '' }, tokens.operator);
    expect([bad.status, bad.body.error.code]).toEqual([400, 'FP_API_BAD_REQUEST']);
    expect(bad.body.error.message).toMatch(/^reason: /);
    const noBroker = await post(brokerless, path, {}, tokens.operator);
    expect([noBroker.status, noBroker.body.error.code]).toEqual([503, 'FP_API_UPSTREAM_FAILED']);
    await new Promise((r) => setTimeout(r, 300));
    expect(worker.scoring.stats().paths.resets).toBe(0);
    expect(await events()).toEqual([]);
  });

  it('resets the vehicle for an operator: 202, applied once by the worker, recorded with the reason', async () => {
    const accepted = await post(dashboard, '/v1/vehicles/api-car-1/baseline-reset', { reason: 'clutch replaced' }, tokens.operator);
    expect(accepted.status).toBe(202);
    expect(accepted.body).toMatchObject({ vehicle: 'api-car-1', reason: 'clutch replaced' });
    expect(Math.abs(Date.parse(accepted.body.requestedAt) - Date.now())).toBeLessThan(60_000);
    expect(await waitFor(() => worker.scoring.stats().paths.resets === 1, 10_000)).toBe(true);
    await worker.ingest.flush();
    expect(await waitFor(async () => (await events()).length === 1, 10_000, 200)).toBe(true);
    expect((await events()).map((e) => [e.vehicle, e.kind, e.reason])).toEqual([['api-car-1', 'reset', 'clutch replaced']]);
    // The scoped operator may reset its own vehicle; the reason defaults to a repair.
    const own = await post(dashboard, '/v1/vehicles/api-car-2/baseline-reset', {}, tokens.scoped);
    expect([own.status, own.body.reason]).toEqual([202, 'repair']);
    expect(await waitFor(() => worker.scoring.stats().paths.resets === 2, 10_000)).toBe(true);
  });
});
