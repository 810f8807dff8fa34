/**
 * Cluster mode: two brokers share state through a real redis-server (ephemeral port). Broker A runs
 * as its own `fleetpulse broker` process so that it can be killed for real (SIGKILL); broker B runs
 * in this process.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { findExecutable, spawnManaged, type ManagedProcess } from '../../common/child-process.ts';
import { freePort } from '../../common/net.ts';
import type { RunningBroker } from '../../broker/broker-server.ts';
import { topics } from '../../contracts/topics.ts';
import { startCli } from '../support/cli.ts';
import { logged } from '../support/log-records.ts';
import { connectClient, deviceFixture, startAuthBroker, waitFor, type Fixture } from './broker-fixture.ts';

const BEFORE_KILL = 100;
const TOTAL = 300;

describe('cluster mode through Redis', () => {
  let fixture: Fixture;
  let redis: ManagedProcess;
  let redisUrl: string;
  let brokerA: ReturnType<typeof startCli>;
  let portA: number;
  let brokerB: RunningBroker;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    fixture = await deviceFixture([
      { username: 'car-c', role: 'vehicle' },
      { username: 'ingest-c', role: 'ingest' },
    ]);
    const redisPort = await freePort();
    const bin = findExecutable('redis-server');
    if (!bin) throw new Error('redis-server is not installed (Debian package redis-server)');
    redis = spawnManaged(bin, ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', fixture.dir], { logFile: join(fixture.dir, 'redis.log') });
    redisUrl = `redis://127.0.0.1:${redisPort}`;
    const { isPortOpen } = await import('../../common/net.ts');
    expect(await waitFor(() => isPortOpen(redisPort), 10_000)).toBe(true);

    brokerA = startCli(['broker', '--port', '0', '--devices-file', fixture.devicesFile, '--persistence', 'redis', '--cluster', '--redis-url', redisUrl, '--broker-id', 'broker-a']);
    expect(await waitFor(() => logged(brokerA.output(), 'broker listening').length > 0, 20_000), brokerA.output()).toBe(true);
    portA = Number(new URL(String(logged(brokerA.output(), 'broker listening')[0]!.url)).port);
    brokerB = await startAuthBroker(fixture, { brokerId: 'broker-b', persistence: { kind: 'redis', url: redisUrl }, clusterRedisUrl: redisUrl });
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    if (brokerA && brokerA.child.exitCode === null) brokerA.child.kill('SIGKILL');
    await brokerB?.close();
    await redis?.stop(2000);
    fixture?.dispose();
  });

  it('delivers across brokers, and loses nothing acknowledged when the publisher\'s broker is killed', async () => {
    const received = new Set<number>();
    const sub = await connectClient(brokerB.url, { clientId: 'ingest-c', username: 'ingest-c', password: fixture.passwords.get('ingest-c')!, clean: false });
    clients.push(sub);
    sub.on('message', (_t, payload) => received.add(Number(payload.toString())));
    await sub.subscribeAsync(topics.fleetFilter('telemetry'), { qos: 1 });

    // The publisher knows both brokers and fails over to the next one when its broker goes away.
    const pub = mqtt.connect({
      servers: [{ host: '127.0.0.1', port: portA }, { host: '127.0.0.1', port: brokerB.port }],
      clientId: 'car-c', username: 'car-c', password: fixture.passwords.get('car-c')!,
      clean: false, reconnectPeriod: 200, connectTimeout: 3000,
    });
    clients.push(pub);
    await new Promise((r) => pub.once('connect', r));
    const acked: number[] = [];
    for (let i = 0; i < TOTAL; i++) {
      if (i === BEFORE_KILL) {
        // Everything so far went through A and across Redis to the subscriber on B.
        expect(await waitFor(() => received.size === BEFORE_KILL, 10_000), `received ${received.size}`).toBe(true);
        brokerA.child.kill('SIGKILL');
      }
      await pub.publishAsync(topics.telemetry('car-c'), String(i), { qos: 1 });
      acked.push(i);
    }
    expect(acked.length).toBe(TOTAL);
    expect(await waitFor(() => acked.every((i) => received.has(i)), 15_000), `missing ${acked.filter((i) => !received.has(i)).slice(0, 10)}`).toBe(true);
    expect(await brokerA.exited).toBeNull(); // killed by the signal, not exited
    // The publisher really failed over: B accepted the rest of the messages itself.
    expect(brokerB.stats().messagesPublished).toBeGreaterThanOrEqual(TOTAL - BEFORE_KILL);
  });
});
