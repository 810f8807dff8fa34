/**
 * Aedes' in-memory persistence (aedes-persistence) with its outgoing queues indexed.
 *
 * Why: the stock store keeps each client's outgoing QoS 1/2 messages in a plain array and finds a
 * message by scanning it, once when the message is sent (`outgoingUpdate`, which looks for a message
 * just enqueued — at the end) and once when it is acknowledged (`outgoingClearMessageId`). For a
 * persistent subscriber such as ingest, which acknowledges only after its data is safe, the array
 * holds every message in flight, so each message costs time proportional to the backlog: the
 * ingest benchmark with 100,000 vehicles spent most of the broker's core in those two scans and
 * never caught up (docs/benchmarks.md, "Ingest"). Here each client's queue is an append-only array
 * with lazily compacted holes plus two small indexes, so both lookups cost O(1).
 *
 * Semantics are the stock store's, found in the same queue order: `outgoingUpdate` matches the first
 * queued message of the same broker and counter (and sets its message id), or the first one of
 * another broker with the same message id (and replaces it); `outgoingClearMessageId` removes and
 * returns the first message with that id; `outgoingStream` yields the queue in order. One
 * deliberate difference: a clear without an id but with a broker counter (a delivery Aedes skipped)
 * removes an unsent copy of that message, not the first unsent message of any kind (see
 * `unsentCopy`; out-of-order-delivery.test.ts). The stock
 * store's own conformance suite runs against this class (indexed-memory-persistence.test.ts).
 */
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { codedError } from '../common/errors.ts';

const require = createRequire(import.meta.url);

/** What this store reads of a queued packet (aedes-packet's Packet). */
interface QueuedPacket {
  brokerId?: string;
  brokerCounter?: number;
  messageId?: number;
}

interface Entry {
  packet: QueuedPacket;
  /** Position in the client's queue: lower is older. */
  readonly seq: number;
  removed: boolean;
}

type PacketConstructor = new (packet: unknown) => QueuedPacket;
const Packet = require('aedes-packet') as PacketConstructor;

/** Several live entries may share a key (message ids wrap at 65,535); lists stay tiny. */
class MultiIndex<K> {
  private readonly map = new Map<K, Entry[]>();

  add(key: K, entry: Entry): void {
    const list = this.map.get(key);
    if (list) list.push(entry);
    else this.map.set(key, [entry]);
  }

  delete(key: K, entry: Entry): void {
    const list = this.map.get(key);
    if (!list) return;
    const i = list.indexOf(entry);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.map.delete(key);
  }

  /** The oldest entry under `key` that passes `accept` (all pass when it is omitted). */
  oldest(key: K, accept?: (entry: Entry) => boolean): Entry | undefined {
    const list = this.map.get(key);
    if (!list) return undefined;
    let best: Entry | undefined;
    for (const entry of list) if ((!accept || accept(entry)) && (!best || entry.seq < best.seq)) best = entry;
    return best;
  }
}

const counterKey = (packet: QueuedPacket): string => `${packet.brokerId ?? ''}\u0000${packet.brokerCounter ?? ''}`;

class OutgoingQueue {
  private entries: Entry[] = [];
  private nextSeq = 0;
  private holes = 0;
  private readonly byCounter = new MultiIndex<string>();
  // Only sent messages: unsent ones have no id yet, and a list of every unsent message would make each
  // send cost O(backlog) again. The rare lookup of an undefined id scans the queue, as the stock store does.
  private readonly byMessageId = new MultiIndex<number>();

  get size(): number {
    return this.entries.length - this.holes;
  }

  push(packet: QueuedPacket): void {
    const entry: Entry = { packet, seq: this.nextSeq++, removed: false };
    this.entries.push(entry);
    this.index(entry);
  }

  update(packet: QueuedPacket): boolean {
    const sameOrigin = this.byCounter.oldest(counterKey(packet));
    const otherOrigin = this.withMessageId(packet.messageId, (e) => e.packet.brokerId !== packet.brokerId);
    const target = sameOrigin && (!otherOrigin || sameOrigin.seq < otherOrigin.seq) ? sameOrigin : otherOrigin;
    if (!target) return false;
    this.unindex(target);
    if (target === sameOrigin) target.packet.messageId = packet.messageId;
    else target.packet = packet;
    this.index(target);
    return true;
  }

  clear(packet: QueuedPacket): QueuedPacket | undefined {
    const entry = packet.messageId === undefined && packet.brokerCounter !== undefined ? this.unsentCopy(packet) : this.withMessageId(packet.messageId);
    if (!entry) return undefined;
    this.unindex(entry);
    entry.removed = true;
    this.holes += 1;
    this.compact();
    return entry.packet;
  }

  packets(): QueuedPacket[] {
    const out: QueuedPacket[] = [];
    for (const entry of this.entries) if (!entry.removed) out.push(entry.packet);
    return out;
  }

  /**
   * An unsent copy of this message (same broker and counter, no id yet). Aedes clears with a packet
   * that has no id when it skips a delivery: a second subscription of the client matching the same
   * message (each matching subscription queued a copy) or a forward refused. The stock store removes
   * the first unsent message of any kind — with two messages arriving back to back, that was the
   * copy of the other one being sent, and Aedes then dropped the client with "no such packet".
   */
  private unsentCopy(packet: QueuedPacket): Entry | undefined {
    return this.byCounter.oldest(counterKey(packet), (e) => e.packet.messageId === undefined);
  }

  /** The oldest live entry with this message id that passes `accept`. */
  private withMessageId(messageId: number | undefined, accept?: (entry: Entry) => boolean): Entry | undefined {
    if (messageId !== undefined) return this.byMessageId.oldest(messageId, accept);
    for (const entry of this.entries) if (!entry.removed && entry.packet.messageId === undefined && (!accept || accept(entry))) return entry;
    return undefined;
  }

  private index(entry: Entry): void {
    this.byCounter.add(counterKey(entry.packet), entry);
    if (entry.packet.messageId !== undefined) this.byMessageId.add(entry.packet.messageId, entry);
  }

  private unindex(entry: Entry): void {
    this.byCounter.delete(counterKey(entry.packet), entry);
    if (entry.packet.messageId !== undefined) this.byMessageId.delete(entry.packet.messageId, entry);
  }

  /** Drops removed entries once they are at least half the array: amortised O(1) per removal. */
  private compact(): void {
    if (this.holes < 64 || this.holes * 2 < this.entries.length) return;
    this.entries = this.entries.filter((e) => !e.removed);
    this.holes = 0;
  }
}

interface Subscriber {
  clientId: string;
}

type AsyncMemoryPersistenceClass = new () => {
  destroy(): Promise<void>;
};
const AsyncMemoryPersistence = require('aedes-persistence/asyncPersistence.js') as AsyncMemoryPersistenceClass;

export class IndexedMemoryPersistence extends AsyncMemoryPersistence {
  private readonly outgoing = new Map<string, OutgoingQueue>();

  private queueOf(clientId: string): OutgoingQueue {
    let queue = this.outgoing.get(clientId);
    if (!queue) {
      queue = new OutgoingQueue();
      this.outgoing.set(clientId, queue);
    }
    return queue;
  }

  async outgoingEnqueue(sub: Subscriber, packet: unknown): Promise<void> {
    this.queueOf(sub.clientId).push(new Packet(packet));
  }

  async outgoingEnqueueCombi(subs: readonly Subscriber[], packet: unknown): Promise<void> {
    for (const sub of subs) this.queueOf(sub.clientId).push(new Packet(packet));
  }

  async outgoingUpdate(client: { id: string }, packet: QueuedPacket): Promise<void> {
    if (!this.outgoing.get(client.id)?.update(packet)) throw codedError('FP_NO_SUCH_PACKET');
  }

  async outgoingClearMessageId(client: { id: string }, packet: QueuedPacket): Promise<QueuedPacket | undefined> {
    const queue = this.outgoing.get(client.id);
    const cleared = queue?.clear(packet);
    if (queue && queue.size === 0) this.outgoing.delete(client.id);
    return cleared;
  }

  outgoingStream(client: { id: string }): Readable {
    // A snapshot, as the stock store gives: messages enqueued while the stream is read come next time.
    return Readable.from(this.outgoing.get(client.id)?.packets() ?? []);
  }

  override async destroy(): Promise<void> {
    this.outgoing.clear();
    await super.destroy();
  }
}
