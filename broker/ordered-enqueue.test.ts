import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { startBroker } from './broker-server.ts';
import { orderOutgoingEnqueue, orderOutgoingUpdate, type EnqueueingPersistence, type UpdatingPersistence } from './ordered-enqueue.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('orderOutgoingEnqueue', () => {
  it("reports each client's writes done in call order, without holding up other clients or serialising the writes", async () => {
    const finished: string[] = [];
    const started: string[] = [];
    // A store whose writes take longer for earlier messages: unordered, it would finish a3, a2, a1.
    const delays: Record<string, number> = { a1: 40, a2: 20, a3: 5, b1: 1 };
    const store: EnqueueingPersistence = {
      outgoingEnqueue: async (_sub, packet) => {
        started.push(packet as string);
        await sleep(delays[packet as string]!);
      },
    };
    const order = orderOutgoingEnqueue(store);
    const ids = ['a1', 'a2', 'a3', 'b1'];
    const all = ids.map((id) => store.outgoingEnqueue({ clientId: id[0]! }, id).then(() => void finished.push(id)));
    expect(started).toEqual(ids); // every write started at once
    expect(order.pendingClients()).toBe(2);
    await Promise.all(all);
    expect(finished).toEqual(['b1', 'a1', 'a2', 'a3']);
    await sleep(0);
    expect(order.pendingClients()).toBe(0); // chains are dropped once drained
  });

  it("a failed write does not stop the client's later writes, and its caller still sees the error", async () => {
    const store: EnqueueingPersistence = {
      outgoingEnqueue: async (_sub, packet) => {
        if (packet === 'bad') throw new Error('disk full');
        return packet;
      },
    };
    orderOutgoingEnqueue(store);
    const bad = store.outgoingEnqueue({ clientId: 'c' }, 'bad');
    const good = store.outgoingEnqueue({ clientId: 'c' }, 'good');
    await expect(bad).rejects.toThrow('disk full');
    await expect(good).resolves.toBe('good');
  });
});

describe('orderOutgoingUpdate', () => {
  it("reports each client's updates done in call order, the updates themselves running at once", async () => {
    const started: string[] = [];
    const finished: string[] = [];
    const delays: Record<string, number> = { a1: 30, a2: 1, b1: 1 };
    const store: UpdatingPersistence = {
      outgoingUpdate: async (_client, packet) => {
        started.push(packet as string);
        await sleep(delays[packet as string]!);
      },
    };
    orderOutgoingUpdate(store);
    const ids = ['a1', 'a2', 'b1'];
    await Promise.all(ids.map((id) => store.outgoingUpdate({ id: id[0]! }, id).then(() => void finished.push(id))));
    expect(started).toEqual(ids);
    expect(finished).toEqual(['b1', 'a1', 'a2']);
  });
});

describe('a LevelDB broker and a persistent QoS 1 subscriber', () => {
  it('delivers every acknowledged message of back-to-back bursts (none dropped as a false duplicate)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-ordered-'));
    const broker = await startBroker({ host: '127.0.0.1', port: 0, sysIntervalMs: 0, persistence: { kind: 'level', dir } });
    const subscriber = await mqtt.connectAsync(broker.url, { clientId: 'ordered-sub', clean: false });
    const publisher = await mqtt.connectAsync(broker.url, { clientId: 'ordered-pub' });
    try {
      const received = new Set<number>();
      subscriber.on('message', (_topic, payload) => received.add(Number(payload.toString())));
      await subscriber.subscribeAsync('ordered/#', { qos: 1 });
      const acked: number[] = [];
      const bursts: Array<Promise<void>> = [];
      for (let burst = 0; burst < 200; burst++) {
        for (let k = 0; k < 4; k++) {
          const id = burst * 4 + k;
          bursts.push(publisher.publishAsync('ordered/x', String(id), { qos: 1 }).then(() => void acked.push(id)));
        }
        await sleep(5);
      }
      await Promise.all(bursts);
      for (let i = 0; i < 200 && received.size < acked.length; i++) await sleep(25);
      expect(acked.length).toBe(800);
      expect(acked.filter((id) => !received.has(id))).toEqual([]);
    } finally {
      await publisher.endAsync(true);
      await subscriber.endAsync(true);
      await broker.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
