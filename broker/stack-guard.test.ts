import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { guardClientPacketLoop, guardEmitterQueue, type PacketLoopClient, type QueueDrainingEmitter } from './stack-guard.ts';

const require = createRequire(import.meta.url);
const mqemitter = require('mqemitter') as (opts: { concurrency: number }) => QueueDrainingEmitter & {
  on(topic: string, listener: (message: unknown, done: () => void) => void): void;
  emit(message: { topic: string }, callback: () => void): void;
};

const PACKETS = 200_000;
/** Enough to overflow an unguarded emitter; mqemitter's array queue makes far more slow to drain. */
const MESSAGES = 20_000;

/** A client whose every packet completes synchronously and whose socket never runs dry. */
function floodingClient(onDone: () => void): PacketLoopClient {
  let handled = 0;
  const client: PacketLoopClient = {
    _nextBatch() {
      handled += 1;
      if (handled === PACKETS) return onDone();
      client._nextBatch(); // the next packet is read and handled from inside this callback
    },
  };
  return client;
}

describe('stack guard', () => {
  it('shows the failure it prevents: an unguarded synchronous packet chain overflows the stack', () => {
    expect(() => floodingClient(() => {})._nextBatch()).toThrow(RangeError);
  });

  it('lets a client packet chain of any length complete', async () => {
    let finished = false;
    await new Promise<void>((resolve) => {
      const client = floodingClient(() => {
        finished = true;
        resolve();
      });
      guardClientPacketLoop(client);
      client._nextBatch();
    });
    expect(finished).toBe(true);
  });

  it('lets a real mqemitter drain a long queue of synchronously handled messages, in order', async () => {
    const emitter = mqemitter({ concurrency: 1 });
    guardEmitterQueue(emitter);
    const seen: number[] = [];
    // The listener completes asynchronously once, so the queue fills, then everything is synchronous.
    let first = true;
    emitter.on('t', (message, done) => {
      seen.push((message as { n: number }).n);
      if (first) {
        first = false;
        setImmediate(done);
      } else done();
    });
    await new Promise<void>((resolve) => {
      for (let n = 0; n < MESSAGES; n++) emitter.emit({ topic: 't', n } as { topic: string }, n === MESSAGES - 1 ? resolve : () => {});
    });
    expect(seen.length).toBe(MESSAGES);
    expect(seen.every((n, i) => n === i)).toBe(true);
  });
});
