/**
 * A persistent subscriber that resumes its session gets what was queued for it while it was away
 * first, then what arrives during the resume — in publish order, each message once.
 *
 * Aedes registers the resumed subscriptions before it streams the queued messages, and sends a
 * message that arrives meanwhile at once: it overtook the queued ones still being read from the
 * store (seen: health events 0 1 3 4 2 5 after a broker restart, and ingest, which keeps a
 * vehicle's newest diagnosis, took the late one for an old copy).
 */
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { SESSION_STORES, storeBrokers } from '../test/broker/broker-fixture.ts';
import type { RunningBroker } from './broker-server.ts';

const brokers = storeBrokers();
afterEach(() => brokers.cleanup());

const publish = (b: RunningBroker, n: number, qos: 0 | 1 = 1): Promise<void> =>
  new Promise((resolve) => b.aedes.publish({ cmd: 'publish', topic: `fleet/1/car/health`, payload: Buffer.from(String(n)), qos, retain: false, dup: false }, () => resolve()));

describe.each(SESSION_STORES)('a persistent session resumed while messages arrive (%s sessions)', (store) => {
  it('gets the queued messages, then the ones that arrived during the resume, in order and once', async () => {
    const b = await brokers.start(store);
    const first = await mqtt.connectAsync(b.url, { clientId: 'resumer', clean: false, reconnectPeriod: 0 });
    await first.subscribeAsync('fleet/+/+/health', { qos: 1 });
    await first.endAsync();

    const QUEUED = 200;
    for (let n = 0; n < QUEUED; n++) await publish(b, n);
    // The moment the broker has sent its CONNACK, before it streams the queue, more arrive.
    let live = QUEUED;
    b.aedes.on('connackSent', (_packet, client) => {
      if (client.id !== 'resumer') return;
      for (let i = 0; i < 20; i++) void publish(b, live++);
    });
    const got: number[] = [];
    const again = brokers.track(mqtt.connect(b.url, { clientId: 'resumer', clean: false, reconnectPeriod: 0 }));
    again.on('message', (_topic, payload) => got.push(Number(payload.toString())));
    for (let i = 0; i < 200 && got.length < QUEUED + 20; i++) await new Promise((r) => setTimeout(r, 25));
    // Messages published after the resume are delivered normally, after everything else.
    for (let i = 0; i < 5; i++) await publish(b, live++);
    for (let i = 0; i < 100 && got.length < live; i++) await new Promise((r) => setTimeout(r, 25));
    await new Promise((r) => setTimeout(r, 200)); // room for a duplicate
    expect(got).toEqual(Array.from({ length: live }, (_, i) => i));
  });
});
