/**
 * Abuse limits (packet size, failed logins, connection count) and the metrics that
 * report them: Prometheus text on /metrics and JSON on $SYS.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../broker/broker-server.ts';
import { topics } from '../../contracts/topics.ts';
import { connectClient, deviceFixture, startAuthBroker, waitFor, type Fixture } from './broker-fixture.ts';
import { connectPacket, publishPacket, rawConnack } from './mqtt-bytes.ts';
import { metricFamilies } from '../support/metrics.ts';

/** Families a broker on the memory store serves (a LevelDB store adds store_writable and store_free_bytes). */
const BROKER_FAMILIES: Record<string, 'counter' | 'gauge'> = {
  connected_clients: 'gauge', open_connections: 'gauge', bus_queue_length: 'gauge', bus_waiting_publishers: 'gauge',
  connects_total: 'counter', disconnects_total: 'counter', client_errors_total: 'counter', messages_published_total: 'counter',
  bytes_published_total: 'counter', oversize_packets_total: 'counter', connections_refused_total: 'counter',
  revoked_disconnects_total: 'counter', subscriptions_narrowed_total: 'counter', offline_messages_dropped_total: 'counter',
  bus_parked_batches_total: 'counter', bus_backpressure_engaged_total: 'counter', store_write_errors_total: 'counter',
  store_reopens_total: 'counter', store_low_space_total: 'counter', refusals_total: 'counter', auth_total: 'counter',
};

describe('broker limits and metrics', () => {
  let fixture: Fixture;
  let broker: RunningBroker;
  const creds = (user: string) => ({ clientId: user, username: user, password: fixture.passwords.get(user)! });

  beforeAll(async () => {
    fixture = await deviceFixture([
      { username: 'car-l', role: 'vehicle' },
      { username: 'dash-l', role: 'viewer' },
    ]);
    broker = await startAuthBroker(fixture, {
      metrics: { port: 0 },
      sysIntervalMs: 200,
      limits: { maxPacketBytes: 64 * 1024, maxConnections: 6 },
      auth: { devicesFile: fixture.devicesFile, maxFailedLogins: 3, failedLoginWindowMs: 60_000 },
    });
  });
  afterAll(async () => {
    await broker?.close();
    fixture?.dispose();
  });

  it('closes a connection that announces a packet above the limit, before its body arrives', async () => {
    const socket = connect(broker.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const closed = new Promise((r) => socket.once('close', r));
    socket.write(connectPacket('car-l', 'car-l', fixture.passwords.get('car-l')));
    // Only the header of a 10 MB publish: the broker must not wait for (and buffer) the rest.
    socket.write(publishPacket(topics.telemetry('car-l'), Buffer.alloc(10 * 1024 * 1024)).subarray(0, 64));
    await closed;
    expect(broker.stats().oversizePackets).toBe(1);
    // A packet within the limit still goes through.
    const ok = await connectClient(broker.url, creds('car-l'));
    await ok.publishAsync(topics.telemetry('car-l'), Buffer.alloc(32 * 1024), { qos: 1 });
    await ok.endAsync();
  });

  it('limits an identity after repeated failed logins, but still admits its password verified before', async () => {
    const connectAs = (password: string) => connectPacket('car-l', 'car-l', password);
    for (let i = 0; i < 3; i++) expect(await rawConnack(broker.port, connectAs('wrong'), '127.0.0.3')).toBe(4);
    // Further guesses are refused without a password check …
    expect(await rawConnack(broker.port, connectAs('wrong'), '127.0.0.4')).toBe(5);
    expect(broker.metrics.auth.get('throttled')).toBe(1);
    // … while car-l, verified in the test before, still gets in, from that address too.
    expect(await rawConnack(broker.port, connectAs(fixture.passwords.get('car-l')!), '127.0.0.3')).toBe(0);
    const ok = await connectClient(broker.url, creds('car-l'));
    await ok.endAsync();
  });

  it('refuses connections above the connection limit', async () => {
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 6; i++) {
        const s = connect(broker.port, '127.0.0.1');
        await new Promise((r) => s.once('connect', r));
        sockets.push(s);
      }
      await waitFor(() => broker.stats().connectionsRefused === 0, 200);
      const extra = connect(broker.port, '127.0.0.1');
      await new Promise((r) => extra.once('close', r));
      expect(broker.stats().connectionsRefused).toBe(1);
    } finally {
      for (const s of sockets) s.destroy();
    }
  });

  it('serves Prometheus metrics and publishes $SYS metrics to viewers', async () => {
    const response = await fetch(broker.metricsUrl!);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await response.text();
    const families = metricFamilies(text);
    for (const [name, type] of Object.entries(BROKER_FAMILIES)) expect(families.get(`fleetpulse_broker_${name}`), name).toBe(type);
    expect(text).toMatch(/^process_cpu_seconds_total \d/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    expect(text).toMatch(/^fleetpulse_broker_oversize_packets_total 1$/m);
    expect(text).toMatch(/^fleetpulse_broker_connections_refused_total 1$/m);
    expect(text).toMatch(/^fleetpulse_broker_auth_total\{result="bad_credentials"\} 3$/m);
    expect(text).toMatch(/^fleetpulse_broker_auth_total\{result="throttled"\} 1$/m);
    expect(text).toMatch(/^fleetpulse_broker_connected_clients \d+$/m);
    expect((await fetch(new URL('/other', broker.metricsUrl!))).status).toBe(404);

    await waitFor(() => broker.stats().connectedClients === 0, 2000);
    const viewer = await connectClient(broker.url, creds('dash-l'));
    const got: Array<{ topic: string; body: { oversizePackets: number } }> = [];
    viewer.on('message', (topic, payload) => got.push({ topic, body: JSON.parse(payload.toString()) }));
    await viewer.subscribeAsync(topics.brokerMetrics('+'), { qos: 0 });
    expect(await waitFor(() => got.length > 0, 3000)).toBe(true);
    expect(got[0]!.topic).toBe(topics.brokerMetrics(broker.id));
    expect(got[0]!.body.oversizePackets).toBe(1);
    await viewer.endAsync();
  });
});
