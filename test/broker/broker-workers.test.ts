/**
 * `fleetpulse broker --workers 2`: two worker processes behind one port (Node cluster) sharing
 * state through a real redis-server. Clients of the same port land on different workers and still
 * receive each other's messages; a worker killed with SIGKILL is replaced by the primary, and the
 * replacement serves clients. Where a client landed is read from Aedes' `$SYS/<broker id>/new/clients`
 * (a worker's broker id ends with its pid).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { findExecutable, spawnManaged, type ManagedProcess } from '../../common/child-process.ts';
import { freePort, isPortOpen } from '../../common/net.ts';
import { topics } from '../../contracts/topics.ts';
import { startCli } from '../support/cli.ts';
import { logged } from '../support/log-records.ts';
import { connectClient, deviceFixture, waitFor, type Fixture } from './broker-fixture.ts';

const CARS = ['car-w0', 'car-w1', 'car-w2', 'car-w3'];
const PER_CAR = 50;

describe('broker --workers (one host, Node cluster)', () => {
  let fixture: Fixture;
  let redis: ManagedProcess;
  let broker: ReturnType<typeof startCli>;
  let port: number;
  let viewer: MqttClient;
  const clients: MqttClient[] = [];
  /** client id → broker id of the worker it landed on */
  const landedOn = new Map<string, string>();

  const count = (re: RegExp): number => broker.output().match(re)?.length ?? 0;
  const workerPids = (): number[] => logged(broker.output(), 'broker worker started').map((r) => Number(r.pid));
  const login = (username: string, suffix: string) => ({ clientId: `${username}:${suffix}`, username, password: fixture.passwords.get(username)! });
  const connectTracked = async (username: string, suffix: string): Promise<{ client: MqttClient; brokerId: string }> => {
    const options = login(username, suffix);
    const client = await connectClient(`mqtt://127.0.0.1:${port}`, options);
    clients.push(client);
    expect(await waitFor(() => landedOn.has(options.clientId), 10_000), `no $SYS notice for ${options.clientId}`).toBe(true);
    return { client, brokerId: landedOn.get(options.clientId)! };
  };

  /** Every car publishes PER_CAR QoS 1 messages; resolves with what the subscriber got per car. */
  const exchange = async (subscriber: MqttClient, cars: ReadonlyArray<{ name: string; client: MqttClient }>): Promise<Map<string, Set<number>>> => {
    const got = new Map<string, Set<number>>(cars.map((c) => [c.name, new Set<number>()]));
    const onMessage = (_topic: string, payload: Buffer): void => {
      const { car, i } = JSON.parse(payload.toString()) as { car: string; i: number };
      got.get(car)?.add(i);
    };
    subscriber.on('message', onMessage);
    await Promise.all(cars.map(async ({ name, client }) => {
      for (let i = 0; i < PER_CAR; i++) await client.publishAsync(topics.telemetry(name), JSON.stringify({ car: name, i }), { qos: 1 });
    }));
    await waitFor(() => [...got.values()].every((s) => s.size === PER_CAR), 15_000);
    subscriber.off('message', onMessage);
    return got;
  };

  beforeAll(async () => {
    fixture = await deviceFixture([...CARS.map((username) => ({ username, role: 'vehicle' as const })), { username: 'ingest-w', role: 'ingest' }, { username: 'viewer-w', role: 'viewer' }]);
    const bin = findExecutable('redis-server');
    if (!bin) throw new Error('redis-server is not installed (Debian package redis-server)');
    const redisPort = await freePort();
    redis = spawnManaged(bin, ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', fixture.dir], { logFile: join(fixture.dir, 'redis.log') });
    expect(await waitFor(() => isPortOpen(redisPort), 10_000)).toBe(true);

    port = await freePort();
    broker = startCli(['broker', '--workers', '2', '--port', String(port), '--devices-file', fixture.devicesFile, '--persistence', 'redis', '--redis-url', `redis://127.0.0.1:${redisPort}`]);
    expect(await waitFor(() => count(/broker listening/g) >= 2, 30_000), broker.output()).toBe(true);

    // It reconnects (to a surviving worker) if its own worker is the one killed below.
    viewer = await connectClient(`mqtt://127.0.0.1:${port}`, { ...login('viewer-w', 'sys'), reconnectPeriod: 200 });
    clients.push(viewer);
    viewer.on('message', (topic, payload) => landedOn.set(payload.toString(), topic.split('/')[1]!));
    await viewer.subscribeAsync('$SYS/+/new/clients', { qos: 0 });
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.end(true);
    if (broker && broker.child.exitCode === null) {
      broker.child.kill('SIGTERM');
      const exited = await Promise.race([broker.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 10_000))]);
      if (!exited) broker.child.kill('SIGKILL');
    }
    await redis?.stop(2000);
    fixture?.dispose();
  });

  it('spreads clients of one port over the workers, which deliver to each other', async () => {
    const ingest = await connectTracked('ingest-w', 'a');
    await ingest.client.subscribeAsync(topics.fleetFilter('telemetry'), { qos: 1 });
    const cars = await Promise.all(CARS.map(async (name) => ({ name, ...(await connectTracked(name, 'a')) })));

    expect(new Set([ingest.brokerId, ...cars.map((c) => c.brokerId)]).size).toBe(2);
    expect(cars.some((c) => c.brokerId !== ingest.brokerId)).toBe(true);
    const got = await exchange(ingest.client, cars);
    for (const car of CARS) expect(got.get(car)!.size, car).toBe(PER_CAR);
  });

  it('replaces a killed worker, and the replacement serves clients', async () => {
    const [victim] = workerPids();
    expect(victim).toBeGreaterThan(0);
    process.kill(victim!, 'SIGKILL'); // a worker of the pool this test started
    expect(await waitFor(() => workerPids().length === 3 && count(/broker listening/g) >= 3, 30_000), broker.output()).toBe(true);
    const replacement = workerPids()[2]!;
    expect(await waitFor(() => viewer.connected, 10_000)).toBe(true);
    await viewer.subscribeAsync('$SYS/+/new/clients', { qos: 0 });

    // Round-robin: among a few new connections, some land on the replacement.
    const ingest = await connectTracked('ingest-w', 'b');
    await ingest.client.subscribeAsync(topics.fleetFilter('telemetry'), { qos: 1 });
    const cars = await Promise.all(CARS.map(async (name) => ({ name, ...(await connectTracked(name, 'b')) })));
    const used = [ingest.brokerId, ...cars.map((c) => c.brokerId)];
    expect(used.some((id) => id.endsWith(`-${replacement}`))).toBe(true);
    expect(used.some((id) => id.endsWith(`-${victim}`))).toBe(false);

    const got = await exchange(ingest.client, cars);
    for (const car of CARS) expect(got.get(car)!.size, car).toBe(PER_CAR);
  });
});
