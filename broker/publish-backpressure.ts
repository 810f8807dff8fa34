/**
 * Bounds the broker's message bus backlog by pausing the reading of publishers' sockets.
 *
 * Aedes acknowledges a QoS 1 PUBLISH before the message is routed (once it is stored,
 * acknowledge-after-store.ts), and it parses everything a socket has buffered in one go, so a busy
 * broker with many publishers can park an unbounded number of messages in the bus queue
 * (mqemitter's `_messageQueue`) while publishers keep sending. Each client asks for its next batch
 * of packets through `client._nextBatch` once the previous batch has been
 * handled; while the bus queue is above `highWatermark`, those requests are parked here instead, so
 * the client's socket is not read, TCP flow control pushes back on the publisher, and the backlog
 * stops growing. Once the bus has drained to `lowWatermark`, parked requests resume in arrival order.
 *
 * The bound is soft by design: batches already parsed when the mark is crossed still go onto the bus
 * (at most one socket read per client, ~64 KiB), which is what keeps this from splitting packets.
 */
export interface BackpressureClient {
  _nextBatch: (error?: Error | null) => void;
}

export interface PublishBackpressureOptions {
  /** Bus queue length above which clients' next batches are parked. */
  highWatermark: number;
  /** Bus queue length at or below which parked batches resume. Default half the high mark. */
  lowWatermark?: number;
  /** Called once each time the bus crosses the high mark (for a log line). */
  onEngaged?: (queueLength: number) => void;
  /** Called for each parked batch request (for a counter). */
  onParked?: () => void;
}

export class PublishBackpressure {
  /** Batch requests parked because the bus was above the high mark (a counter). */
  parkedBatches = 0;
  /** Times the bus crossed the high mark (a counter). */
  engagements = 0;
  private readonly high: number;
  private readonly low: number;
  private parked: Array<() => void> = [];
  private engaged = false;

  constructor(
    private readonly busQueue: { readonly length: number },
    private readonly options: PublishBackpressureOptions,
  ) {
    if (!(options.highWatermark >= 1)) throw new RangeError('highWatermark must be at least 1');
    this.high = options.highWatermark;
    this.low = Math.min(options.lowWatermark ?? Math.floor(options.highWatermark / 2), this.high);
  }

  /** Client batch requests waiting for the bus to drain (a gauge). */
  get waiting(): number {
    return this.parked.length;
  }

  /** Routes the client's batch requests through the bound. Call once per client, after other wrappers. */
  attach(client: BackpressureClient): void {
    const next = client._nextBatch;
    client._nextBatch = (error?: Error | null) => {
      // Errors go straight through: Aedes closes the client on them, nothing to hold back.
      if ((error === undefined || error === null) && this.busQueue.length > this.high) {
        if (!this.engaged) {
          this.engaged = true;
          this.engagements += 1;
          this.options.onEngaged?.(this.busQueue.length);
        }
        this.parkedBatches += 1;
        this.options.onParked?.();
        this.parked.push(() => next.call(client, error));
        return;
      }
      next.call(client, error);
    };
  }

  /** The bus took a message off its queue: resume parked clients once it is at the low mark. */
  onBusShift(): void {
    if (this.parked.length === 0 || this.busQueue.length > this.low) return;
    this.engaged = false;
    const resume = this.parked;
    this.parked = [];
    // Not from inside the bus' own shift: a resumed client publishes straight back into the bus.
    setImmediate(() => {
      for (const run of resume) run();
    });
  }
}
