/**
 * Raw telemetry archive: every sample ingest has durably accepted, also written as Parquet files
 * partitioned by event-time day (layout in contracts/archive-layout.ts), the input for retraining.
 *
 * Where it is fed from: the telemetry stream (ingest/streams/), once a batch's record is durable
 * in the spool (and from spool replay on start); ArchiveStream plugs it into ingest. Not from the InfluxDB forwarder:
 * the archive must keep filling while InfluxDB is down, and the spool already is the durable
 * copy we need for recovery.
 *
 * Guarantees:
 * - Only spooled (acknowledgeable) data reaches `add()`; files are written under a temporary
 *   dot-name, fdatasynced, then renamed, so a reader never sees a partial file.
 * - Bounded: a file is cut when `maxRowsPerFile` rows are buffered or `maxFileAgeMs` after the
 *   oldest buffered row arrived; row groups hold at most `rowGroupRows` rows. Files written, rows
 *   written, bytes written and write failures are counted.
 * - Crash safety, at-least-once: while rows are buffered, `retentionFloor()` holds the spool
 *   segments they came from (ingest combines it with the other streams' floors), so after a crash
 *   the spool replay feeds them again. Rows of replayed segments that were already in a file are
 *   archived twice; readers drop repeats by (vehicle, t), the same key InfluxDB uses. Broker
 *   redeliveries are repeats of the same kind. Only a full spool can free held segments early
 *   (DiskSpool's counted retention override); rows buffered then are lost on a crash.
 * - A failing write (disk full) keeps the rows buffered and is retried at most every 5 s; beyond
 *   `maxBufferedRows` the oldest buffered rows are dropped and counted (`rowsDropped`).
 * - Retention (`retentionDays`): day directories whose whole day is older are deleted at start
 *   and hourly (./archive-retention.ts); days, files and bytes deleted are counted.
 * - Writing is synchronous on the caller's thread: about 4 µs per sample to encode, so a
 *   50,000-row file holds the event loop for about 0.2 s (docs/benchmarks.md, "Archive").
 */
import { closeSync, fdatasyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { ColumnSource } from 'hyparquet-writer';
import type { Sample } from '../../contracts/telemetry.ts';
import { errorMessage } from '../../common/errors.ts';
import { type Logger, silentLogger } from '../../common/logger.ts';
import { ARCHIVE_SIGNALS, dayOf, safeWorker } from '../../contracts/archive-layout.ts';
import { pruneArchive } from './archive-retention.ts';

export interface ArchiveSinkOptions {
  dir: string;
  /** Part of every file name, so workers sharing a directory never collide. */
  worker: string;
  maxRowsPerFile?: number;
  maxFileAgeMs?: number;
  rowGroupRows?: number;
  maxBufferedRows?: number;
  /** Day directories older than this many days are deleted; undefined or 0 = kept forever. */
  retentionDays?: number;
  logger?: Logger;
}

export interface ArchiveStats {
  rowsBuffered: number;
  rowsWritten: number;
  filesWritten: number;
  bytesWritten: number;
  writeFailures: number;
  rowsDropped: number;
  /** Time spent encoding and writing files (ms), on the caller's thread. */
  writeMs: number;
  /** Day directories (and their files, bytes) deleted by retention. */
  daysPruned: number;
  filesPruned: number;
  bytesPruned: number;
}

interface Row {
  vehicle: string;
  sample: Sample;
}

export class ArchiveSink {
  private readonly log: Logger;
  private readonly maxRowsPerFile: number;
  private readonly maxFileAgeMs: number;
  private readonly rowGroupRows: number;
  private readonly maxBufferedRows: number;
  private readonly worker: string;
  /** Buffered rows with the spool segment each came from, oldest first. */
  private rows: Row[] = [];
  private segments: number[] = [];
  /** Lowest of `segments` (kept so the spool can ask on every commit without a scan). */
  private floor = Infinity;
  private oldestAt = 0;
  /** After a failed write, no new attempt before this (a full disk must not cost an encode per batch). */
  private retryAfter = 0;
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private counters = { rowsWritten: 0, filesWritten: 0, bytesWritten: 0, writeFailures: 0, rowsDropped: 0, writeMs: 0, daysPruned: 0, filesPruned: 0, bytesPruned: 0 };
  private nextPruneAt = 0;

  constructor(private readonly options: ArchiveSinkOptions) {
    this.log = options.logger ?? silentLogger;
    this.maxRowsPerFile = options.maxRowsPerFile ?? 50_000;
    this.maxFileAgeMs = options.maxFileAgeMs ?? 60_000;
    this.rowGroupRows = options.rowGroupRows ?? 10_000;
    this.maxBufferedRows = options.maxBufferedRows ?? this.maxRowsPerFile * 4;
    this.worker = safeWorker(options.worker);
    mkdirSync(options.dir, { recursive: true });
  }

  /** Checks the age bound every so often; `close()` stops it. */
  start(): void {
    this.timer ??= setInterval(() => this.tick(Date.now()), Math.max(50, Math.min(1000, this.maxFileAgeMs / 4)));
    this.timer.unref();
  }

  /** Adds samples of one vehicle that are in spool segment `segment` (already durable there). */
  add(vehicle: string, samples: readonly Sample[], segment: number): void {
    if (samples.length === 0) return;
    if (this.rows.length === 0) this.oldestAt = Date.now();
    for (const sample of samples) {
      this.rows.push({ vehicle, sample });
      this.segments.push(segment);
    }
    if (segment < this.floor) this.floor = segment;
    if (this.rows.length >= this.maxRowsPerFile && Date.now() >= this.retryAfter) this.flush();
  }

  /** Lowest spool segment with rows not yet in a complete file; Infinity when none. */
  retentionFloor(): number {
    return this.floor;
  }

  tick(now: number): void {
    if (this.options.retentionDays && now >= this.nextPruneAt) {
      this.nextPruneAt = now + 3_600_000;
      this.prune(now);
    }
    if (this.rows.length > 0 && now - this.oldestAt >= this.maxFileAgeMs && now >= this.retryAfter) this.flush();
  }

  /** Writes every buffered row (one file per day present). Returns false when a write failed. */
  flush(): boolean {
    if (this.rows.length === 0) return true;
    const byDay = new Map<string, number[]>();
    this.rows.forEach((r, i) => {
      const day = dayOf(r.sample.t);
      const list = byDay.get(day);
      if (list) list.push(i);
      else byDay.set(day, [i]);
    });
    const written = new Set<number>();
    let ok = true;
    for (const [day, indices] of byDay) {
      try {
        this.writeFile(day, indices.map((i) => this.rows[i]!));
        for (const i of indices) written.add(i);
      } catch (error) {
        ok = false;
        this.counters.writeFailures += 1;
        this.log.error('archive write failed; rows stay buffered', { day, rows: indices.length, error: errorMessage(error) });
      }
    }
    const keptRows: Row[] = [];
    const keptSegments: number[] = [];
    this.rows.forEach((r, i) => {
      if (written.has(i)) return;
      keptRows.push(r);
      keptSegments.push(this.segments[i]!);
    });
    if (keptRows.length > this.maxBufferedRows) {
      const drop = keptRows.length - this.maxBufferedRows;
      keptRows.splice(0, drop);
      keptSegments.splice(0, drop);
      this.counters.rowsDropped += drop;
      this.log.error('archive buffer over its bound; oldest rows dropped', { dropped: drop });
    }
    this.rows = keptRows;
    this.segments = keptSegments;
    this.floor = Infinity;
    for (const segment of keptSegments) if (segment < this.floor) this.floor = segment;
    if (!ok) this.retryAfter = Date.now() + Math.min(this.maxFileAgeMs, 5000);
    return ok;
  }

  private writeFile(day: string, rows: Row[]): void {
    const started = performance.now();
    rows.sort((a, b) => (a.vehicle < b.vehicle ? -1 : a.vehicle > b.vehicle ? 1 : a.sample.t - b.sample.t));
    const columns: ColumnSource[] = [
      { name: 'vehicle', data: rows.map((r) => r.vehicle), type: 'STRING', nullable: false },
      { name: 't', data: rows.map((r) => BigInt(r.sample.t)), type: 'INT64', nullable: false, encoding: 'DELTA_BINARY_PACKED' },
      ...ARCHIVE_SIGNALS.map((name): ColumnSource => ({ name, data: rows.map((r) => r.sample[name] ?? null), type: 'DOUBLE' })),
    ];
    const buffer = new Uint8Array(parquetWriteBuffer({ columnData: columns, rowGroupSize: this.rowGroupRows, createdBy: 'fleetpulse ingest archive' }));
    const dayDir = join(this.options.dir, `date=${day}`);
    mkdirSync(dayDir, { recursive: true });
    const name = `part-${this.worker}-${String(Date.now()).padStart(13, '0')}-${String(this.seq++).padStart(6, '0')}.parquet`;
    const temp = join(dayDir, `.${name}.tmp`);
    const fd = openSync(temp, 'w');
    try {
      for (let at = 0; at < buffer.length; ) at += writeSync(fd, buffer, at, buffer.length - at);
      fdatasyncSync(fd);
    } catch (error) {
      closeSync(fd);
      try {
        unlinkSync(temp);
      } catch {
        /* already gone */
      }
      throw error;
    }
    closeSync(fd);
    renameSync(temp, join(dayDir, name));
    // The rename itself survives power loss only once the directory is synced.
    const dirFd = openSync(dayDir, 'r');
    try {
      fdatasyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    this.counters.filesWritten += 1;
    this.counters.rowsWritten += rows.length;
    this.counters.bytesWritten += buffer.length;
    this.counters.writeMs += performance.now() - started;
  }

  /** Deletes day directories past `retentionDays` (nothing without it). */
  prune(now = Date.now()): void {
    if (!this.options.retentionDays) return;
    const pruned = pruneArchive(this.options.dir, this.options.retentionDays, now, this.log);
    this.counters.daysPruned += pruned.daysDeleted;
    this.counters.filesPruned += pruned.filesDeleted;
    this.counters.bytesPruned += pruned.bytesDeleted;
  }

  stats(): ArchiveStats {
    return { rowsBuffered: this.rows.length, ...this.counters };
  }

  /** Writes what is buffered and stops the timer. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.flush();
  }
}
