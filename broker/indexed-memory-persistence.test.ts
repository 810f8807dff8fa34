import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { IndexedMemoryPersistence } from './indexed-memory-persistence.ts';

const require = createRequire(import.meta.url);

interface OutgoingStore {
  outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: unknown): Promise<void>;
  outgoingUpdate(client: { id: string }, packet: unknown): Promise<void>;
  outgoingClearMessageId(client: { id: string }, packet: { messageId?: number }): Promise<unknown>;
  outgoingStream(client: { id: string }): Readable;
}
const StockMemoryPersistence = require('aedes-persistence/asyncPersistence.js') as new () => OutgoingStore;

interface Sent {
  topic: string;
  brokerId: string;
  brokerCounter: number;
  messageId?: number;
}

async function streamed(store: OutgoingStore, clientId: string): Promise<Sent[]> {
  const out: Sent[] = [];
  for await (const p of store.outgoingStream({ id: clientId }) as AsyncIterable<Sent>) out.push(view(p)!);
  return out;
}

const view = (p: unknown): Sent | undefined => {
  if (!p) return undefined;
  const { topic, brokerId, brokerCounter, messageId } = p as Sent;
  return { topic, brokerId, brokerCounter, messageId };
};

/** Deterministic PRNG (mulberry32), so a failure replays. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('IndexedMemoryPersistence', () => {
  it("passes aedes-persistence's own conformance suite", () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', join(import.meta.dirname, 'indexed-memory-persistence.conformance.ts')], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stdout.slice(-3000)).toBe(0);
    expect(run.stdout).toMatch(/^# fail 0$/m);
    expect(Number(/^# pass (\d+)$/m.exec(run.stdout)?.[1])).toBeGreaterThanOrEqual(50);
  });

  it('answers every outgoing-queue operation as the stock store does (random operations, message ids that collide)', async () => {
    for (const seed of [1, 2, 3]) {
      const random = rng(seed);
      const stock = new StockMemoryPersistence();
      const indexed = new IndexedMemoryPersistence() as unknown as OutgoingStore;
      const clients = ['ingest', 'viewer', 'spare'];
      const counters: Record<string, number> = { A: 0, B: 0 };
      let compared = 0;
      for (let op = 0; op < 6000; op++) {
        const client = clients[Math.floor(random() * clients.length)]!;
        const roll = random();
        if (roll < 0.45) {
          const brokerId = random() < 0.8 ? 'A' : 'B';
          const packet = { cmd: 'publish', topic: `t/${op}`, payload: Buffer.from(String(op)), qos: 1, brokerId, brokerCounter: ++counters[brokerId]! };
          const subs = clients.filter(() => random() < 0.6).map((clientId) => ({ clientId }));
          await stock.outgoingEnqueueCombi(subs, packet);
          await indexed.outgoingEnqueueCombi(subs, packet);
        } else if (roll < 0.75) {
          // Send: give a queued message an id (small range, so ids collide), or replace one of the other broker's.
          const queued = await streamed(stock, client);
          const target = queued[Math.floor(random() * queued.length)];
          const messageId = 1 + Math.floor(random() * 16);
          const update = target && random() < 0.85 ? { ...target, messageId } : { topic: `replaced/${op}`, brokerId: random() < 0.5 ? 'A' : 'B', brokerCounter: 999_999 + op, messageId };
          const outcome = async (store: OutgoingStore) => store.outgoingUpdate({ id: client }, { ...update, cmd: 'publish', qos: 1, payload: Buffer.alloc(0) }).then(() => 'ok', (e: Error) => e.message);
          expect(await outcome(indexed), `seed ${seed} op ${op} update`).toBe(await outcome(stock));
        } else {
          const messageId = random() < 0.05 ? undefined : 1 + Math.floor(random() * 16);
          const fromStock = view(await stock.outgoingClearMessageId({ id: client }, { messageId }));
          const fromIndexed = view(await indexed.outgoingClearMessageId({ id: client }, { messageId }));
          expect(fromIndexed, `seed ${seed} op ${op} clear ${messageId}`).toEqual(fromStock);
        }
        if (op % 50 === 0) {
          for (const c of clients) expect(await streamed(indexed, c), `seed ${seed} op ${op} stream ${c}`).toEqual(await streamed(stock, c));
          compared += 1;
        }
      }
      expect(compared).toBe(120);
    }
  });

  it('keeps order and drops acknowledged messages across a long backlog acknowledged out of order', async () => {
    const store = new IndexedMemoryPersistence() as unknown as OutgoingStore;
    const client = { id: 'ingest' };
    const n = 5000;
    for (let i = 1; i <= n; i++) {
      await store.outgoingEnqueueCombi([{ clientId: 'ingest' }], { cmd: 'publish', topic: `t/${i}`, payload: Buffer.alloc(0), qos: 1, brokerId: 'A', brokerCounter: i });
      await store.outgoingUpdate(client, { topic: `t/${i}`, brokerId: 'A', brokerCounter: i, messageId: i });
    }
    const random = rng(7);
    const acked = new Set<number>();
    for (let i = 1; i <= n; i++) if (random() < 0.7) acked.add(i);
    for (const id of [...acked].sort(() => random() - 0.5)) {
      expect(view(await store.outgoingClearMessageId(client, { messageId: id }))?.topic).toBe(`t/${id}`);
    }
    const left = (await streamed(store, 'ingest')).map((p) => p.messageId);
    expect(left).toEqual(Array.from({ length: n }, (_, i) => i + 1).filter((i) => !acked.has(i)));
    expect(await store.outgoingClearMessageId(client, { messageId: [...acked][0]! })).toBeUndefined();
  });
});
