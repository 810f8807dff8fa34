/**
 * The in-memory BatchStore: for tests and simulated fleets (`simulate fleet`, `up`), where twenty
 * vehicles in one process should not each keep a SQLite file. Bounded by samples; at the bound the
 * oldest batches not on the wire are dropped and counted. Nothing survives the process.
 */
import type { Sample } from '../contracts/telemetry.ts';
import type { BatchStore, BatchStoreStats, DropReport, RecordBatch, StoredBatch, Timed } from './batch-store.ts';

export class MemoryBatchStore<R extends Timed = Sample> implements BatchStore<R> {
  readonly kind = 'memory' as const;
  // Appends come in increasing seq order, so insertion order is seq order.
  private readonly entries = new Map<number, StoredBatch<R>>();
  private samples = 0;
  private bytes = 0;
  private droppedBatches = 0;
  private droppedSamples = 0;
  private seq = 0;
  private lastT: number | undefined;

  constructor(private readonly maxSamples: number) {
    if (!(maxSamples >= 1)) throw new RangeError('memory buffer bound must be at least one sample');
  }

  get nextSeq(): number {
    return this.seq;
  }

  get lastEventTime(): number | undefined {
    return this.lastT;
  }

  append(batch: RecordBatch<R>, protect: ReadonlySet<number> = new Set()): DropReport {
    if (batch.seq < this.seq) throw new RangeError(`batch seq ${batch.seq} is below the next seq ${this.seq}`);
    if (!batch.samples[0]) throw new RangeError('an empty batch cannot be stored');
    // Approximate stored size (what JSON storage would take), for stats only.
    const bytes = 16 + batch.samples.length * 60;
    this.entries.set(batch.seq, { seq: batch.seq, samples: batch.samples.length, bytes, batch });
    this.samples += batch.samples.length;
    this.bytes += bytes;
    this.seq = batch.seq + 1;
    this.lastT = batch.samples[batch.samples.length - 1]?.t ?? this.lastT;
    const report: DropReport = { batches: 0, samples: 0, seqs: [] };
    if (this.samples <= this.maxSamples) return report;
    for (const entry of this.entries.values()) {
      if (this.samples <= this.maxSamples) break;
      if (entry.seq === batch.seq || protect.has(entry.seq)) continue;
      this.remove(entry.seq);
      report.batches += 1;
      report.samples += entry.samples;
      report.seqs.push(entry.seq);
    }
    this.droppedBatches += report.batches;
    this.droppedSamples += report.samples;
    return report;
  }

  next(afterSeq: number, upToSeq = Number.MAX_SAFE_INTEGER): StoredBatch<R> | undefined {
    for (const entry of this.entries.values()) {
      if (entry.seq > upToSeq) return undefined;
      if (entry.seq > afterSeq) return entry;
    }
    return undefined;
  }

  acknowledge(seq: number): number | undefined {
    return this.remove(seq)?.samples;
  }

  maxStoredSeq(): number {
    let max = -1;
    for (const seq of this.entries.keys()) max = seq;
    return max;
  }

  stats(): BatchStoreStats {
    return {
      queuedBatches: this.entries.size,
      queuedSamples: this.samples,
      queuedBytes: this.bytes,
      bound: this.maxSamples,
      boundUnit: 'samples',
      droppedBatches: this.droppedBatches,
      droppedSamples: this.droppedSamples,
    };
  }

  close(): void {}

  private remove(seq: number): StoredBatch<R> | undefined {
    const entry = this.entries.get(seq);
    if (!entry) return undefined;
    this.entries.delete(seq);
    this.samples -= entry.samples;
    this.bytes -= entry.bytes;
    return entry;
  }
}
