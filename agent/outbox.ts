/**
 * Batches waiting for the broker's PUBACK, oldest first, bounded by the number of samples they
 * hold. At the bound the oldest batch not already on the wire is dropped and counted: in a car,
 * fresh data is worth more than old data when memory runs out. (The disk buffer that replaces
 * this for long outages keeps the same contract.)
 */
import type { TelemetryBatch } from '../contracts/telemetry.ts';

interface Entry {
  batch: TelemetryBatch;
  inflight: boolean;
}

export interface OutboxStats {
  queuedBatches: number;
  queuedSamples: number;
  droppedBatches: number;
  droppedSamples: number;
}

export class Outbox {
  private readonly entries = new Map<number, Entry>();
  private samples = 0;
  private droppedBatches = 0;
  private droppedSamples = 0;

  constructor(private readonly maxSamples: number) {
    if (!(maxSamples >= 1)) throw new RangeError('outbox bound must be at least one sample');
  }

  /** Adds a batch; returns the batches dropped to make room (normally none). */
  add(batch: TelemetryBatch): TelemetryBatch[] {
    const dropped: TelemetryBatch[] = [];
    this.entries.set(batch.seq, { batch, inflight: false });
    this.samples += batch.samples.length;
    while (this.samples > this.maxSamples) {
      const victim = [...this.entries.values()].find((e) => !e.inflight && e.batch !== batch) ?? undefined;
      if (!victim) break;
      this.remove(victim.batch.seq);
      this.droppedBatches += 1;
      this.droppedSamples += victim.batch.samples.length;
      dropped.push(victim.batch);
    }
    return dropped;
  }

  /** The oldest batch that is not yet on the wire, marked as on the wire. */
  takeNext(): TelemetryBatch | undefined {
    for (const entry of this.entries.values()) {
      if (!entry.inflight) {
        entry.inflight = true;
        return entry.batch;
      }
    }
    return undefined;
  }

  /** The broker acknowledged the batch: it leaves the outbox. */
  acknowledge(seq: number): TelemetryBatch | undefined {
    return this.remove(seq);
  }

  /** Publishing failed before an acknowledgement: the batch is sent again later, in order. */
  release(seq: number): void {
    const entry = this.entries.get(seq);
    if (entry) entry.inflight = false;
  }

  get inflight(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.inflight) n += 1;
    return n;
  }

  get size(): number {
    return this.entries.size;
  }

  stats(): OutboxStats {
    return {
      queuedBatches: this.entries.size,
      queuedSamples: this.samples,
      droppedBatches: this.droppedBatches,
      droppedSamples: this.droppedSamples,
    };
  }

  private remove(seq: number): TelemetryBatch | undefined {
    const entry = this.entries.get(seq);
    if (!entry) return undefined;
    this.entries.delete(seq);
    this.samples -= entry.batch.samples.length;
    return entry.batch;
  }
}
