import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { boundOfflineQueues, type QueueingPersistence } from './offline-queue-bound.ts';

const require = createRequire(import.meta.url);
// Aedes' own in-memory persistence, the real store behind `--persistence memory`.
const MemoryPersistence = require('aedes-persistence/asyncPersistence.js') as new () => QueueingPersistence;

let counter = 0;
const packet = () => ({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 1, retain: false, brokerId: 'b', brokerCounter: ++counter });
const stored = async (p: QueueingPersistence, id: string) => {
  let n = 0;
  for await (const _ of p.outgoingStream({ id })) n++;
  return n;
};

describe('boundOfflineQueues', () => {
  it('queues up to the bound per offline client, drops and reports the rest, and leaves connected clients alone', async () => {
    const store = new MemoryPersistence();
    const drops: Array<[string, boolean]> = [];
    const online = new Set(['on']);
    boundOfflineQueues(store, { maxMessages: 3, isConnected: (id) => online.has(id), onDrop: (id, first) => drops.push([id, first]) });
    for (let i = 0; i < 5; i++) await store.outgoingEnqueueCombi([{ clientId: 'a' }, { clientId: 'b' }, { clientId: 'on' }], packet());
    expect(await stored(store, 'a')).toBe(3);
    expect(await stored(store, 'b')).toBe(3);
    expect(await stored(store, 'on')).toBe(5);
    expect(drops).toEqual([['a', true], ['b', true], ['a', false], ['b', false]]);
  });

  it('counts what the store already holds when it starts tracking a client (restart, forget, eviction)', async () => {
    const store = new MemoryPersistence();
    await store.outgoingEnqueueCombi([{ clientId: 'a' }], packet());
    await store.outgoingEnqueueCombi([{ clientId: 'a' }], packet());
    let dropped = 0;
    const bound = boundOfflineQueues(store, { maxMessages: 3, isConnected: () => false, onDrop: () => dropped++, maxTrackedClients: 1 });
    for (let i = 0; i < 3; i++) await store.outgoingEnqueueCombi([{ clientId: 'a' }], packet());
    expect([await stored(store, 'a'), dropped]).toEqual([3, 2]);

    await store.outgoingEnqueueCombi([{ clientId: 'z' }], packet()); // evicts a's count (1 tracked)
    expect(bound.trackedClients).toBe(1);
    await store.outgoingEnqueueCombi([{ clientId: 'a' }], packet()); // recounted from the store: still full
    expect([await stored(store, 'a'), dropped]).toEqual([3, 3]);

    bound.forget('a');
    expect(bound.trackedClients).toBe(0);
  });

  it('does not hold messages that were in flight against a client that just went offline', async () => {
    const store = new MemoryPersistence();
    const online = new Set(['ingest']);
    let dropped = 0;
    const bound = boundOfflineQueues(store, { maxMessages: 3, isConnected: (id) => online.has(id), onDrop: () => dropped++ });
    // Connected and lagging: 5 messages sent but not yet acknowledged.
    for (let i = 0; i < 5; i++) await store.outgoingEnqueueCombi([{ clientId: 'ingest' }], packet());
    online.delete('ingest');
    bound.wentOffline('ingest');
    for (let i = 0; i < 4; i++) await store.outgoingEnqueueCombi([{ clientId: 'ingest' }], packet());
    expect([await stored(store, 'ingest'), dropped]).toEqual([8, 1]);

    // Without the disconnect seen (a restart), the stored ones count: already over the bound.
    bound.forget('ingest');
    await store.outgoingEnqueueCombi([{ clientId: 'ingest' }], packet());
    expect([await stored(store, 'ingest'), dropped]).toEqual([8, 2]);
  });
});
