import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { FifoQueue, useConstantTimeQueue, type QueueingEmitter } from './emitter-queue.ts';
import { startBroker } from './broker-server.ts';

const require = createRequire(import.meta.url);
const mqemitter = require('mqemitter') as (opts: { concurrency: number }) => QueueingEmitter & {
  on(topic: string, listener: (message: { topic: string; n: number }, done: () => void) => void): void;
  emit(message: { topic: string; n: number }, callback: () => void): void;
};

describe('FifoQueue', () => {
  it('keeps order and length across many pushes and shifts (compaction included)', () => {
    const queue = new FifoQueue<number>();
    expect(queue.shift()).toBeUndefined();
    let next = 0;
    const out: Array<number | undefined> = [];
    const lengths: number[] = [];
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 3000; i++) queue.push(next++);
      for (let i = 0; i < 2500; i++) out.push(queue.shift());
      lengths.push(queue.length);
    }
    while (queue.length > 0) out.push(queue.shift());
    expect(lengths).toEqual(Array.from({ length: 50 }, (_, r) => (r + 1) * 500));
    expect(out).toEqual(Array.from({ length: next }, (_, i) => i));
    expect(queue.shift()).toBeUndefined();
  });

  it('does not keep consumed entries: its backing array shrinks as it drains (the O(1) shift mechanism)', () => {
    const queue = new FifoQueue<number>();
    for (let i = 0; i < 100_000; i++) queue.push(i);
    for (let i = 0; i < 99_000; i++) queue.shift();
    const backing = (queue as unknown as { items: unknown[] }).items;
    expect(queue.length).toBe(1000);
    expect(backing.length).toBeLessThan(50_000);
  });
});

describe('useConstantTimeQueue', () => {
  it('mqemitter still delivers a backlog in order, every callback called, once its queue is swapped', async () => {
    const emitter = mqemitter({ concurrency: 2 });
    useConstantTimeQueue(emitter);
    expect(emitter._messageQueue).toBeInstanceOf(FifoQueue);
    const seen: number[] = [];
    emitter.on('t', (message, done) => {
      seen.push(message.n);
      setImmediate(done); // completes later, so the rest waits in the queue
    });
    let completed = 0;
    const N = 5000;
    await new Promise<void>((resolve) => {
      for (let n = 0; n < N; n++) {
        emitter.emit({ topic: 't', n }, () => {
          if (++completed === N) resolve();
        });
      }
      expect(emitter._messageQueue.length).toBe(N - 2);
    });
    expect(seen).toEqual(Array.from({ length: N }, (_, i) => i));
  });

  it('is what startBroker gives Aedes', async () => {
    const broker = await startBroker({ host: '127.0.0.1', port: 0, sysIntervalMs: 0 });
    try {
      const mq = (broker.aedes as unknown as { mq: QueueingEmitter }).mq;
      expect(mq._messageQueue).toBeInstanceOf(FifoQueue);
      expect(mq._messageCallbacks).toBeInstanceOf(FifoQueue);
    } finally {
      await broker.close();
    }
  });
});
