/**
 * A message the broker emits after one that was numbered later must still reach every subscriber.
 *
 * Aedes numbers each message when it arrives (its broker counter) and, before sending one to a
 * client, drops it as a duplicate unless its number is above the last one sent to that client. A
 * retained QoS 1 message is stored before it is emitted, so a plain message numbered after it but
 * published a moment later overtakes it: the retained one was dropped for every subscriber that had
 * just received the other — and for a persistent subscriber the broker then removed the wrong
 * message from its session queue and disconnected the client ("no such packet"), losing a message
 * its publisher had already had acknowledged. Seen when agents published their retained health
 * snapshot next to telemetry (500 samples of 3,309 never reached ingest).
 */
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { SESSION_STORES, storeBrokers } from '../test/broker/broker-fixture.ts';
import type { RunningBroker } from './broker-server.ts';

const brokers = storeBrokers();
afterEach(() => brokers.cleanup());

async function subscriber(url: string, clientId: string, clean: boolean, filters: string[], qos: 0 | 1): Promise<{ client: mqtt.MqttClient; got: string[]; closes: () => number }> {
  const client = brokers.track(await mqtt.connectAsync(url, { clientId, clean, reconnectPeriod: 0 }));
  const got: string[] = [];
  let closes = 0;
  client.on('close', () => (closes += 1));
  client.on('message', (topic, payload) => got.push(`${topic}=${payload.toString()}`));
  for (const filter of filters) await client.subscribeAsync(filter, { qos });
  return { client, got, closes: () => closes };
}

/** Publishes a retained message and, in the same turn, plain ones numbered after it that overtake it. */
function publishOvertaken(b: RunningBroker, qos: 0 | 1, round: number): string[] {
  const sent: string[] = [];
  b.aedes.publish({ cmd: 'publish', topic: 'fleet/1/car/health', payload: Buffer.from(`h${round}`), qos, retain: true, dup: false }, () => undefined);
  sent.push(`fleet/1/car/health=h${round}`);
  for (let i = 0; i < 3; i++) {
    b.aedes.publish({ cmd: 'publish', topic: 'fleet/1/car/telemetry', payload: Buffer.from(`t${round}.${i}`), qos, retain: false, dup: false }, () => undefined);
    sent.push(`fleet/1/car/telemetry=t${round}.${i}`);
  }
  return sent;
}

const settle = async (until: () => boolean): Promise<void> => {
  for (let i = 0; i < 100 && !until(); i++) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100)); // room for a duplicate
};

describe.each(SESSION_STORES)('delivery of messages emitted out of their numbering order (%s sessions)', (store) => {
  const start = (): Promise<RunningBroker> => brokers.start(store);
  for (const [name, clean, qos] of [
    ['a persistent QoS 1 subscriber', false, 1],
    ['a clean QoS 1 subscriber', true, 1],
    ['a QoS 0 subscriber', true, 0],
  ] as const) {
    it(`${name} gets every message once and stays connected`, async () => {
      const b = await start();
      const sub = await subscriber(b.url, `sub-${qos}-${clean}`, clean, ['fleet/+/+/health', 'fleet/+/+/telemetry'], qos);
      const sent: string[] = [];
      for (let round = 0; round < 5; round++) sent.push(...publishOvertaken(b, qos, round));
      await settle(() => sub.got.length >= sent.length);
      expect(sub.closes()).toBe(0);
      expect([...sub.got].sort()).toEqual([...sent].sort());
    });
  }

  it('still sends one copy of a message that matches two of a client\'s subscriptions', async () => {
    const b = await start();
    const sub = await subscriber(b.url, 'overlap', false, ['fleet/#', 'fleet/+/+/telemetry'], 1);
    const sent = publishOvertaken(b, 1, 0);
    await settle(() => sub.got.length >= sent.length);
    expect(sub.closes()).toBe(0);
    expect([...sub.got].sort()).toEqual([...sent].sort());
  });
});
