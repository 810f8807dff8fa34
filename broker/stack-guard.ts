/**
 * Breaks synchronous call chains inside Aedes that otherwise grow the stack until Node throws
 * "Maximum call stack size exceeded" and the broker dies — seen under a QoS 0 flood from 1,000
 * publishers (bench/broker-bench.ts), i.e. something any authenticated client can provoke.
 *
 * Two chains recurse once per message when callbacks complete synchronously (QoS 0, a denied or
 * unmatched publish):
 * - a client's next packet is read and handled from inside the callback of the previous one
 *   (`client._nextBatch` → `conn.read` → parse → handle → … → `client._nextBatch`);
 * - mqemitter drains its queue from inside the completion of the previous message
 *   (`released` → `_do` → … → `released`).
 * Past a small nesting depth the next step is deferred with `setImmediate`, which unwinds the stack.
 * Order is kept: each client still has one packet in progress at a time, and the emitter's queue
 * is still drained in order.
 */
const MAX_SYNC_DEPTH = 32;

function guard<A extends unknown[]>(call: (...args: A) => void): (...args: A) => void {
  let depth = 0;
  const guarded = (...args: A): void => {
    if (depth >= MAX_SYNC_DEPTH) {
      setImmediate(() => guarded(...args));
      return;
    }
    depth += 1;
    try {
      call(...args);
    } finally {
      depth -= 1;
    }
  };
  return guarded;
}

/** Aedes' per-client packet loop; `_nextBatch` is read from the client on every packet. */
export interface PacketLoopClient {
  _nextBatch: (error?: Error) => void;
}

export function guardClientPacketLoop(client: PacketLoopClient): void {
  const next = client._nextBatch;
  client._nextBatch = guard((error?: Error) => next.call(client, error));
}

/** mqemitter (and mqemitter-redis, which extends it) drain their queue through `_do`. */
export interface QueueDrainingEmitter {
  _do: (message: unknown, callback: unknown) => unknown;
}

export function guardEmitterQueue(emitter: QueueDrainingEmitter): void {
  const run = emitter._do;
  emitter._do = guard((message: unknown, callback: unknown) => {
    run.call(emitter, message, callback);
  }) as QueueDrainingEmitter['_do'];
}
