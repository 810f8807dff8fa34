/**
 * Long-running MQTT clients come back on their own after the broker refused them (issue 16), on
 * real parts: an authenticated Aedes broker with a small failed-login lockout, ingest with API-log
 * analytics and its /healthz server, the log shipper, an agent, and influxd.
 *
 * 1. Ingest and the shipper start with passwords the broker does not know yet (rotated a moment
 *    too late): refused, then locked out; /healthz and the shipper's health say why. Once the
 *    broker has the passwords they connect without a restart.
 * 2. While data flows, their passwords are rotated (the broker disconnects them) and then
 *    restored: refused again, then back on their own.
 * Everything the agent produced and every log line written is in InfluxDB exactly once.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import { CustomerTable, generateApiKey, writeCustomerTable } from '../../api/customer-table.ts';
import { TrustedProxies } from '../../api/client-ip.ts';
import { LogShipper } from '../../api/logship/log-shipper.ts';
import { FileDeviceStore, type DeviceRole } from '../../broker/device-store.ts';
import { topics } from '../../contracts/topics.ts';
import { DEFAULT_THRESHOLDS } from '../../ingest/apilogs/abuse-detector.ts';
import { ApiLogProcessor } from '../../ingest/apilogs/api-log-processor.ts';
import { GeoLookup } from '../../ingest/apilogs/geo-lookup.ts';
import { IngestService } from '../../ingest/ingest-service.ts';
import { deviceFixture, type Fixture } from '../broker/broker-fixture.ts';
import { influxQuery, rowsOf, waitFor } from '../support/influx.ts';
import { ALL_SHARDS, startTestPipeline, type TestPipeline } from '../support/pipeline.ts';
import { ScriptedSource } from '../support/scripted-source.ts';
import { RAW_TELEMETRY } from '../../ingest/influxdb/rollups.ts';

const DB = 'client_reconnect';
const VEHICLE = 'car-r';
const INGEST = 'ingest-r';
const SHIPPER = 'edge-r';
const SHIPPER_CLIENT = `${SHIPPER}:logship`;
const REFUSED = /^refused \((bad username or password|not authorized)\), retrying (in \d+ s|now)$/;
const fast = { reconnectMinMs: 100, reconnectMaxMs: 1000 };

describe('clients reconnect after a refused CONNACK', () => {
  let fixture: Fixture;
  let pipeline: TestPipeline;
  let ingest: IngestService;
  let shipper: LogShipper;
  let agent: Agent;
  const source = new ScriptedSource();
  const refusals = new Map<string, number>();
  const subscribed = new Set<string>();
  let logFile: string;
  let keys: string[];
  let linesWritten = 0;

  const setPassword = (username: string, role: DeviceRole, password: string) => new FileDeviceStore(fixture.devicesFile).addMany([{ username, role, password }], { replace: true });
  const writeLines = (n: number) => {
    const now = Date.now();
    let text = '';
    for (let i = 0; i < n; i++) {
      text += `{"t":${((now + i) / 1000).toFixed(3)},"id":"${randomBytes(16).toString('hex')}","addr":"127.0.0.1","xff":"198.51.100.${(i % 200) + 1}","method":"POST","path":"/v1/blur","status":200,"bytes_in":2000,"bytes_out":1800,"rt":0.010,"urt":"0.008","key":"${keys[i % keys.length]!.slice(0, 8)}","ua":"reconnect-test"}\n`;
    }
    appendFileSync(logFile, text);
    linesWritten += n;
  };
  const ingestHealth = async () => {
    const response = await fetch(`${ingest.httpUrl}/healthz`);
    return { code: response.status, body: (await response.json()) as { status: string; mqtt: string; mqttConnected: boolean } };
  };
  const bothConsuming = () => ingest.stats().mqttConnected && shipper.stats().mqttConnected && subscribed.has(topics.apiLogsFilter()) && subscribed.has(topics.shardFilter(0, 'telemetry'));
  const refusedAtLeast = (n: number) => (refusals.get(INGEST) ?? 0) >= n && (refusals.get(SHIPPER_CLIENT) ?? 0) >= n;

  beforeAll(async () => {
    fixture = await deviceFixture([
      { username: INGEST, role: 'ingest' },
      { username: SHIPPER, role: 'logship' },
      { username: VEHICLE, role: 'vehicle' },
    ]);
    pipeline = await startTestPipeline({
      // Four failed logins from one address lock it out for 2 s (CONNACK 5 without a password check).
      broker: { auth: { devicesFile: fixture.devicesFile, watchIntervalMs: 100, maxFailedLogins: 4, failedLoginWindowMs: 2000 }, sysIntervalMs: 0 },
    });
    pipeline.broker.aedes.on('connackSent', (packet, client) => {
      if (packet.returnCode) refusals.set(client.id, (refusals.get(client.id) ?? 0) + 1);
    });
    pipeline.broker.aedes.on('subscribe', (subscriptions, client) => {
      if (client?.id === INGEST) for (const s of subscriptions) subscribed.add(s.topic);
    });
    const dir = pipeline.tempDir('fp-reconnect-');
    keys = [generateApiKey(), generateApiKey()];
    const customersFile = join(dir, 'customers.json');
    writeCustomerTable(customersFile, { keys: keys.map((key, i) => ({ key, customer: `c${i}`, plan: 'pro' })) });
    logFile = join(dir, 'access.log');
    writeFileSync(logFile, '');
    const processor = new ApiLogProcessor({
      geo: await GeoLookup.open(),
      customers: new CustomerTable(customersFile),
      trustedProxies: new TrustedProxies(['127.0.0.0/8']),
      // Lines written while the shipper is away arrive seconds later: within the lateness, so counted.
      windows: { sizesMs: [10_000], allowedLatenessMs: 20_000, idleTimeoutMs: 1000, maxOpenCells: 10_000 },
      thresholds: DEFAULT_THRESHOLDS,
      blockMs: 60_000,
      maxBlocklistEntries: 100,
      maxRememberedIds: 100_000,
    });
    // The broker has other passwords than these until the test gives them.
    const ingestPassword = randomBytes(18).toString('base64url');
    const shipperPassword = randomBytes(18).toString('base64url');
    ingest = new IngestService({
      mqttUrl: pipeline.broker.url, username: INGEST, password: ingestPassword, clientId: INGEST, influxUrl: pipeline.influx.url, influxDatabase: DB,
      shards: ALL_SHARDS, spoolDir: join(dir, 'spool'), flushIntervalMs: 100, httpPort: 0, apiLogs: processor, ...fast,
    });
    shipper = new LogShipper({
      file: logFile, source: 'edge-r', mqttUrl: pipeline.broker.url, username: SHIPPER, password: shipperPassword, clientId: SHIPPER_CLIENT, stateDir: join(dir, 'ship'),
      pollIntervalMs: 50, flushIntervalMs: 100, maxBatchLines: 20, maxBatchBytes: 64 * 1024, bufferMaxBytes: 1 << 20, maxInflight: 4, rotateGraceMs: 300, fsync: false, ...fast,
    });
    agent = new Agent({ vehicleId: VEHICLE, mqttUrl: pipeline.broker.url, username: VEHICLE, password: fixture.passwords.get(VEHICLE)!, source, batchIntervalMs: 200, maxBatchSamples: 25, statsIntervalMs: 0, ...fast });

    // 1. Refused from the start, then locked out.
    await ingest.start();
    shipper.start();
    expect(await waitFor(() => refusedAtLeast(3), 15_000), `refusals ${JSON.stringify([...refusals])}`).toBe(true);
    const refused = await ingestHealth();
    expect(refused.code).toBe(503);
    expect(refused.body).toMatchObject({ status: 'unavailable', mqttConnected: false });
    expect(refused.body.mqtt).toMatch(REFUSED);
    expect(shipper.health()).toMatchObject({ status: 'unavailable', mqttConnected: false });
    expect(shipper.health().mqtt).toMatch(REFUSED);

    await setPassword(INGEST, 'ingest', ingestPassword);
    await setPassword(SHIPPER, 'logship', shipperPassword);
    expect(await waitFor(bothConsuming, 20_000), `ingest: ${ingest.health().mqtt}; shipper: ${shipper.health().mqtt}`).toBe(true);
    expect(await ingestHealth()).toMatchObject({ code: 200, body: { mqtt: 'connected', mqttConnected: true } });

    await agent.start();
    source.push(120);
    writeLines(40);
    expect(await waitFor(() => ingest.stats().samplesAccepted >= 120 && shipper.stats().batchesAcked >= 2, 15_000)).toBe(true);

    // 2. Rotated (the broker disconnects both), data keeps coming, then the passwords are restored.
    const before = { ingest: refusals.get(INGEST) ?? 0, shipper: refusals.get(SHIPPER_CLIENT) ?? 0 };
    await setPassword(INGEST, 'ingest', randomBytes(18).toString('base64url'));
    await setPassword(SHIPPER, 'logship', randomBytes(18).toString('base64url'));
    source.push(80);
    writeLines(30);
    expect(await waitFor(() => (refusals.get(INGEST) ?? 0) >= before.ingest + 2 && (refusals.get(SHIPPER_CLIENT) ?? 0) >= before.shipper + 2, 15_000)).toBe(true);
    expect((await ingestHealth()).body.mqtt).toMatch(REFUSED);
    expect(shipper.health().mqtt).toMatch(REFUSED);
    await setPassword(INGEST, 'ingest', ingestPassword);
    await setPassword(SHIPPER, 'logship', shipperPassword);
    expect(await waitFor(() => ingest.stats().mqttConnected && shipper.stats().mqttConnected, 20_000), `ingest: ${ingest.health().mqtt}; shipper: ${shipper.health().mqtt}`).toBe(true);
  }, 120_000);

  afterAll(async () => {
    await agent?.stop();
    await shipper?.stop(500);
    await ingest?.stop();
    await pipeline?.stop();
    fixture?.dispose();
  });

  it('stores every sample the agent produced and every line written, exactly once', async () => {
    expect(await shipper.drained(15_000)).toBe(true);
    const samples = async () => Number(rowsOf((await influxQuery(pipeline.influx.url, DB, `SELECT count(rpm) FROM ${RAW_TELEMETRY} WHERE vehicle = '${VEHICLE}'`))[0])[0]?.count ?? 0);
    const requests = async () => Number(rowsOf((await influxQuery(pipeline.influx.url, DB, `SELECT sum(requests) FROM api_requests WHERE "window"='10s'`))[0])[0]?.sum ?? 0);
    // API windows close 20 s (the lateness) after their end.
    await waitFor(async () => {
      await ingest.flush();
      return (await samples()) >= source.pushed && (await requests()) >= linesWritten;
    }, 60_000, 500);
    expect(source.pushed).toBe(200);
    expect(await samples()).toBe(source.pushed);
    expect(await requests()).toBe(linesWritten);
    expect(ingest.stats().deadLetters).toBe(0);
  });

  it('counts the refusals and the reconnections', () => {
    expect(ingest.stats().connection).toMatchObject({ connects: 2 });
    expect(ingest.stats().connection.refusals).toBeGreaterThanOrEqual(5);
    expect(shipper.stats().connection).toMatchObject({ connects: 2 });
    expect(shipper.stats().connection.refusals).toBeGreaterThanOrEqual(5);
  });
});
