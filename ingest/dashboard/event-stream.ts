/**
 * Server-sent events for the live dashboard.
 *
 * Every `tickMs` (250 ms: at most 4 messages a second) the live state's changes become one `delta`
 * event with a sequence number as its SSE id, written to every client; no change, no message (a
 * comment every 15 s keeps proxies from closing the stream). A new client first gets a `snapshot`
 * event (built by the caller: live state merged with InfluxDB history). A client that reconnects
 * with `Last-Event-ID` (EventSource does this by itself) gets the deltas it missed when the last
 * `replayDeltas` deltas still hold them, else a fresh snapshot. Ids are `<epoch>.<seq>`, the epoch
 * fixed per stream object, so an id from before an ingest restart never resumes into other deltas.
 *
 * Bounds: at most `maxClients` streams (beyond: 503 with Retry-After, counted); per client at most
 * `maxClientBufferBytes` written but not yet taken by the socket — a client that falls further
 * behind is disconnected (counted) and, when it reconnects, resumes or gets a snapshot. So a slow
 * browser never holds memory beyond its bound and never slows the others.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LiveDelta, LiveState } from './live-state.ts';

export interface EventStreamOptions {
  tickMs?: number;
  maxClients?: number;
  maxClientBufferBytes?: number;
  replayDeltas?: number;
  heartbeatMs?: number;
}

export interface EventStreamStats {
  clients: number;
  connections: number;
  rejected: number;
  droppedSlow: number;
  deltas: number;
  messagesWritten: number;
  bytesWritten: number;
  snapshots: number;
  resumed: number;
}

interface Client {
  res: ServerResponse;
}

export class SseEventStream {
  private readonly clients = new Set<Client>();
  private readonly ring: Array<{ id: number; text: string }> = [];
  private seq = 0;
  private opening = 0;
  private closed = false;
  /** Distinguishes this process's ids from an earlier run's. */
  readonly epoch = Date.now().toString(36);
  private timer: NodeJS.Timeout | undefined;
  private lastWriteMs = Date.now();
  private readonly o: Required<EventStreamOptions>;
  private counters = { connections: 0, rejected: 0, droppedSlow: 0, deltas: 0, messagesWritten: 0, bytesWritten: 0, snapshots: 0, resumed: 0 };

  constructor(
    private readonly state: LiveState,
    options: EventStreamOptions = {},
  ) {
    this.o = { tickMs: 250, maxClients: 32, maxClientBufferBytes: 1024 * 1024, replayDeltas: 240, heartbeatMs: 15_000, ...options };
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), this.o.tickMs);
    this.timer.unref();
  }

  /** Id of the newest delta (a snapshot taken now is current up to it). */
  get lastId(): string {
    return `${this.epoch}.${this.seq}`;
  }

  /** Whether another client may connect now (streams waiting for their snapshot count). */
  hasRoom(): boolean {
    return this.clients.size + this.opening < this.o.maxClients;
  }

  /** Answers a request that cannot get a stream (no room): 503, counted. */
  reject(res: ServerResponse): void {
    this.counters.rejected += 1;
    res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': '5' });
    res.end(`too many dashboard clients (at most ${this.o.maxClients})\n`);
  }

  /**
   * Opens the stream on `res`. With a `lastEventId` still in the replay ring, the missed deltas are
   * sent; otherwise `snapshot()` is awaited and sent first. Resolves once the client is live.
   */
  async open(req: IncomingMessage, res: ServerResponse, lastEventIdText: string | undefined, snapshot: () => Promise<unknown>): Promise<void> {
    this.counters.connections += 1;
    const [epoch, seqText] = (lastEventIdText ?? '').split('.');
    const lastEventId = epoch === this.epoch && /^\d+$/.test(seqText ?? '') ? Number(seqText) : undefined;
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.write('retry: 1000\n\n');
    const oldest = this.ring[0]?.id;
    let first: string;
    if (lastEventId !== undefined && lastEventId <= this.seq && (lastEventId === this.seq || (oldest !== undefined && oldest <= lastEventId + 1))) {
      this.counters.resumed += 1;
      first = this.ring.filter((m) => m.id > lastEventId).map((m) => m.text).join('');
    } else {
      this.opening += 1;
      const body = await snapshot().finally(() => (this.opening -= 1));
      // Taken after the await: the snapshot holds every change up to now, so later deltas follow it.
      this.counters.snapshots += 1;
      first = this.message('snapshot', body);
    }
    if (req.destroyed || res.destroyed) return;
    if (this.closed) {
      res.end();
      return;
    }
    const client: Client = { res };
    this.clients.add(client);
    res.on('close', () => this.clients.delete(client));
    if (first) this.write(client, first);
  }

  stats(): EventStreamStats {
    return { clients: this.clients.size, ...this.counters };
  }

  /** Ends every stream (before the HTTP server closes: open streams would hold it). */
  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }

  /** Builds and sends the next delta now (the timer does this every tickMs). */
  tick(nowMs = Date.now()): LiveDelta | undefined {
    const delta = this.state.takeDelta(nowMs);
    if (delta) {
      this.seq += 1;
      this.counters.deltas += 1;
      const text = this.message('delta', { ...delta, at: nowMs });
      this.ring.push({ id: this.seq, text });
      if (this.ring.length > this.o.replayDeltas) this.ring.shift();
      this.broadcast(text);
    } else if (nowMs - this.lastWriteMs >= this.o.heartbeatMs) {
      this.broadcast(`: ${nowMs}\n\n`);
    }
    return delta;
  }

  private broadcast(text: string): void {
    this.lastWriteMs = Date.now();
    for (const client of this.clients) this.write(client, text);
  }

  private write(client: Client, text: string): void {
    if (client.res.writableLength > this.o.maxClientBufferBytes) {
      this.counters.droppedSlow += 1;
      this.clients.delete(client);
      client.res.destroy();
      return;
    }
    client.res.write(text);
    this.counters.messagesWritten += 1;
    this.counters.bytesWritten += Buffer.byteLength(text);
  }

  private message(event: string, data: unknown): string {
    return `id: ${this.epoch}.${this.seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
  }
}
