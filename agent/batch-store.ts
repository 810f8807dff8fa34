/**
 * Where the agent keeps batches between building them and the broker's PUBACK (store-and-forward).
 *
 * Contract shared by every implementation:
 * - `append` returns only when the batch is stored (for the disk store: committed to SQLite with
 *   `synchronous=FULL`, so it survives a process kill and a power loss). The agent publishes a
 *   batch only after `append` returned.
 * - A batch leaves the store only through `acknowledge` (the broker's PUBACK) or the bound's
 *   drop-oldest policy, which never touches the batches in `protect` (on the wire) nor the batch
 *   being appended, and is counted (`droppedBatches`/`droppedSamples`, persisted by the disk store).
 * - A disk store whose disk refuses a write holds the batch in memory (bounded, counted, drop-oldest
 *   as above) and hands it out like a stored one, until the disk takes it (sqlite-batch-store.ts).
 * - Batches are read back oldest first by `seq`, which the agent assigns in increasing order and
 *   which the store remembers across restarts (`nextSeq`), so a restarted agent continues the
 *   sequence instead of reusing numbers.
 * - A store keeps records of one kind, anything with an event time `t`: telemetry samples (the
 *   default), or vehicle health events (one per batch, agent/health-publisher.ts). The guarantees
 *   are the same for both; "samples" in counters and bounds means records.
 */
import type { Sample } from '../contracts/telemetry.ts';

/** What a store can keep: a JSON-serialisable record with an event time. */
export interface Timed {
  t: number;
}

/** A batch as stores keep it (a TelemetryBatch is one, without its send time). */
export interface RecordBatch<R extends Timed = Sample> {
  v: 1;
  vehicle: string;
  seq: number;
  samples: R[];
}

export interface StoredBatch<R extends Timed = Sample> {
  seq: number;
  samples: number;
  /** Bytes this batch counts against the bound (its stored form). */
  bytes: number;
  batch: RecordBatch<R>;
}

export interface DropReport {
  batches: number;
  samples: number;
  /** Sequence numbers of the dropped batches, oldest first. */
  seqs: number[];
}

export interface BatchStoreStats {
  queuedBatches: number;
  queuedSamples: number;
  queuedBytes: number;
  /** The bound, in the unit the store counts (bytes for the disk store, samples for memory). */
  bound: number;
  boundUnit: 'bytes' | 'samples';
  droppedBatches: number;
  droppedSamples: number;
  /** Disk stores only: the file system, and the memory hold for batches the disk refused. */
  disk?: DiskBufferState;
}

export interface DiskBufferState {
  /** The last write failed (disk full or failing): new batches are held in memory. */
  full: boolean;
  /** Free space is below the low-disk watermark. */
  low: boolean;
  freeBytes?: number;
  heldInMemoryBatches: number;
  heldInMemorySamples: number;
  /** Batches ever held in memory because the disk refused them. */
  heldInMemoryBatchesTotal: number;
  memoryBoundSamples: number;
}

export interface BatchStore<R extends Timed = Sample> {
  readonly kind: 'disk' | 'memory';
  /** Next sequence number to assign (one past the highest ever appended). */
  readonly nextSeq: number;
  /** Event time of the newest sample ever appended, or undefined for a fresh store. */
  readonly lastEventTime: number | undefined;
  /** Stores `batch` (its seq must be ≥ nextSeq); drops the oldest batches not in `protect` beyond the bound. */
  append(batch: RecordBatch<R>, protect?: ReadonlySet<number>): DropReport;
  /** The oldest stored batch with `afterSeq < seq ≤ upToSeq`. */
  next(afterSeq: number, upToSeq?: number): StoredBatch<R> | undefined;
  /** Removes an acknowledged batch; returns its sample count, or undefined if it was not stored. */
  acknowledge(seq: number): number | undefined;
  /** Highest stored seq, or -1 when empty. */
  maxStoredSeq(): number;
  stats(): BatchStoreStats;
  close(): void;
}

export const NO_DROPS: DropReport = Object.freeze({ batches: 0, samples: 0, seqs: [] }) as DropReport;
