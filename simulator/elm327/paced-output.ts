/**
 * The adapter's UART transmitter: bytes leave no faster than the configured baud rate allows
 * (8N1 = 10 bits a byte, so 38400 baud ≈ 3.84 bytes/ms), in the order they were queued.
 *
 * Bound: at most `maxQueuedBytes` wait; beyond that new bytes are dropped and counted in
 * `droppedBytes` (a real adapter's transmit buffer overruns the same way when nobody reads).
 * Listeners are called asynchronously, never from inside `write`.
 */
export interface PacedOutputOptions {
  /** Bits per second; 0 sends as fast as the event loop goes. */
  baudRate: number;
  maxQueuedBytes?: number;
  /** Monotonic clock in ms (tests inject it). */
  now?: () => number;
}

const TICK_MS = 2;

export class PacedOutput {
  private readonly bytesPerMs: number;
  private readonly maxQueued: number;
  private readonly now: () => number;
  private readonly listeners = new Set<(bytes: Uint8Array) => void>();
  private queue: Uint8Array[] = [];
  private queued = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private credit = 0;
  private lastMs = 0;
  private idleWaiters: (() => void)[] = [];
  droppedBytes = 0;
  sentBytes = 0;

  constructor(options: PacedOutputOptions) {
    this.bytesPerMs = options.baudRate > 0 ? options.baudRate / 10 / 1000 : Number.POSITIVE_INFINITY;
    this.maxQueued = options.maxQueuedBytes ?? 64 * 1024;
    this.now = options.now ?? (() => performance.now());
  }

  onData(listener: (bytes: Uint8Array) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Bytes queued and not yet sent. */
  get pending(): number {
    return this.queued;
  }

  write(data: string | Uint8Array): void {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    if (bytes.length === 0) return;
    if (this.queued + bytes.length > this.maxQueued) {
      this.droppedBytes += bytes.length;
      return;
    }
    this.queue.push(bytes);
    this.queued += bytes.length;
    this.schedule();
  }

  /** Forgets what is queued (a reset, or the port went away). */
  clear(): void {
    this.queue = [];
    this.queued = 0;
    this.resolveIdle();
  }

  /** Resolves once everything queued so far has been handed to the listeners. */
  idle(): Promise<void> {
    if (this.queued === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = this.immediate = undefined;
    this.clear();
  }

  private schedule(): void {
    if (this.timer || this.immediate) return;
    this.immediate = setImmediate(() => {
      this.immediate = undefined;
      if (this.bytesPerMs === Number.POSITIVE_INFINITY) {
        if (this.queued > 0) this.send(this.queued);
        return;
      }
      // Starting from idle: the first byte goes out at once; idle time earns no burst credit.
      this.lastMs = this.now();
      this.credit = 1;
      this.tick();
    });
  }

  private tick(): void {
    const t = this.now();
    this.credit += (t - this.lastMs) * this.bytesPerMs;
    this.lastMs = t;
    const n = Math.min(this.queued, Math.floor(this.credit));
    if (n > 0) {
      this.credit -= n;
      this.send(n);
    }
    if (this.queued > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.tick();
      }, TICK_MS);
    } else {
      this.credit = 0;
    }
  }

  private send(n: number): void {
    const parts: Uint8Array[] = [];
    let left = n;
    while (left > 0 && this.queue.length > 0) {
      const head = this.queue[0]!;
      if (head.length <= left) {
        parts.push(head);
        this.queue.shift();
        left -= head.length;
      } else {
        parts.push(head.subarray(0, left));
        this.queue[0] = head.subarray(left);
        left = 0;
      }
    }
    const chunk = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    this.queued -= chunk.length;
    this.sentBytes += chunk.length;
    for (const listener of this.listeners) listener(chunk);
    if (this.queued === 0) this.resolveIdle();
  }

  private resolveIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
