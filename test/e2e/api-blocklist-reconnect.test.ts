/**
 * The privacy API's blocklist subscriber comes back on its own after the broker refused it (issue
 * 16), on real parts: an authenticated Aedes broker with a small failed-login lockout, the privacy
 * API as `fleetpulse api` runs it (startPrivacyApi), and an ingest identity publishing the retained
 * blocklist.
 *
 * 1. The API starts with a password the broker does not know yet: refused, then locked out;
 *    /healthz says why (degraded, not down: it serves and enforces what it has). Once the broker
 *    has the password it connects without a restart and enforces the blocklist published meanwhile.
 * 2. Its password is rotated (the broker disconnects it): refused again, the last blocklist stays in
 *    force; restored, it comes back and takes the blocklist published while it was away.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey, writeCustomerTable } from '../../api/customer-table.ts';
import { startPrivacyApi, type RunningPrivacyApi } from '../../api/privacy-api-server.ts';
import type { RunningBroker } from '../../broker/broker-server.ts';
import { FileDeviceStore, type DeviceRole } from '../../broker/device-store.ts';
import type { ApiBlocklist, BlockEntry } from '../../contracts/api-logs.ts';
import { topics } from '../../contracts/topics.ts';
import { connectClient, deviceFixture, startAuthBroker, waitFor, type Fixture } from '../broker/broker-fixture.ts';

const EDGE = 'edge-b';
const API_CLIENT = `${EDGE}:api`;
const INGEST = 'ingest-b';
const ABUSER = '203.0.113.7';
const REFUSED = /^refused \((bad username or password|not authorized)\), retrying (in \d+ s|now)$/;

interface Health {
  status: string;
  blocklist: { entries: number; updatedMs: number; source: string; mqttConnected: boolean; mqtt: string; connection: { connects: number; refusals: number } };
}

describe('the privacy API reconnects its blocklist after a refused CONNACK', () => {
  let fixture: Fixture;
  let broker: RunningBroker;
  let api: RunningPrivacyApi;
  let publisher: MqttClient;
  let refusals = 0;
  const apiPassword = randomBytes(18).toString('base64url');

  const setPassword = (username: string, role: DeviceRole, password: string) => new FileDeviceStore(fixture.devicesFile).addMany([{ username, role, password }], { replace: true });
  const health = async (): Promise<{ code: number; body: Health }> => {
    const response = await fetch(`${api.apiUrl}/healthz`);
    return { code: response.status, body: (await response.json()) as Health };
  };
  /** What the API answers a keyless upload from ABUSER through the trusted proxy: 403 when blocked, else 401. */
  const abuserStatus = async (): Promise<number> =>
    (await fetch(`${api.apiUrl}/v1/blur`, { method: 'POST', headers: { 'content-type': 'image/jpeg', 'x-forwarded-for': ABUSER }, body: 'x' })).status;
  const publishBlocklist = async (entries: BlockEntry[]): Promise<void> => {
    const list: ApiBlocklist = { v: 1, updatedMs: Date.now(), entries };
    await publisher.publishAsync(topics.apiBlocklist(), JSON.stringify(list), { qos: 1, retain: true });
  };
  const block = (): BlockEntry => ({ kind: 'ip', value: ABUSER, reason: 'ip_burst', sinceMs: Date.now(), untilMs: Date.now() + 600_000 });

  beforeAll(async () => {
    fixture = await deviceFixture([
      { username: EDGE, role: 'logship' },
      { username: INGEST, role: 'ingest' },
    ]);
    // Four failed logins of one identity lock it out for 2 s (CONNACK 5 without a password check).
    broker = await startAuthBroker(fixture, { auth: { devicesFile: fixture.devicesFile, watchIntervalMs: 100, maxFailedLogins: 4, failedLoginWindowMs: 2000 } });
    broker.aedes.on('connackSent', (packet, client) => {
      if (packet.returnCode && client.id === API_CLIENT) refusals += 1;
    });
    publisher = await connectClient(broker.url, { clientId: INGEST, username: INGEST, password: fixture.passwords.get(INGEST)! });
    const customersFile = join(fixture.dir, 'api', 'customers.json');
    writeCustomerTable(customersFile, { keys: [{ key: generateApiKey(), customer: 'acme', plan: 'pro' }] });
    api = await startPrivacyApi({
      host: '127.0.0.1',
      port: 0,
      customersFile,
      trustedProxies: ['127.0.0.0/8'],
      maxBytes: 1 << 20,
      maxPixels: 1_000_000,
      maxRegions: 4,
      concurrency: 1,
      mqtt: { url: broker.url, username: EDGE, password: apiPassword, clientId: API_CLIENT, reconnectMinMs: 100, reconnectMaxMs: 1000 },
    });
  });

  afterAll(async () => {
    await api?.stop();
    publisher?.end(true);
    await broker?.close();
    fixture?.dispose();
  });

  it('is refused from the start, says so, and connects once the broker has its password', async () => {
    expect(await waitFor(() => refusals >= 3, 15_000), `refusals: ${refusals}`).toBe(true);
    const refused = await health();
    expect(refused.code).toBe(200);
    expect(refused.body).toMatchObject({ status: 'degraded', blocklist: { source: 'broker', mqttConnected: false, entries: 0 } });
    expect(refused.body.blocklist.mqtt).toMatch(REFUSED);

    // Published while the API cannot hear it: not enforced yet.
    await publishBlocklist([block()]);
    expect(await abuserStatus()).toBe(401);

    await setPassword(EDGE, 'logship', apiPassword);
    expect(await waitFor(async () => (await health()).body.blocklist.entries === 1, 20_000), JSON.stringify((await health()).body)).toBe(true);
    expect(await health()).toMatchObject({ code: 200, body: { status: 'ok', blocklist: { mqttConnected: true, mqtt: 'connected' } } });
    expect(await abuserStatus()).toBe(403);
  });

  it('after a rotated password keeps enforcing the last blocklist, and takes the new one once back', async () => {
    const before = refusals;
    await setPassword(EDGE, 'logship', randomBytes(18).toString('base64url'));
    expect(await waitFor(() => refusals >= before + 2, 15_000), `refusals: ${refusals}`).toBe(true);
    const refused = await health();
    expect(refused.body).toMatchObject({ status: 'degraded', blocklist: { mqttConnected: false, entries: 1 } });
    expect(refused.body.blocklist.mqtt).toMatch(REFUSED);
    expect(await abuserStatus()).toBe(403);

    await publishBlocklist([]);
    await setPassword(EDGE, 'logship', apiPassword);
    expect(await waitFor(async () => (await health()).body.blocklist.entries === 0, 20_000), JSON.stringify((await health()).body)).toBe(true);
    expect((await health()).body).toMatchObject({ status: 'ok', blocklist: { mqttConnected: true, mqtt: 'connected' } });
    expect(await abuserStatus()).toBe(401);
  });

  it('counts the refusals and the reconnections', async () => {
    const { connection } = (await health()).body.blocklist;
    expect(connection.connects).toBe(2);
    expect(connection.refusals).toBeGreaterThanOrEqual(5);
  });
});
