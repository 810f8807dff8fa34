/**
 * Makes Aedes drop only real duplicates — the same message a second time — instead of every
 * message numbered below the last one it sent the client.
 *
 * Why: Aedes numbers a message (its broker counter) when it arrives, and before sending one to a
 * client it skips it unless its number is above the last one sent to that client (`dedupe` in
 * aedes/lib/client.js). That assumes messages are emitted in the order they were numbered, which
 * does not hold: a retained message is stored before it is emitted, and session-store writes
 * finish in any order, so a message can be overtaken by one numbered after it. The overtaken one
 * was then lost for that subscriber after its publisher had its PUBACK; for a persistent
 * subscriber Aedes also removed another, unsent message from the session queue (it clears "the
 * first message without an id") and then disconnected the client with "no such packet"
 * (out-of-order-delivery.test.ts).
 *
 * What the check is for is kept: a message matching several of a client's subscriptions is
 * delivered through each of them synchronously within one emit, one after another, so "same
 * counter as the last one sent" still catches it and the client gets one copy.
 *
 * How: before each delivery the client's `duplicates[brokerId]` (the last counter sent) is left as
 * is for the same counter and set to 0 otherwise; Aedes' own check then decides, and records the
 * counter it sent. Relies on Aedes 1.2 internals (`deliverQoS` and `deliver0` are per-client
 * properties read at subscribe time, `duplicates` a plain object), which aedes-internals.test.ts
 * pins.
 */

type Deliver = (packet: DeliveredPacket, callback: (error?: unknown) => void) => void;

interface DeliveredPacket {
  brokerId?: string | null;
  brokerCounter?: number;
}

/** What this reads and replaces on an Aedes client, right after `aedes.handle()` made it. */
export interface DeduplicatingClient {
  duplicates: Record<string, number>;
  deliverQoS: Deliver;
  deliver0: Deliver;
}

export function checkDuplicatesExactly(client: DeduplicatingClient): void {
  const exact =
    (deliver: Deliver): Deliver =>
    (packet, callback) => {
      const id = packet.brokerId;
      if (id && client.duplicates[id] !== packet.brokerCounter) client.duplicates[id] = 0;
      deliver(packet, callback);
    };
  client.deliverQoS = exact(client.deliverQoS);
  client.deliver0 = exact(client.deliver0);
}
