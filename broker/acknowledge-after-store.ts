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
 * (bench/broker-bench.ts) that gave 23,000 msg/s against 46,000 (one run each on the busy shared
 * 2-core machine, so indicative only). Bounded: a publish is in `awaitingBus` from its start until
 * the bus takes it or the publish ends.
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

const PUBLISHING = Symbol('fleetpulse.publishing');

interface Hooks<C> {
  /** Aedes' own publish (the prototype method). */
  publish: PublishingBroker<C>['publish'];
  broker: PublishingBroker<C>;
  /** The publishes waiting for the bus, by payload (Aedes' copy of the packet shares the Buffer). */
  awaitingBus: Map<unknown, ClientPublish<C>>;
  onRefused: (client: C, packet: PublishPacket, error: Error) => void;
}

/**
 * One client QoS 1 publish started by the hook. A class with bound methods rather than closures:
 * this runs per message, and under tsx every closure created also gets its name defined.
 */
class ClientPublish<C> {
  /** Completes the hook (Aedes then writes the PUBACK); undefined once called. */
  private acknowledge: Done | undefined;
  private finished = false;
  private error: Error | null = null;
  /** Aedes' own publish call for the packet, waiting for the running publish to finish. */
  private waiter: Done | undefined;

  constructor(
    private readonly hooks: Hooks<C>,
    private readonly client: C,
    private readonly packet: PublishPacket,
    acknowledge: Done,
  ) {
    this.acknowledge = acknowledge;
  }

  /** The access check's answer: refused as it says, or published. */
  authorized(error?: Error | null): void {
    if (error) {
      const acknowledge = this.acknowledge;
      this.acknowledge = undefined;
      return acknowledge?.(error);
    }
    (this.packet as { [PUBLISHING]?: ClientPublish<C> })[PUBLISHING] = this;
    if (isObject(this.packet.payload)) this.hooks.awaitingBus.set(this.packet.payload, this);
    this.hooks.publish.call(this.hooks.broker, this.packet, this.client, this.published.bind(this));
  }

  /** Aedes handed the message to the bus: it is stored, the PUBACK may go. */
  reachedBus(): void {
    const acknowledge = this.acknowledge;
    this.acknowledge = undefined;
    acknowledge?.(null);
  }

  /** Aedes' own publish call for this packet (after the PUBACK): answered when the publish is done. */
  awaitFinish(done: Done): void {
    if (!this.finished) {
      this.waiter = done;
      return;
    }
    this.forget();
    done(this.error);
  }

  private published(error?: Error | null): void {
    this.finished = true;
    this.error = error ?? null;
    const payload = this.packet.payload;
    if (isObject(payload) && this.hooks.awaitingBus.get(payload) === this) this.hooks.awaitingBus.delete(payload);
    if (this.error) this.hooks.onRefused(this.client, this.packet, this.error);
    const acknowledge = this.acknowledge;
    if (acknowledge) {
      // Never reached the bus: refused if it failed (the hook's error closes the connection),
      // otherwise acknowledged now, after the routing.
      this.acknowledge = undefined;
      if (this.error) this.forget();
      acknowledge(this.error);
      return;
    }
    const waiter = this.waiter;
    if (waiter) {
      this.forget();
      waiter(this.error);
    }
  }

  private forget(): void {
    (this.packet as { [PUBLISHING]?: ClientPublish<C> })[PUBLISHING] = undefined;
  }

  static of<C>(packet: PublishPacket): ClientPublish<C> | undefined {
    return (packet as { [PUBLISHING]?: ClientPublish<C> })[PUBLISHING];
  }
}

export function acknowledgeAfterStore<C extends object>(broker: PublishingBroker<C>, onRefused: (client: C, packet: PublishPacket, error: Error) => void): void {
  const authorize = broker.authorizePublish;
  const publish = broker.publish;
  const emit = broker.mq.emit;
  const hooks: Hooks<C> = { publish, broker, awaitingBus: new Map(), onRefused };

  const publishReported = (packet: PublishPacket, client: C, done: Done): void => {
    publish.call(broker, packet, client, (error) => {
      if (error) onRefused(client, packet, error);
      done(error);
    });
  };

  broker.authorizePublish = (client, packet, done) => {
    // Wills (no messageId) and broker-internal publishes keep Aedes' path.
    if (!client || packet.cmd !== 'publish' || packet.qos !== 1 || packet.messageId === undefined) return authorize.call(broker, client, packet, done);
    const publishing = new ClientPublish(hooks, client, packet, done);
    authorize.call(broker, client, packet, publishing.authorized.bind(publishing));
  };

  broker.mq.emit = (packet, done) => {
    const publishing = isObject(packet.payload) ? hooks.awaitingBus.get(packet.payload) : undefined;
    if (publishing) {
      hooks.awaitingBus.delete(packet.payload);
      publishing.reachedBus();
    }
    return emit.call(broker.mq, packet, done);
  };

  broker.publish = (packet, client, done) => {
    if (typeof client === 'function' || client === null || client === undefined) return publish.call(broker, packet, client, done);
    const publishing = ClientPublish.of<C>(packet);
    if (publishing) return publishing.awaitFinish(done ?? noop);
    publishReported(packet, client, done ?? noop);
  };
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

function noop(): void {}
