/**
 * The shared reconnecting connection against a real authenticated Aedes broker (refusals, a
 * persistent session across clients) and a hand-made MQTT peer that drops the connection before
 * acknowledging a publish (which Aedes never does on its own).
 */
import mqtt from 'mqtt';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FileDeviceStore } from '../../broker/device-store.ts';
import { createLogger } from '../../common/logger.ts';
import { describeStatus, MqttConnection, type MqttConnectionOptions } from '../../common/mqtt-connection.ts';
import { topics } from '../../contracts/topics.ts';
import { deviceFixture, startAuthBroker, waitFor } from '../broker/broker-fixture.ts';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function connection(options: Partial<MqttConnectionOptions> & Pick<MqttConnectionOptions, 'url' | 'clientId'>): MqttConnection {
  const c = new MqttConnection({ keepaliveS: 30, reconnectMinMs: 50, reconnectMaxMs: 200, ...options });
  cleanups.push(() => c.stop());
  return c;
}

describe('MqttConnection', () => {
  it('keeps retrying after refused CONNACKs, says why, and resumes its persistent session once accepted', async () => {
    const fixture = await deviceFixture([{ username: 'ingest-c', role: 'ingest' }, { username: 'car-c', role: 'vehicle' }]);
    cleanups.push(() => fixture.dispose());
    const broker = await startAuthBroker(fixture, { auth: { devicesFile: fixture.devicesFile, watchIntervalMs: 50, maxFailedLogins: 1000 } });
    cleanups.push(() => broker.close());
    const lines: string[] = [];
    const received: string[] = [];
    const c = connection({
      url: broker.url,
      clientId: 'ingest-c',
      clean: false,
      username: 'ingest-c',
      password: 'not-yet-known',
      logger: createLogger('test', { level: 'debug', format: 'json', write: (l: string) => lines.push(l) }),
      onClient: (client) => client.on('message', (_topic, payload) => received.push(payload.toString())),
      onUp: (client, connack) => {
        if (!connack.sessionPresent) client.subscribe(topics.telemetry('car-c'), { qos: 1 });
      },
    });
    c.start();
    expect(await waitFor(() => c.counters.refusals >= 3, 10_000)).toBe(true);
    expect(c.status()).toMatchObject({ lastFailure: { kind: 'refused', code: 4, detail: 'bad username or password' } });
    expect(c.describe()).toMatch(/^refused \(bad username or password\), retrying (in \d+ s|now)$/);
    expect(c.connected).toBe(false);
    // One warning for the repeated refusal, not one per attempt.
    expect(lines.filter((l) => l.includes('broker refused the connection')).length).toBe(1);

    await new FileDeviceStore(fixture.devicesFile).addMany([{ username: 'ingest-c', role: 'ingest', password: 'not-yet-known' }], { replace: true });
    expect(await waitFor(() => c.connected, 10_000)).toBe(true);
    expect(c.describe()).toBe('connected');
    expect(c.status()).toEqual({ state: 'connected' });

    // Dropped by a rotation, then accepted again: the broker kept the subscription and queued meanwhile.
    await new FileDeviceStore(fixture.devicesFile).rotate('ingest-c');
    expect(await waitFor(() => !c.connected && c.counters.drops === 1, 10_000)).toBe(true);
    const car = await mqtt.connectAsync(broker.url, { clientId: 'agent-car-c', username: 'car-c', password: fixture.passwords.get('car-c')! });
    cleanups.push(() => car.endAsync(true));
    await car.publishAsync(topics.telemetry('car-c'), 'while away', { qos: 1 });
    await new FileDeviceStore(fixture.devicesFile).addMany([{ username: 'ingest-c', role: 'ingest', password: 'not-yet-known' }], { replace: true });
    expect(await waitFor(() => received.includes('while away'), 10_000)).toBe(true);
    expect(c.counters).toMatchObject({ connects: 2, drops: 1 });
  });

  it('refuses a publish while down and fails the callback of one its connection loses before the PUBACK', async () => {
    // A peer that accepts the CONNECT and hangs up on the first PUBLISH.
    const sockets = new Set<Socket>();
    const server: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('data', (data) => {
        const type = data[0]! >> 4;
        if (type === 1) socket.write(Buffer.from([0x20, 0x02, 0x00, 0x00]));
        else if (type === 3) socket.destroy();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }));
    const port = (server.address() as { port: number }).port;
    const c = connection({ url: `mqtt://127.0.0.1:${port}`, clientId: 'publisher', clean: false });
    const callback = (): boolean => c.publish('t', 'x', { qos: 1 }, () => undefined);
    expect(callback()).toBe(false);
    c.start();
    expect(await waitFor(() => c.connected, 5000)).toBe(true);
    const outcomes: Array<Error | undefined> = [];
    expect(c.publish('t', 'x', { qos: 1 }, (error) => outcomes.push(error))).toBe(true);
    expect(await waitFor(() => outcomes.length > 0, 5000)).toBe(true);
    expect(outcomes).toMatchObject([{ code: 'FP_PUBLISH_NOT_ACKNOWLEDGED' }]);
    expect(await waitFor(() => c.counters.connects >= 2, 5000)).toBe(true);
    expect(outcomes).toHaveLength(1);
    expect(c.counters.drops).toBeGreaterThanOrEqual(1);
  });

  it('describes every state in one line', () => {
    const failure = { kind: 'refused' as const, detail: 'not authorized', code: 5, atMs: 0 };
    expect(describeStatus({ state: 'stopped' })).toBe('stopped');
    expect(describeStatus({ state: 'connecting' })).toBe('connecting');
    expect(describeStatus({ state: 'waiting', lastFailure: failure, retryAtMs: 4000 }, 400)).toBe('refused (not authorized), retrying in 4 s');
    expect(describeStatus({ state: 'connecting', lastFailure: failure })).toBe('refused (not authorized), retrying now');
    expect(describeStatus({ state: 'waiting', lastFailure: { kind: 'unreachable', detail: 'connect ECONNREFUSED 127.0.0.1:1', atMs: 0 }, retryAtMs: 100 }, 0)).toBe('unreachable (connect ECONNREFUSED 127.0.0.1:1), retrying in 1 s');
    expect(describeStatus({ state: 'waiting', lastFailure: { kind: 'lost', detail: 'Keepalive timeout', atMs: 0 }, retryAtMs: 2000 }, 0)).toBe('connection lost (Keepalive timeout), retrying in 2 s');
  });
});
