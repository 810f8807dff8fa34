/**
 * The embedded default (LevelDB persistence) keeps a persistent subscriber's queued QoS 1
 * messages across a broker restart: none is lost, each arrives once.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import type { RunningBroker } from '../../broker/broker-server.ts';
import { shardOf, topics } from '../../contracts/topics.ts';
import { connectClient, deviceFixture, startAuthBroker, waitFor, type Fixture } from './broker-fixture.ts';

const MESSAGES = 200;

describe('durable sessions on disk', () => {
  let fixture: Fixture;
  let broker: RunningBroker | undefined;
  const clients: MqttClient[] = [];
  const start = async () => startAuthBroker(fixture, { persistence: { kind: 'level', dir: join(fixture.dir, 'sessions') } });
  const ingestOptions = () => ({ clientId: 'ingest-d', username: 'ingest-d', password: fixture.passwords.get('ingest-d')!, clean: false });

  beforeAll(async () => {
    fixture = await deviceFixture([
      { username: 'ingest-d', role: 'ingest' },
      { username: 'car-d', role: 'vehicle' },
    ]);
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await broker?.close();
    fixture?.dispose();
  });

  it('delivers every QoS 1 message queued for an offline subscriber after a restart', async () => {
    broker = await start();
    const sub = await connectClient(broker.url, ingestOptions());
    await sub.subscribeAsync(topics.shardFilter(shardOf('car-d'), 'telemetry'), { qos: 1 });
    await sub.endAsync();

    const pub = await connectClient(broker.url, { clientId: 'car-d', username: 'car-d', password: fixture.passwords.get('car-d')! });
    for (let i = 0; i < MESSAGES; i++) await pub.publishAsync(topics.telemetry('car-d'), JSON.stringify({ i }), { qos: 1 });
    await pub.endAsync();

    await broker.close();
    broker = await start();

    const seen: number[] = [];
    const again = await connectClient(broker.url, { ...ingestOptions(), reconnectPeriod: 0 });
    clients.push(again);
    again.on('message', (_topic, payload) => seen.push((JSON.parse(payload.toString()) as { i: number }).i));
    expect(await waitFor(() => seen.length >= MESSAGES, 15_000), `received ${seen.length}`).toBe(true);
    await new Promise((r) => setTimeout(r, 300)); // a duplicate would arrive right behind
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: MESSAGES }, (_, i) => i));
  });
});
