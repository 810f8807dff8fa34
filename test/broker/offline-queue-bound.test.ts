/**
 * The queue kept on disk (LevelDB) for an offline persistent subscriber is bounded: at the bound new
 * messages are dropped for that client and counted, what was queued survives a restart intact, and
 * the bound still holds after the restart (it is counted from disk).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import type { RunningBroker } from '../../broker/broker-server.ts';
import { topics } from '../../contracts/topics.ts';
import { connectClient, deviceFixture, startAuthBroker, waitFor, type Fixture } from './broker-fixture.ts';

const BOUND = 40;

describe('offline queue bound', () => {
  let fixture: Fixture;
  let broker: RunningBroker | undefined;
  const clients: MqttClient[] = [];
  const start = async () => startAuthBroker(fixture, { persistence: { kind: 'level', dir: join(fixture.dir, 'sessions') }, limits: { maxOfflineMessages: BOUND } });
  const ingest = () => ({ clientId: 'ingest-q', username: 'ingest-q', password: fixture.passwords.get('ingest-q')!, clean: false });
  const publish = async (from: number, to: number) => {
    const pub = await connectClient(broker!.url, { clientId: 'car-q', username: 'car-q', password: fixture.passwords.get('car-q')! });
    for (let i = from; i < to; i++) await pub.publishAsync(topics.telemetry('car-q'), String(i), { qos: 1 });
    await pub.endAsync();
  };
  const receive = async (expected: number) => {
    const seen: number[] = [];
    const sub = await connectClient(broker!.url, ingest());
    clients.push(sub);
    sub.on('message', (_t, payload) => seen.push(Number(payload.toString())));
    expect(await waitFor(() => seen.length >= expected, 15_000), `received ${seen.length}`).toBe(true);
    await new Promise((r) => setTimeout(r, 300)); // anything beyond the bound would arrive right behind
    await sub.endAsync();
    return seen.sort((a, b) => a - b);
  };

  beforeAll(async () => {
    fixture = await deviceFixture([
      { username: 'ingest-q', role: 'ingest' },
      { username: 'car-q', role: 'vehicle' },
    ]);
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await broker?.close();
    fixture?.dispose();
  });

  it('keeps the oldest BOUND messages per offline client, drops and counts the rest, across a restart', async () => {
    broker = await start();
    const sub = await connectClient(broker.url, ingest());
    await sub.subscribeAsync(topics.fleetFilter('telemetry'), { qos: 1 });
    await sub.endAsync();

    await publish(0, BOUND + 25); // every publish is still acknowledged
    // Aedes sends the PUBACK before the message reaches the session store: wait for the count.
    const dropped = (n: number) => waitFor(() => broker!.stats().offlineDropped >= n, 10_000);
    expect(await dropped(25)).toBe(true);
    expect(broker.stats().offlineDropped).toBe(25);
    expect(await broker.metricsText()).toMatch(/^fleetpulse_broker_offline_messages_dropped_total 25$/m);

    // After a restart the queue on disk is counted again: it is still full.
    await broker.close();
    broker = await start();
    await publish(1000, 1010);
    expect(await dropped(10)).toBe(true);
    expect(broker.stats().offlineDropped).toBe(10);

    expect(await receive(BOUND)).toEqual(Array.from({ length: BOUND }, (_, i) => i));

    // Drained: the next offline period queues again.
    await publish(2000, 2005);
    expect(await receive(5)).toEqual([2000, 2001, 2002, 2003, 2004]);
    expect(broker.stats().offlineDropped).toBe(10);
  });
});
