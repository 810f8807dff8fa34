/**
 * QoS 1: the PUBACK goes out only after the session store has the message.
 *
 * Aedes 1.2 (lib/handlers/publish.js) writes a QoS 1 PUBACK first and then publishes: stores a
 * retained copy, enqueues the message for every persistent subscriber (the session store), and
 * routes it on the message bus. When the store fails (a full disk), the publisher already holds its
 * PUBACK and has forgotten the message, so it is lost for every subscriber — 57 of 60 for an offline
 * persistent subscriber in the adversarial run, all of them for an online one.
 *
 * Here the publish starts inside `authorizePublish`, which Aedes calls before it writes the PUBACK,
 * and that hook completes when Aedes hands the message to the bus — which it does only after the
 * retained copy and every subscriber's queue entry were stored. Then:
 * - stored: Aedes writes the PUBACK while the message is routed; its own publish call for that
 *   packet waits for the publish already running (so the client's next packets still wait for the
 *   routing, as before, and a routing error still closes the connection);
 * - not stored: the hook fails, Aedes closes the publisher's connection without a PUBACK. MQTT 3.1.1
 *   has no negative PUBACK; a client (mqtt.js, our agent) keeps an unacknowledged QoS 1 message and
 *   sends it again after it reconnects, so the message is retried, not lost. Every refusal is
 *   reported through `onRefused`.
 * A message whose store write failed for one persistent subscriber but not for another is sent
 * again by its publisher, so the second subscriber may get it twice (QoS 1 is at least once).
 *
 * The PUBACK is not held until the routing is done: with 1,000 closed-loop QoS 1 publishers
 * (bench/broker-bench.ts) that halved the throughput (46,000 → 23,000 msg/s, measured once on the
 * shared 2-core machine).
 *
 * The message handed to the bus is Aedes' copy of the client's packet; it is recognised by its
 * payload, the same Buffer object. Should that ever not match, the PUBACK still comes, only after
 * the routing. QoS 0 and QoS 2 keep Aedes' order (QoS 2 stores the incoming message before PUBREC
 * already); their publish errors also close the connection and are reported through `onRefused`.
 */

export interface PublishPacket {
  cmd?: string;
  qos?: number;
  messageId?: number;
  topic: string;
  payload?: unknown;
}

type Done = (error?: Error | null) => void;

/** The seams of an Aedes instance used here: the hook option, its publish method and its bus. */
export interface PublishingBroker<C> {
  authorizePublish: (client: C | null, packet: PublishPacket, done: Done) => void;
  publish: (packet: PublishPacket, client: C | null | Done, done?: Done) => void;
  mq: { emit: (packet: PublishPacket, done?: Done) => unknown };
}

/** A client's QoS 1 publish started by the hook. */
interface Publishing {
  /** Completes the hook (Aedes then writes the PUBACK); undefined once called. */
  acknowledge: (() => void) | undefined;
  finished: boolean;
  error: Error | null;
  /** Aedes' own publish call for the packet, waiting for the running publish to finish. */
  waiter: Done | undefined;
}

export function acknowledgeAfterStore<C extends object>(broker: PublishingBroker<C>, onRefused: (client: C, packet: PublishPacket, error: Error) => void): void {
  const authorize = broker.authorizePublish;
  const publish = broker.publish;
  const publishing = new WeakMap<PublishPacket, Publishing>();
  // The publishes waiting for the bus, by payload (Aedes' copy of the packet shares the Buffer).
  const awaitingBus = new WeakMap<object, Publishing>();

  const publishReported = (packet: PublishPacket, client: C, done: Done): void => {
    publish.call(broker, packet, client, (error) => {
      if (error) onRefused(client, packet, error);
      done(error);
    });
  };

  broker.authorizePublish = (client, packet, done) => {
    authorize.call(broker, client, packet, (error) => {
      // Wills (no messageId) and broker-internal publishes keep Aedes' path.
      if (error || !client || packet.cmd !== 'publish' || packet.qos !== 1 || packet.messageId === undefined) return done(error);
      const state: Publishing = { acknowledge: () => done(null), finished: false, error: null, waiter: undefined };
      publishing.set(packet, state);
      if (isObject(packet.payload)) awaitingBus.set(packet.payload, state);
      publishReported(packet, client, (publishError) => {
        state.finished = true;
        state.error = publishError ?? null;
        if (isObject(packet.payload) && awaitingBus.get(packet.payload) === state) awaitingBus.delete(packet.payload);
        const acknowledge = state.acknowledge;
        if (acknowledge) {
          // Never reached the bus: nothing to acknowledge if it failed (the hook's error closes the connection).
          state.acknowledge = undefined;
          if (publishError) {
            publishing.delete(packet);
            return done(publishError);
          }
          return acknowledge();
        }
        const waiter = state.waiter;
        if (waiter) {
          publishing.delete(packet);
          waiter(state.error);
        }
      });
    });
  };

  const emit = broker.mq.emit;
  broker.mq.emit = (packet, done) => {
    const state = isObject(packet.payload) ? awaitingBus.get(packet.payload) : undefined;
    if (state) {
      awaitingBus.delete(packet.payload as object);
      const acknowledge = state.acknowledge;
      state.acknowledge = undefined;
      acknowledge?.();
    }
    return emit.call(broker.mq, packet, done);
  };

  broker.publish = (packet, client, done) => {
    if (typeof client === 'function' || client === null || client === undefined) return publish.call(broker, packet, client, done);
    const state = publishing.get(packet);
    if (!state) return publishReported(packet, client, done ?? noop);
    // Published by the hook already; wait for it to finish, as Aedes' own call would have.
    if (!state.finished) {
      state.waiter = done ?? noop;
      return;
    }
    publishing.delete(packet);
    (done ?? noop)(state.error);
  };
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

function noop(): void {}
