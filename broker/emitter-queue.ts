/**
 * Gives mqemitter a FIFO whose `shift` costs O(1) at any length.
 *
 * mqemitter (Aedes' message bus) runs at most `concurrency` (100) messages at once and parks the
 * rest in two plain arrays, taking the next one with `Array.prototype.shift`. V8 can shift a small
 * array in place, but once an array is large (tens of thousands of entries) every `shift` copies the
 * whole array: ~15 µs per message at 50,000 queued, ~100 µs at 80,000 (measured on the bench
 * machine). Under load the queue is exactly where the backlog sits (1,000 QoS 1 publishers: PUBACKs
 * go out before the message is routed, so publishers keep sending while the bus is behind), and the
 * cost per message then grows with the backlog, which grows the backlog further: the broker
 * collapsed from ~15,000 to ~2,000 msg/s with p99 ≈ 5 s and 7× the CPU per message, once a run tipped
 * over (bench/broker-bench.ts, docs/benchmarks.md "Broker"). With a constant-time queue a backlog
 * costs memory, not time per message, so the bus drains it at its normal rate.
 *
 * Only the three operations mqemitter uses are provided (`push`, `shift`, `length`); order is kept.
 */
export class FifoQueue<T> {
  private items: Array<T | undefined> = [];
  private head = 0;

  /** `onShift` runs after every successful shift (the broker's backlog bound listens there). */
  constructor(private readonly onShift?: () => void) {}

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): number {
    this.items.push(item);
    return this.length;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined; // let it be collected
    this.head += 1;
    // Compact once the consumed prefix is at least half the array: amortised O(1) per item.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    this.onShift?.();
    return item;
  }
}

/** mqemitter's (and mqemitter-redis') internal queue of messages waiting for a free slot. */
export interface QueueingEmitter {
  _messageQueue: { push(item: unknown): number; shift(): unknown; readonly length: number };
  _messageCallbacks: { push(item: unknown): number; shift(): unknown; readonly length: number };
}

/**
 * Swaps the emitter's queues for `FifoQueue`s, keeping anything already queued in order; returns the
 * message queue. `onShift` runs each time a message leaves it.
 */
export function useConstantTimeQueue(emitter: QueueingEmitter, onShift?: () => void): FifoQueue<unknown> {
  const swap = (old: QueueingEmitter['_messageQueue'], hook?: () => void): FifoQueue<unknown> => {
    const queue = new FifoQueue<unknown>(hook);
    while (old.length > 0) queue.push(old.shift());
    return queue;
  };
  const messages = swap(emitter._messageQueue, onShift);
  emitter._messageQueue = messages;
  emitter._messageCallbacks = swap(emitter._messageCallbacks);
  return messages;
}
