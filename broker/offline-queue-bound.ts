/**
 * Bounds the QoS 1/2 messages a session store keeps for each offline persistent subscriber.
 *
 * Policy at the bound: the new message is not queued for that client (the newest is dropped, as
 * Mosquitto's `max_queued_messages` does). What is already queued stays intact and in order, the
 * publisher still gets its PUBACK, and other subscribers still get the message. Every drop calls
 * `onDrop`. A client connected to this broker is never limited here (its in-flight messages are
 * paced by PUBACKs and the slow-consumer timeout).
 *
 * Counting: when this broker sees a client disconnect (`wentOffline`), what the store holds for it
 * were messages in flight while it was connected; they do not count, only messages queued after
 * (Mosquitto's `max_queued_messages` also counts only above the in-flight ones). Otherwise — after a
 * restart, or once a count was evicted — the first message for an offline client counts what the
 * store already holds for it (reading at most `maxMessages` entries, so the bound still holds).
 * Later messages are counted in memory. The count is forgotten when the client connects. Only one broker may write a client's queue (true for LevelDB
 * and memory; not for a Redis cluster, which therefore does not use this).
 */
export interface QueueingPersistence {
  outgoingEnqueueCombi(subs: ReadonlyArray<{ clientId: string }> | undefined, packet: unknown): Promise<unknown>;
  outgoingStream(client: { id: string }): AsyncIterable<unknown>;
}

export interface OfflineQueueBoundOptions {
  /** Messages kept per offline client; at least 1. */
  maxMessages: number;
  /** Whether the client is connected to this broker right now. */
  isConnected(clientId: string): boolean;
  /** A message was not queued for `clientId`; `first` is true once per offline period (for logging). */
  onDrop(clientId: string, first: boolean): void;
  /** Offline clients whose count is kept in memory; the oldest is forgotten (and recounted when needed). Default 100,000. */
  maxTrackedClients?: number;
}

interface QueueState {
  queued: number;
  ready: Promise<void>;
  dropped: boolean;
}

export interface OfflineQueueBound {
  /** Drops the in-memory count of a client (it connected). */
  forget(clientId: string): void;
  /** The client disconnected from this broker: count from zero, whatever it had in flight. */
  wentOffline(clientId: string): void;
  /** Clients whose count is currently held in memory. */
  readonly trackedClients: number;
}

export function boundOfflineQueues(persistence: QueueingPersistence, options: OfflineQueueBoundOptions): OfflineQueueBound {
  if (!Number.isInteger(options.maxMessages) || options.maxMessages < 1) throw new RangeError('maxMessages must be a positive integer');
  const max = options.maxMessages;
  const maxTracked = options.maxTrackedClients ?? 100_000;
  const states = new Map<string, QueueState>();
  const enqueue = persistence.outgoingEnqueueCombi.bind(persistence);

  const countStored = async (clientId: string, state: QueueState): Promise<void> => {
    let n = 0;
    for await (const _ of persistence.outgoingStream({ id: clientId })) {
      if (++n >= max) break;
    }
    state.queued += n;
  };

  const track = (clientId: string, state: QueueState): void => {
    if (states.size >= maxTracked) {
      const oldest = states.keys().next().value;
      if (oldest !== undefined) states.delete(oldest);
    }
    states.set(clientId, state);
  };

  const stateOf = (clientId: string): QueueState => {
    let state = states.get(clientId);
    if (!state) {
      state = { queued: 0, ready: Promise.resolve(), dropped: false };
      // A store that cannot be read counts as empty: better to queue than to lose on a read error.
      state.ready = countStored(clientId, state).catch(() => {});
      track(clientId, state);
    }
    return state;
  };

  const admit = async (sub: { clientId: string }): Promise<boolean> => {
    if (options.isConnected(sub.clientId)) return true;
    const state = stateOf(sub.clientId);
    await state.ready;
    if (state.queued < max) {
      state.queued += 1;
      return true;
    }
    options.onDrop(sub.clientId, !state.dropped);
    state.dropped = true;
    return false;
  };

  persistence.outgoingEnqueueCombi = async (subs, packet) => {
    if (!subs || subs.length === 0) return enqueue(subs, packet);
    const verdicts = await Promise.all(subs.map(admit));
    const admitted = subs.filter((_, i) => verdicts[i]);
    return enqueue(admitted, packet);
  };

  return {
    forget: (clientId) => void states.delete(clientId),
    wentOffline: (clientId) => {
      states.delete(clientId);
      track(clientId, { queued: 0, ready: Promise.resolve(), dropped: false });
    },
    get trackedClients() {
      return states.size;
    },
  };
}
