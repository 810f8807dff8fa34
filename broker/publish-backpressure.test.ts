import { connect } from 'node:net';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { startBroker } from './broker-server.ts';
import { PublishBackpressure, type BackpressureClient } from './publish-backpressure.ts';
import { connectPacket, publishPacket } from '../test/broker/mqtt-bytes.ts';

describe('PublishBackpressure', () => {
  it('parks batch requests while the bus is above the high mark and resumes them in order at the low mark', async () => {
    const bus = { length: 0 };
    const engaged: number[] = [];
    const bound = new PublishBackpressure(bus, { highWatermark: 10, lowWatermark: 4, onEngaged: (n) => engaged.push(n) });
    const calls: string[] = [];
    const clients: BackpressureClient[] = ['a', 'b', 'c'].map((name) => ({ _nextBatch: () => calls.push(name) }));
    for (const client of clients) bound.attach(client);

    bus.length = 10; // at the mark, not above: reads go on
    clients[0]!._nextBatch();
    expect(calls).toEqual(['a']);

    bus.length = 11;
    clients[1]!._nextBatch();
    clients[2]!._nextBatch(null); // Aedes' own callbacks pass null for "no error"
    clients[0]!._nextBatch();
    expect(calls).toEqual(['a']);
    expect(bound.waiting).toBe(3);
    expect(bound.parkedBatches).toBe(3);
    expect(engaged).toEqual([11]); // one engagement, however many clients it holds back

    bus.length = 5;
    bound.onBusShift(); // above the low mark: still parked
    expect(bound.waiting).toBe(3);
    bus.length = 4;
    bound.onBusShift();
    expect(bound.waiting).toBe(0);
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual(['a', 'b', 'c', 'a']);
    expect(bound.engagements).toBe(1);
  });

  it('lets errors through even when the bus is full (Aedes closes the client on them)', () => {
    const bus = { length: 100 };
    const bound = new PublishBackpressure(bus, { highWatermark: 1 });
    const seen: unknown[] = [];
    const client: BackpressureClient = { _nextBatch: (error) => seen.push(error) };
    bound.attach(client);
    const error = new Error('bad packet');
    client._nextBatch(error);
    expect(seen).toEqual([error]);
    expect(bound.waiting).toBe(0);
  });

  it('refuses a high mark below 1', () => {
    expect(() => new PublishBackpressure({ length: 0 }, { highWatermark: 0 })).toThrow(/highWatermark/);
  });
});

describe('a broker with a tiny bus bound', () => {
  it('holds a flooding QoS 1 publisher back and still delivers every message to a QoS 1 subscriber, in order', async () => {
    const broker = await startBroker({ host: '127.0.0.1', port: 0, sysIntervalMs: 0, limits: { maxBusBacklog: 20 } });
    const subscriber = await mqtt.connectAsync(broker.url, { clientId: 'bp-sub', clean: true });
    const N = 3000;
    const received: number[] = [];
    const all = new Promise<void>((resolve) => {
      subscriber.on('message', (_topic, payload) => {
        received.push(payload.readUInt32BE(0));
        if (received.length === N) resolve();
      });
    });
    const socket = connect(broker.port, '127.0.0.1');
    const socketOpen = new Promise((r) => socket.once('connect', r));
    try {
      await subscriber.subscribeAsync('flood/t', { qos: 1 });
      await socketOpen;
      socket.on('error', () => {});
      const connack = new Promise((r) => socket.once('data', r));
      socket.write(connectPacket('bp-pub'));
      await connack;
      // Every publish in one write: Aedes parses the whole buffer at once, the case the bound is for.
      const packets: Buffer[] = [];
      for (let n = 0; n < N; n++) {
        const payload = Buffer.alloc(4);
        payload.writeUInt32BE(n);
        packets.push(publishPacket('flood/t', payload, 1, (n % 65535) + 1));
      }
      socket.write(Buffer.concat(packets));
      await all;
      expect(received).toEqual(Array.from({ length: N }, (_, i) => i));
      expect(broker.stats().busParkedBatches).toBeGreaterThan(0);
      expect(broker.stats().busQueueLength).toBe(0);
    } finally {
      socket.destroy();
      await subscriber.endAsync();
      await broker.close();
    }
  }, 30_000);
});
