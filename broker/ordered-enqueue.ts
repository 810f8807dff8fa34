/**
 * Makes a session store report a client's `outgoingEnqueue` calls done in the order they were made.
 *
 * Aedes delivers a QoS 1/2 message to a connected persistent subscriber in two steps: store it
 * (`outgoingEnqueue`), then, when the store resolves, send it — and just before sending it drops
 * any message whose broker counter is not above the last one it sent to that client (its
 * duplicate check). LevelDB (and Redis) may resolve two writes in the opposite order they were
 * issued, so when messages arrive back to back the later one is sent first and the earlier one is
 * then silently dropped as a "duplicate", after its publisher already had its PUBACK: measured
 * 1–3 % of messages in bursts with aedes-persistence-level. Here the writes still run in parallel,
 * but each one's promise resolves only after the client's earlier ones did, so Aedes sends in
 * order and drops nothing; other clients are not held up, and no write waits for another to start
 * (which would slow a busy subscriber down to one store round trip per message).
 *
 * Bounded: one chain per client with work in flight; a chain's entry is removed when it drains.
 */
export interface EnqueueingPersistence {
  outgoingEnqueue(sub: { clientId: string }, packet: unknown): Promise<unknown>;
}

export interface UpdatingPersistence {
  outgoingUpdate(client: { id: string }, packet: unknown): Promise<unknown>;
}

export function orderOutgoingEnqueue(persistence: EnqueueingPersistence): { readonly pendingClients: () => number } {
  const enqueue = persistence.outgoingEnqueue.bind(persistence);
  const ordered = inCallOrder((sub: { clientId: string }) => sub.clientId, enqueue);
  persistence.outgoingEnqueue = ordered.call;
  return { pendingClients: ordered.pendingClients };
}

/**
 * The same for the second step: Aedes sends a stored message to a connected persistent subscriber
 * once `outgoingUpdate` (which records the message id it is sent under) resolves, and LevelDB's
 * update — a read and up to three writes — also finishes out of order, so a burst went out
 * reordered (seen: 211 after 213, session-resume-order.test.ts).
 */
export function orderOutgoingUpdate(persistence: UpdatingPersistence): { readonly pendingClients: () => number } {
  const update = persistence.outgoingUpdate.bind(persistence);
  const ordered = inCallOrder((client: { id: string }) => client.id, update);
  persistence.outgoingUpdate = ordered.call;
  return { pendingClients: ordered.pendingClients };
}

function inCallOrder<S>(clientOf: (subject: S) => string, run: (subject: S, packet: unknown) => Promise<unknown>): { call: (subject: S, packet: unknown) => Promise<unknown>; pendingClients: () => number } {
  const tails = new Map<string, Promise<unknown>>();
  const call = (subject: S, packet: unknown): Promise<unknown> => {
    const clientId = clientOf(subject);
    const previous = tails.get(clientId);
    const own = run(subject, packet);
    // An idle client's write is reported as soon as it is done (no extra tick on the common path).
    const result = previous ? Promise.all([own, previous]).then(([value]) => value) : own;
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    tails.set(clientId, tail);
    void tail.then(() => {
      if (tails.get(clientId) === tail) tails.delete(clientId);
    });
    return result;
  };
  return { call, pendingClients: () => tails.size };
}
