/**
 * Keeps a persistent subscriber's messages in order while it resumes its session.
 *
 * Why: on a CONNECT without clean session Aedes registers the stored subscriptions first, then
 * sends CONNACK, then streams the messages queued while the client was away. A message that arrives
 * in between is sent at once, ahead of the queued ones still being read from the store (seen after
 * a broker restart: health events 0 1 3 4 2 5; ingest keeps a vehicle's newest diagnosis and took
 * the late one for an old copy). A message that was queued before the stream was taken was also sent
 * twice: once live, once from the queue.
 *
 * How: while such a client is connecting, its live deliveries are held (the message is already in
 * its session queue for QoS 1/2, so Aedes' delivery callback is answered at once and the message bus
 * is not held up) and replayed in arrival order when Aedes reports the client connected, i.e. after
 * the queue was streamed. Messages the stream already sent are skipped, then and for a short while
 * after (an emit can trail its enqueue). A client that goes away before it is connected keeps its
 * queued messages for the next session; held QoS 0 messages are dropped with it, as they would be.
 *
 * Bounded: what is held is at most what arrives during one resume, which the publishers' bus
 * back-pressure bounds (publish-backpressure.ts); the set of streamed messages lives until
 * `STREAMED_MEMORY_MS` after the resume.
 */
import { Readable } from 'node:stream';

type Deliver = (packet: ResumedPacket, callback: (error?: unknown) => void) => void;

interface ResumedPacket {
  brokerId?: string | null;
  brokerCounter?: number;
}

/** What this reads and replaces on an Aedes client, right after `aedes.handle()` made it. */
export interface ResumingClient {
  clean?: boolean;
  connected: boolean;
  deliverQoS: Deliver;
  deliver0: Deliver;
  once(event: 'connected' | 'close', listener: () => void): unknown;
}

export interface StreamingPersistence {
  outgoingStream(client: object): Readable;
}

/** How long after a resume a live copy of a message the queue already sent is still recognised. */
export const STREAMED_MEMORY_MS = 10_000;

const keyOf = (packet: ResumedPacket): string | undefined => (packet.brokerId && packet.brokerCounter !== undefined ? `${packet.brokerId}\u0000${packet.brokerCounter}` : undefined);

export class ResumeOrder {
  /** Per connecting client: what its queue stream sent. */
  private readonly streamed = new WeakMap<object, Set<string>>();

  constructor(persistence: StreamingPersistence) {
    const stream = persistence.outgoingStream.bind(persistence);
    persistence.outgoingStream = (client) => {
      const source = stream(client);
      const sent = this.streamed.get(client);
      if (!sent) return source;
      return Readable.from(
        (async function* () {
          for await (const packet of source) {
            const key = keyOf(packet as ResumedPacket);
            if (key) sent.add(key);
            yield packet;
          }
        })(),
      );
    };
  }

  /** Wraps a new client's deliveries; call right after `aedes.handle()`. */
  attach(client: ResumingClient): void {
    const streamed = new Set<string>();
    this.streamed.set(client, streamed);
    let held: Array<{ deliver: Deliver; packet: ResumedPacket }> | undefined = [];
    let forgetTimer: NodeJS.Timeout | undefined;
    const sentByQueue = (packet: ResumedPacket): boolean => {
      const key = keyOf(packet);
      return key !== undefined && streamed.delete(key);
    };

    const ordered =
      (deliver: Deliver): Deliver =>
      (packet, callback) => {
        if (held && client.clean === false && !client.connected) {
          held.push({ deliver, packet });
          setImmediate(callback);
          return;
        }
        if (streamed.size > 0 && sentByQueue(packet)) {
          setImmediate(callback);
          return;
        }
        deliver(packet, callback);
      };
    client.deliverQoS = ordered(client.deliverQoS);
    client.deliver0 = ordered(client.deliver0);

    client.once('connected', () => {
      const replay = held ?? [];
      held = undefined;
      for (const { deliver, packet } of replay) if (!sentByQueue(packet)) deliver(packet, () => {});
      this.streamed.delete(client);
      forgetTimer = setTimeout(() => streamed.clear(), STREAMED_MEMORY_MS);
      forgetTimer.unref();
    });
    client.once('close', () => {
      held = undefined;
      streamed.clear();
      this.streamed.delete(client);
      if (forgetTimer) clearTimeout(forgetTimer);
    });
  }
}
