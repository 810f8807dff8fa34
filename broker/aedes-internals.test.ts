/**
 * The Aedes internals the broker's patches rely on, checked against the installed, unpatched
 * packages (aedes, mqemitter, aedes-persistence, aedes-persistence-level, aedes-persistence-redis).
 * Each block names the patch; when one fails after an upgrade, that patch no longer does what its
 * module header says: read it before anything else (docs/broker.md, "Upgrading Aedes").
 *
 * Clients are wired to a real Aedes through an in-process duplex stream (Aedes' own test style),
 * so what the broker wrote is seen byte by byte, with no socket in between.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex, Readable } from 'node:stream';
import { Aedes } from 'aedes';
import { afterEach, describe, expect, it } from 'vitest';
import { DISCONNECT, PINGREQ, connectPacket, publishPacket, subscribePacket } from '../test/broker/mqtt-bytes.ts';
import { useConstantTimeQueue, type QueueingEmitter } from './emitter-queue.ts';

const require = createRequire(import.meta.url);

const PUBLISH = 3;
const PUBACK = 4;
const SUBACK = 9;
const PINGRESP = 13;

interface Packet {
  type: number;
  body: Buffer;
}

/** One client connection: bytes in through `send`, the broker's packets as they were written. */
class Wire {
  readonly packets: Packet[] = [];
  private pending = Buffer.alloc(0);
  private readonly waiters: Array<() => void> = [];
  readonly conn = new Duplex({
    read() {},
    write: (chunk: Buffer, _encoding, callback) => {
      this.take(chunk);
      callback();
    },
  });

  send(...packets: Buffer[]): void {
    for (const p of packets) this.conn.push(p);
  }

  has(type: number): boolean {
    return this.packets.some((p) => p.type === type);
  }

  /** Resolves once the broker has written a packet of `type` (the test's timeout bounds the wait). */
  async until(type: number): Promise<Packet> {
    for (;;) {
      const found = this.packets.find((p) => p.type === type);
      if (found) return found;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private take(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    for (;;) {
      let length = 0;
      let multiplier = 1;
      let at = 1;
      for (; at < this.pending.length; at++) {
        length += (this.pending[at]! & 0x7f) * multiplier;
        multiplier *= 128;
        if (this.pending[at]! < 0x80) break;
      }
      if (at >= this.pending.length || this.pending.length < at + 1 + length) break;
      this.packets.push({ type: this.pending[0]! >> 4, body: this.pending.subarray(at + 1, at + 1 + length) });
      this.pending = this.pending.subarray(at + 1 + length);
    }
    for (const wake of this.waiters.splice(0)) wake();
  }
}

/** CONNECT without clean session: the broker keeps the session and queues QoS 1 messages for it. */
function persistentConnect(clientId: string): Buffer {
  const packet = connectPacket(clientId);
  packet[9] = 0x00; // connect flags: no clean session
  return packet;
}

const retained = (p: Buffer): Buffer => {
  p[0] = p[0]! | 0x01;
  return p;
};

const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** What the tests reach into: Aedes' instance fields and handlers, untyped in aedes.d.ts. */
interface AedesInternals {
  clients: Record<string, unknown>;
  authorizePublish: (client: unknown, packet: { topic: string; payload: unknown }, done: (error?: Error | null) => void) => void;
  publish: (packet: { topic: string; payload: unknown }, client: unknown, done: (error?: Error | null) => void) => void;
  persistence: Record<string, (...args: never[]) => unknown>;
  mq: QueueingEmitter & {
    _do: (message: unknown, callback: unknown) => unknown;
    emit: (packet: { topic: string; payload: unknown }, done?: unknown) => unknown;
    on: (topic: string, listener: (message: unknown, done: () => void) => void, done?: () => void) => void;
    concurrency: number;
    readonly length: number;
  };
  handle: (conn: Duplex) => { _nextBatch: (error?: Error | null) => void };
}

const brokers: Aedes[] = [];
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => new Promise<void>((resolve) => b.close(() => resolve()))));
});

async function unpatchedBroker(): Promise<AedesInternals> {
  const aedes = await Aedes.createBroker({});
  brokers.push(aedes);
  return aedes as unknown as AedesInternals;
}

async function connected(aedes: AedesInternals, clientId: string, connect = connectPacket(clientId)): Promise<{ wire: Wire; client: ReturnType<AedesInternals['handle']> }> {
  const wire = new Wire();
  const client = aedes.handle(wire.conn);
  wire.send(connect);
  await wire.until(2); // CONNACK
  return { wire, client };
}

/** A client without clean session subscribed to `fleet/#` at QoS 1. */
async function persistentSubscriber(aedes: AedesInternals, clientId: string): Promise<Wire> {
  const { wire } = await connected(aedes, clientId, persistentConnect(clientId));
  wire.send(subscribePacket('fleet/#'));
  await wire.until(SUBACK);
  return wire;
}

/** A LevelDB in a temporary directory, open for `use`, removed after. */
async function withLevel(use: (db: unknown) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-aedes-internals-'));
  try {
    const { Level } = await import('level');
    const db = new Level(dir);
    await db.open();
    try {
      await use(db);
    } finally {
      await db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('Aedes version', () => {
  it('is the exact version package.json pins (the patches were written and measured against it)', async () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies.aedes, 'pin Aedes exactly: see docs/broker.md, "Upgrading Aedes"').toMatch(/^\d+\.\d+\.\d+$/);
    const aedes = await unpatchedBroker();
    expect((aedes as unknown as { version: string }).version).toBe(pkg.dependencies.aedes);
  });
});

describe('acknowledge-after-store.ts: authorizePublish runs before the PUBACK, the message reaches mq.emit only after it is stored', () => {
  it('calls the instance hook, then writes the PUBACK, then calls broker.publish, stores, and emits the same payload', async () => {
    const aedes = await unpatchedBroker();
    const { wire } = await connected(aedes, 'pub');
    const steps: string[] = [];
    const mine = (packet: { topic: string }): boolean => packet.topic === 'fleet/a';
    let publishedPayload: unknown;
    let emittedPayload: unknown;

    const authorize = aedes.authorizePublish;
    aedes.authorizePublish = (client, packet, done) => {
      steps.push(`authorize${wire.has(PUBACK) ? ' after PUBACK' : ''}`);
      // The PUBACK waits for the hook: complete it a few turns later and it still comes after.
      void turns(3).then(() => authorize.call(aedes, client, packet, done));
    };
    const publish = aedes.publish;
    aedes.publish = (packet, client, done) => {
      if (mine(packet)) {
        steps.push(`publish${wire.has(PUBACK) ? ' after PUBACK' : ''}`);
        publishedPayload = packet.payload;
      }
      publish.call(aedes, packet, client, done);
    };
    for (const method of ['storeRetained', 'outgoingEnqueueCombi'] as const) {
      const original = aedes.persistence[method]!;
      aedes.persistence[method] = ((...args: never[]) => {
        steps.push(method);
        return original.apply(aedes.persistence, args);
      }) as never;
    }
    const emit = aedes.mq.emit;
    aedes.mq.emit = (packet, done) => {
      if (mine(packet)) {
        steps.push('emit');
        emittedPayload = packet.payload;
      }
      return emit.call(aedes.mq, packet, done);
    };

    wire.send(retained(publishPacket('fleet/a', Buffer.from('x'), 1, 7)));
    await wire.until(PUBACK);
    await turns(3);
    expect(steps).toEqual(['authorize', 'publish after PUBACK', 'storeRetained', 'outgoingEnqueueCombi', 'emit']);
    // The patch finds its publish at the bus by the payload object.
    expect(emittedPayload).toBeInstanceOf(Buffer);
    expect(emittedPayload).toBe(publishedPayload);
  });
});

describe('stack-guard.ts and publish-backpressure.ts: client._nextBatch', () => {
  it('is an own function of the client that Aedes reads again for every packet', async () => {
    const aedes = await unpatchedBroker();
    const wire = new Wire();
    const client = aedes.handle(wire.conn);
    expect(Object.hasOwn(client, '_nextBatch')).toBe(true);
    expect(typeof client._nextBatch).toBe('function');
    const next = client._nextBatch;
    let calls = 0;
    client._nextBatch = (error) => {
      calls += 1;
      next.call(client, error);
    };
    wire.send(connectPacket('loop'));
    await wire.until(2);
    await turns(2);
    const afterConnect = calls;
    wire.send(PINGREQ);
    await wire.until(PINGRESP);
    await turns(2);
    expect(calls).toBe(afterConnect + 1); // the PINGREQ finished through the replacement
  });
});

describe('stack-guard.ts: mq._do', () => {
  it('is how mqemitter runs each message, read from the instance', async () => {
    const aedes = await unpatchedBroker();
    const run = aedes.mq._do;
    expect(typeof run).toBe('function');
    const seen: unknown[] = [];
    aedes.mq._do = (message, callback) => {
      seen.push(message);
      return run.call(aedes.mq, message, callback);
    };
    await new Promise<void>((resolve) => aedes.mq.emit({ topic: 'x/y', payload: Buffer.alloc(0) }, resolve));
    expect(seen).toHaveLength(1);
  });
});

describe('emitter-queue.ts: mq._messageQueue and mq._messageCallbacks', () => {
  it('are the arrays mqemitter parks messages in beyond its concurrency, read from the instance', async () => {
    const aedes = await unpatchedBroker();
    expect(Array.isArray(aedes.mq._messageQueue)).toBe(true);
    expect(Array.isArray(aedes.mq._messageCallbacks)).toBe(true);
    expect(aedes.mq.concurrency).toBeGreaterThan(0);
    const queue = useConstantTimeQueue(aedes.mq);
    const held: Array<() => void> = [];
    await new Promise<void>((resolve) => aedes.mq.on('q/#', (_message, done) => void held.push(done), resolve));
    const extra = 5;
    let completed = 0;
    for (let i = 0; i < aedes.mq.concurrency + extra; i++) aedes.mq.emit({ topic: 'q/1', payload: Buffer.alloc(0) }, () => void (completed += 1));
    expect(queue.length).toBe(extra); // parked in the replacement queue
    expect(aedes.mq.length).toBe(extra);
    while (completed < aedes.mq.concurrency + extra) {
      for (const done of held.splice(0)) done();
      await turns(1);
    }
    expect(queue.length).toBe(0);
  });
});

describe('ordered-enqueue.ts: stores finishing out of order lose messages, through outgoingEnqueue', () => {
  it('stores a QoS 1 message for every persistent subscriber, connected too, before the bus gets it', async () => {
    const aedes = await unpatchedBroker();
    const sub = await persistentSubscriber(aedes, 'sub');
    const stored: Array<readonly { clientId: string }[]> = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const combi = aedes.persistence.outgoingEnqueueCombi!;
    aedes.persistence.outgoingEnqueueCombi = ((subs: never, packet: never) => {
      stored.push(subs);
      return released.then(() => combi.call(aedes.persistence, subs, packet));
    }) as never;
    let emitted = false;
    const emit = aedes.mq.emit;
    aedes.mq.emit = (packet, done) => {
      if (packet.topic === 'fleet/b') emitted = true;
      return emit.call(aedes.mq, packet, done);
    };

    const { wire: pub } = await connected(aedes, 'pub');
    pub.send(publishPacket('fleet/b', Buffer.from('y'), 1, 3));
    while (stored.length === 0) await turns(1);
    expect(stored[0]!.map((s) => s.clientId)).toEqual(['sub']);
    await turns(5);
    expect(emitted).toBe(false); // the bus waits for the store
    expect(sub.has(PUBLISH)).toBe(false);
    release();
    await sub.until(PUBLISH);
  });

  it('drops a message that reaches a persistent subscriber after a later one (the loss the patch prevents)', async () => {
    const aedes = await unpatchedBroker();
    const sub = await persistentSubscriber(aedes, 'sub');
    let releaseFirst!: () => void;
    const firstReleased = new Promise<void>((resolve) => (releaseFirst = resolve));
    const combi = aedes.persistence.outgoingEnqueueCombi!;
    let firstStoring!: () => void;
    const firstStored = new Promise<void>((resolve) => (firstStoring = resolve));
    aedes.persistence.outgoingEnqueueCombi = ((subs: never, packet: never) => {
      const slow = (packet as { payload: Buffer }).payload.toString() === 'first';
      if (slow) firstStoring();
      return (slow ? firstReleased : Promise.resolve()).then(() => combi.call(aedes.persistence, subs, packet));
    }) as never;
    let firstDone!: () => void;
    const firstRouted = new Promise<void>((resolve) => (firstDone = resolve));
    const emit = aedes.mq.emit;
    aedes.mq.emit = (packet, done) => {
      if (!Buffer.isBuffer(packet.payload) || packet.payload.toString() !== 'first') return emit.call(aedes.mq, packet, done);
      return emit.call(aedes.mq, packet, (...args: unknown[]) => {
        (done as ((...a: unknown[]) => void) | undefined)?.(...args);
        firstDone();
      });
    };

    const { wire: one } = await connected(aedes, 'one');
    const { wire: two } = await connected(aedes, 'two');
    one.send(publishPacket('fleet/1', Buffer.from('first'), 1, 1));
    await firstStored;
    two.send(publishPacket('fleet/2', Buffer.from('second'), 1, 1));
    await sub.until(PUBLISH);
    releaseFirst();
    await firstRouted;
    await turns(2);
    const delivered = sub.packets.filter((p) => p.type === PUBLISH).map((p) => p.body.toString('latin1'));
    expect(delivered).toHaveLength(1); // 'first' had the lower broker counter: dropped as a duplicate
    expect(delivered[0]).toContain('second');
  });

  it('has the LevelDB store write each subscriber through this.outgoingEnqueue, where the patch sits', async () => {
    await withLevel(async (db) => {
      const AsyncLevelPersistence = require('aedes-persistence-level/asyncPersistence.js') as new (db: unknown) => Record<string, (...args: unknown[]) => Promise<unknown>>;
      const store = new AsyncLevelPersistence(db);
      await store.setup!({ id: 'broker' });
      const enqueued: unknown[] = [];
      const enqueue = store.outgoingEnqueue!.bind(store);
      store.outgoingEnqueue = (sub, packet) => {
        enqueued.push(sub);
        return enqueue(sub, packet);
      };
      const packet = { cmd: 'publish', topic: 'fleet/l', payload: Buffer.from('v'), qos: 1, brokerId: 'b', brokerCounter: 1 };
      await store.outgoingEnqueueCombi!([{ clientId: 'a' }, { clientId: 'b' }], packet);
      expect(enqueued).toEqual([{ clientId: 'a' }, { clientId: 'b' }]);
    });
  });
});

describe('offline-queue-bound.ts: persistence.outgoingEnqueueCombi and outgoingStream', () => {
  it('queues for offline persistent subscribers through outgoingEnqueueCombi(subs, packet), readable back as an async iterable', async () => {
    const aedes = await unpatchedBroker();
    const sub = await persistentSubscriber(aedes, 'sleeper');
    sub.send(DISCONNECT);
    while (aedes.clients.sleeper !== undefined) await turns(1);

    const combis: Array<readonly { clientId: string }[]> = [];
    const combi = aedes.persistence.outgoingEnqueueCombi!;
    aedes.persistence.outgoingEnqueueCombi = ((subs: never, packet: never) => {
      combis.push(subs);
      return combi.call(aedes.persistence, subs, packet);
    }) as never;
    const { wire: pub } = await connected(aedes, 'pub');
    pub.send(publishPacket('fleet/c', Buffer.from('z'), 1, 4));
    await pub.until(PUBACK);
    while (combis.length === 0) await turns(1);
    expect(combis[0]!.map((s) => s.clientId)).toEqual(['sleeper']);

    const queued: unknown[] = [];
    const stream = aedes.persistence.outgoingStream!.call(aedes.persistence, { id: 'sleeper' } as never) as AsyncIterable<unknown>;
    for await (const packet of stream) queued.push(packet);
    expect(queued).toHaveLength(1);
  });
});

describe('broker-server.ts: aedes.clients and the retained-message stream', () => {
  it('keeps connected clients in aedes.clients by client id', async () => {
    const aedes = await unpatchedBroker();
    const { client } = await connected(aedes, 'car-9');
    expect(aedes.clients['car-9']).toBe(client);
  });

  it('pipes what persistence.createRetainedStreamCombi(patterns) returns (the Redis store returns a generator, wrapped)', async () => {
    const aedes = await unpatchedBroker();
    const patterns: unknown[] = [];
    aedes.persistence.createRetainedStreamCombi = ((p: never) => {
      patterns.push(p);
      return Readable.from([{ cmd: 'publish', topic: 'fleet/r', payload: Buffer.from('kept'), qos: 0, retain: true }]);
    }) as never;
    const { wire } = await connected(aedes, 'reader');
    wire.send(subscribePacket('fleet/#'));
    const retainedMessage = await wire.until(PUBLISH);
    expect(patterns).toEqual([['fleet/#']]);
    expect(retainedMessage.body.includes(Buffer.from('kept'))).toBe(true);
  });

  it('loads the stores by the deep paths the broker requires, with the methods it wraps', () => {
    const Level = require('aedes-persistence-level/asyncPersistence.js') as { prototype: Record<string, unknown> };
    const Redis = require('aedes-persistence-redis/asyncPersistence.js') as { prototype: Record<string, unknown> };
    for (const method of ['outgoingEnqueue', 'outgoingEnqueueCombi', 'outgoingStream']) {
      expect(typeof Level.prototype[method], `level ${method}`).toBe('function');
      expect(typeof Redis.prototype[method], `redis ${method}`).toBe('function');
    }
    expect(typeof Redis.prototype.createRetainedStreamCombi).toBe('function');
    expect(typeof Redis.prototype.createRetainedStream).toBe('function');
  });
});

describe('indexed-memory-persistence.ts: the stock memory store it extends', () => {
  it('has exactly the outgoing-queue methods the subclass replaces', () => {
    const Memory = require('aedes-persistence/asyncPersistence.js') as { prototype: object };
    const outgoing = Object.getOwnPropertyNames(Memory.prototype).filter((name) => name.startsWith('outgoing'));
    expect(outgoing.sort()).toEqual(['outgoingClearMessageId', 'outgoingEnqueue', 'outgoingEnqueueCombi', 'outgoingStream', 'outgoingUpdate']);
  });
});

describe('guarded-level-writes.ts: the LevelDB store writes only through the db it is given', () => {
  it('stores retained messages, subscriptions and queues with that db’s put, del, batch or chained batch', async () => {
    await withLevel(async (db) => {
      const writes: string[] = [];
      const target = db as unknown as Record<string, (...args: unknown[]) => unknown>;
      for (const method of ['put', 'del', 'clear', 'batch', 'sublevel']) {
        const original = target[method]!.bind(db);
        target[method] = (...args: unknown[]) => {
          writes.push(method);
          return original(...args);
        };
      }
      const AsyncLevelPersistence = require('aedes-persistence-level/asyncPersistence.js') as new (db: unknown) => Record<string, (...args: unknown[]) => Promise<unknown>>;
      const store = new AsyncLevelPersistence(db);
      await store.setup!({ id: 'broker' });
      const packet = { cmd: 'publish', topic: 'fleet/l', payload: Buffer.from('v'), qos: 1, retain: true, brokerId: 'b', brokerCounter: 1, messageId: 9 };
      const client = { id: 'c' };
      await store.storeRetained!(packet);
      await store.addSubscriptions!(client, [{ topic: 'fleet/#', qos: 1 }]);
      await store.outgoingEnqueueCombi!([{ clientId: 'c' }], packet);
      await store.outgoingUpdate!(client, packet);
      await store.outgoingClearMessageId!(client, packet);
      const kinds = new Set(writes);
      expect(writes.length).toBeGreaterThanOrEqual(5);
      expect(kinds.has('sublevel')).toBe(false); // a sublevel's writes would bypass the guard on db
      expect(kinds.has('batch')).toBe(true); // the chained batch of outgoingClearMessageId starts here too
    });
  });
});

describe('exact-duplicate-check.ts: client.deliverQoS, client.deliver0, client.duplicates', () => {
  it('are own properties of the client that a subscription reads when it is made, and the check Aedes runs first', async () => {
    const aedes = await unpatchedBroker();
    const wire = new Wire();
    const client = aedes.handle(wire.conn) as unknown as { duplicates: Record<string, number>; deliverQoS: (...a: unknown[]) => void; deliver0: (...a: unknown[]) => void };
    for (const field of ['duplicates', 'deliverQoS', 'deliver0'] as const) expect(Object.hasOwn(client, field), field).toBe(true);
    const seen: Array<[string, number | undefined]> = [];
    for (const name of ['deliverQoS', 'deliver0'] as const) {
      const deliver = client[name];
      client[name] = (packet: unknown, callback: unknown) => {
        const p = packet as { brokerId: string };
        seen.push([name, client.duplicates[p.brokerId]]);
        deliver(packet, callback);
      };
    }
    wire.send(connectPacket('exact'));
    await wire.until(2);
    wire.send(subscribePacket('fleet/#'));
    await wire.until(SUBACK);
    await new Promise<void>((resolve) => aedes.publish({ topic: 'fleet/a', payload: Buffer.from('x') }, null, () => resolve()));
    await wire.until(PUBLISH);
    // The replacement ran (read at subscribe time) and, after it, Aedes recorded the counter it sent.
    expect(seen.map(([name]) => name)).toContain('deliverQoS');
    const [brokerId, counter] = Object.entries(client.duplicates)[0]!;
    expect(typeof brokerId).toBe('string');
    expect(counter).toBeGreaterThan(0);
  });

  it('drops a message emitted after one numbered later, for any subscriber (the loss the patch prevents)', async () => {
    const aedes = await unpatchedBroker();
    const { wire } = await connected(aedes, 'clean-sub');
    wire.send(subscribePacket('fleet/#'));
    await wire.until(SUBACK);
    // The retained one is numbered first but stored before it is emitted: the plain one overtakes it.
    aedes.publish({ topic: 'fleet/1/health', payload: Buffer.from('retained'), qos: 1, retain: true } as never, null, () => undefined);
    aedes.publish({ topic: 'fleet/1/telemetry', payload: Buffer.from('plain'), qos: 1 } as never, null, () => undefined);
    await wire.until(PUBLISH);
    await turns(10);
    const delivered = wire.packets.filter((p) => p.type === PUBLISH).map((p) => p.body.toString('latin1'));
    expect(delivered).toHaveLength(1);
    expect(delivered[0]).toContain('plain');
  });
});

describe('resume-order.ts: persistence.outgoingStream(client), client "connected", client.clean / client.connected', () => {
  it('streams the queue with the client object itself, before the client is connected and says so', async () => {
    const aedes = await unpatchedBroker();
    const sub = await persistentSubscriber(aedes, 'resumer');
    sub.send(DISCONNECT);
    await turns(5);
    await new Promise<void>((resolve) => aedes.publish({ topic: 'fleet/q', payload: Buffer.from('queued'), qos: 1 } as never, null as never, () => resolve()));

    const stream = aedes.persistence.outgoingStream!;
    const steps: string[] = [];
    const wire = new Wire();
    const client = aedes.handle(wire.conn) as unknown as { clean?: boolean; connected: boolean; once(event: string, listener: () => void): void };
    aedes.persistence.outgoingStream = ((c: unknown) => {
      steps.push(`stream (same client: ${c === client}, clean: ${client.clean}, connected: ${client.connected})`);
      return stream.call(aedes.persistence, c as never);
    }) as never;
    client.once('connected', () => steps.push(`connected (${client.connected})`));
    wire.send(persistentConnect('resumer'));
    await wire.until(PUBLISH);
    await turns(5);
    expect(steps).toEqual(['stream (same client: true, clean: false, connected: false)', 'connected (true)']);
  });
});
