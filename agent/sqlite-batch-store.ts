/**
 * The disk BatchStore of a real car: one SQLite database (better-sqlite3) per vehicle.
 *
 * Durability (see docs/agent.md):
 * - WAL journal. Appends commit with `synchronous=FULL`: the WAL is fsynced before `append`
 *   returns, so a batch the agent has stored survives a process kill and a power loss.
 * - Deletions (PUBACKs) commit with `synchronous=NORMAL`: no fsync of their own; they become
 *   durable with the next append's fsync or checkpoint. A power loss may therefore bring back a
 *   batch the broker already acknowledged; it is sent again and ingest's idempotent key
 *   (vehicle, event time) absorbs it. SQLite guarantees a consistent database in both modes.
 * - `locking_mode=EXCLUSIVE`: a second agent on the same file fails at start instead of sending
 *   the same batches twice; the lock dies with the process, so a killed agent restarts cleanly.
 * - Bound: the sum of the stored batches' bytes (`maxBytes`); the file itself is larger by
 *   SQLite's page overhead and reuses freed pages, so it stops growing at the bound.
 * - Dropped counters, the next sequence number and the last event time live in the database and
 *   are updated in the same transaction as the batches, so they survive restarts.
 * - Full disk (or any failed write): a batch the database cannot take is held in memory instead
 *   (bounded by `memoryHoldSamples`; at the bound the oldest held batches not on the wire are
 *   dropped and counted) and is published from there like any other. Held batches are always newer
 *   than every batch on disk, and every later append first moves them to disk, oldest first, so
 *   order is kept and they reach the disk as soon as it has room. They do not survive the process
 *   while held (counted: `heldInMemoryBatchesTotal`; `close()` makes a last attempt and logs what is
 *   lost). Memory drops join the persisted drop counters with the next successful write. An
 *   acknowledgement whose DELETE fails is remembered and retried; until then the batch is not handed
 *   out again (after a restart it would be: sent twice, stored once).
 * - A low-disk watermark (`lowDiskBytes`, disk-space-watch.ts) warns before the wall.
 */
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ConfigError, errorMessage } from '../common/errors.ts';
import { type Logger, silentLogger } from '../common/logger.ts';
import type { Sample } from '../contracts/telemetry.ts';
import type { BatchStore, BatchStoreStats, DropReport, RecordBatch, StoredBatch, Timed } from './batch-store.ts';
import { DiskSpaceWatch } from './disk-space-watch.ts';
import { MemoryBatchStore } from './memory-batch-store.ts';

/** Per-row overhead counted against the bound besides the body (key, counts, times). */
const ROW_OVERHEAD_BYTES = 32;
const SCHEMA_VERSION = 1;

export interface SqliteBatchStoreOptions {
  file: string;
  vehicleId: string;
  /** Bound on the stored batches' bytes. */
  maxBytes: number;
  /** Bound of the batches held in memory while the disk refuses writes, in samples. Default 10,000. */
  memoryHoldSamples?: number;
  /** Free space below which a warning is logged. Default 32 MiB. */
  lowDiskBytes?: number;
  /** How often free space is checked (at an append), ms. Default 10,000. */
  diskCheckIntervalMs?: number;
  logger?: Logger;
}

export const DEFAULT_MEMORY_HOLD_SAMPLES = 10_000;
export const DEFAULT_LOW_DISK_BYTES = 32 * 1024 * 1024;

type Meta = 'schema_version' | 'vehicle' | 'next_seq' | 'last_t' | 'dropped_batches' | 'dropped_samples';

export class SqliteBatchStore<R extends Timed = Sample> implements BatchStore<R> {
  readonly kind = 'disk' as const;
  private readonly db: Database.Database;
  private readonly log: Logger;
  private seq = 0;
  private lastT: number | undefined;
  private totals = { batches: 0, samples: 0, bytes: 0 };
  private dropped = { batches: 0, samples: 0 };
  private readonly sql;
  private synchronous: 'FULL' | 'NORMAL' | undefined;
  /** Batches the disk refused, newer than every stored one (see the module comment). */
  private readonly held: MemoryBatchStore<R>;
  private heldTotal = 0;
  /** Drops of held batches not yet added to the persisted counters. */
  private heldDropsUnsaved = { batches: 0, samples: 0 };
  /** Acknowledged batches whose DELETE failed: seq → counted size. */
  private readonly undeleted = new Map<number, { samples: number; bytes: number }>();
  private diskRefusing = false;
  private readonly space: DiskSpaceWatch;

  constructor(private readonly options: SqliteBatchStoreOptions) {
    if (!(options.maxBytes >= 1024)) throw new RangeError('disk buffer bound must be at least 1 KiB');
    this.log = options.logger ?? silentLogger;
    this.held = new MemoryBatchStore<R>(options.memoryHoldSamples ?? DEFAULT_MEMORY_HOLD_SAMPLES);
    mkdirSync(dirname(options.file), { recursive: true });
    this.space = new DiskSpaceWatch(dirname(options.file), options.lowDiskBytes ?? DEFAULT_LOW_DISK_BYTES, options.diskCheckIntervalMs ?? 10_000, this.log);
    this.db = openChecked(options.file, this.log);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS batches (
        seq INTEGER PRIMARY KEY, samples INTEGER NOT NULL, first_t INTEGER NOT NULL,
        last_t INTEGER NOT NULL, body BLOB NOT NULL);
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;`);
    this.sql = {
      getMeta: this.db.prepare<[Meta], { value: number | string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: this.db.prepare<[Meta, number | string]>('INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      insert: this.db.prepare<[number, number, number, number, Buffer]>('INSERT INTO batches(seq, samples, first_t, last_t, body) VALUES (?, ?, ?, ?, ?)'),
      oldest: this.db.prepare<[], { seq: number; samples: number; bytes: number }>('SELECT seq, samples, length(body) AS bytes FROM batches ORDER BY seq'),
      remove: this.db.prepare<[number], { samples: number; bytes: number }>('DELETE FROM batches WHERE seq = ? RETURNING samples, length(body) AS bytes'),
      next: this.db.prepare<[number, number], { seq: number; samples: number; body: Buffer }>('SELECT seq, samples, body FROM batches WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT 1'),
      size: this.db.prepare<[number], { samples: number; bytes: number }>('SELECT samples, length(body) AS bytes FROM batches WHERE seq = ?'),
      maxSeq: this.db.prepare<[], { seq: number | null }>('SELECT max(seq) AS seq FROM batches'),
      totals: this.db.prepare<[], { batches: number; samples: number; bytes: number }>('SELECT count(*) AS batches, coalesce(sum(samples), 0) AS samples, coalesce(sum(length(body)), 0) AS bytes FROM batches'),
    };
    this.load();
  }

  private load(): void {
    const meta = (key: Meta) => this.sql.getMeta.get(key)?.value;
    const vehicle = meta('vehicle');
    if (vehicle !== undefined && vehicle !== this.options.vehicleId) {
      this.db.close();
      throw new ConfigError('agent', [{ field: 'bufferFile', message: `${this.options.file} holds the buffer of vehicle ${String(vehicle)}, not ${this.options.vehicleId}` }]);
    }
    // Taking the write lock here makes a second agent on this file fail now, not later.
    this.db.transaction(() => {
      this.sql.setMeta.run('schema_version', SCHEMA_VERSION);
      this.sql.setMeta.run('vehicle', this.options.vehicleId);
    })();
    const t = this.sql.totals.get()!;
    this.totals = { batches: t.batches, samples: t.samples, bytes: t.bytes + t.batches * ROW_OVERHEAD_BYTES };
    const maxSeq = this.sql.maxSeq.get()?.seq ?? -1;
    this.seq = Math.max(Number(meta('next_seq') ?? 0), maxSeq + 1);
    const lastT = meta('last_t');
    this.lastT = lastT === undefined ? undefined : Number(lastT);
    this.dropped = { batches: Number(meta('dropped_batches') ?? 0), samples: Number(meta('dropped_samples') ?? 0) };
  }

  get nextSeq(): number {
    return Math.max(this.seq, this.held.nextSeq);
  }

  get lastEventTime(): number | undefined {
    const held = this.held.lastEventTime;
    return held === undefined || this.lastT === undefined ? (held ?? this.lastT) : Math.max(held, this.lastT);
  }

  append(batch: RecordBatch<R>, protect: ReadonlySet<number> = new Set()): DropReport {
    if (batch.seq < this.nextSeq) throw new RangeError(`batch seq ${batch.seq} is below the next seq ${this.nextSeq}`);
    if (!batch.samples[0]) throw new RangeError('an empty batch cannot be stored');
    this.space.check();
    this.deleteAcknowledged();
    const report: DropReport = { batches: 0, samples: 0, seqs: [] };
    // Held batches first, oldest first: the disk keeps seq order, and they are safer there.
    for (let entry = this.held.next(-1); entry; entry = this.held.next(-1)) {
      if (!this.tryWrite(entry.batch, protect, report)) break;
      this.held.acknowledge(entry.seq);
    }
    if (this.held.stats().queuedBatches > 0 || !this.tryWrite(batch, protect, report)) this.hold(batch, protect, report);
    return report;
  }

  /** Writes to disk; false (logged, disk state updated) when the database refused it. */
  private tryWrite(batch: RecordBatch<R>, protect: ReadonlySet<number>, report: DropReport): boolean {
    let dropped: DropReport;
    try {
      dropped = this.write(batch, protect);
    } catch (error) {
      if (!this.diskRefusing) {
        this.diskRefusing = true;
        this.space.invalidate();
        const space = this.space.check();
        this.log.warn('disk full or failing: holding new batches in memory until it takes them again', { error: errorMessage(error), code: sqliteCode(error), freeBytes: space.freeBytes, memoryBoundSamples: this.held.stats().bound });
      }
      return false;
    }
    if (this.diskRefusing) {
      this.diskRefusing = false;
      this.log.info('disk writable again: held batches written to it', { heldInMemoryBatches: this.held.stats().queuedBatches });
    }
    report.batches += dropped.batches;
    report.samples += dropped.samples;
    report.seqs.push(...dropped.seqs);
    return true;
  }

  private hold(batch: RecordBatch<R>, protect: ReadonlySet<number>, report: DropReport): void {
    const dropped = this.held.append(batch, protect);
    this.heldTotal += 1;
    this.heldDropsUnsaved.batches += dropped.batches;
    this.heldDropsUnsaved.samples += dropped.samples;
    report.batches += dropped.batches;
    report.samples += dropped.samples;
    report.seqs.push(...dropped.seqs);
  }

  /** Retries the DELETEs of acknowledged batches that failed (full disk). */
  private deleteAcknowledged(): void {
    if (this.undeleted.size === 0) return;
    try {
      this.setSynchronous('NORMAL');
      this.db.transaction(() => {
        for (const seq of this.undeleted.keys()) this.sql.remove.run(seq);
      })();
      this.undeleted.clear();
    } catch {
      // Still refused: kept for the next attempt.
    }
  }

  private write(batch: RecordBatch<R>, protect: ReadonlySet<number>): DropReport {
    const first = batch.samples[0]!;
    const last = batch.samples[batch.samples.length - 1]!;
    const unsaved = this.heldDropsUnsaved;
    const body = Buffer.from(JSON.stringify(batch.samples), 'utf8');
    const bytes = body.length + ROW_OVERHEAD_BYTES;
    const report: DropReport = { batches: 0, samples: 0, seqs: [] };
    let droppedBytes = 0;
    this.setSynchronous('FULL');
    this.db.transaction(() => {
      let excess = this.totals.bytes + bytes - this.options.maxBytes;
      if (excess > 0) {
        const victims: Array<{ seq: number; samples: number; bytes: number }> = [];
        for (const row of this.sql.oldest.iterate()) {
          if (excess <= 0) break;
          if (protect.has(row.seq) || this.undeleted.has(row.seq)) continue;
          victims.push(row);
          excess -= row.bytes + ROW_OVERHEAD_BYTES;
        }
        for (const v of victims) {
          this.sql.remove.run(v.seq);
          report.batches += 1;
          report.samples += v.samples;
          report.seqs.push(v.seq);
          droppedBytes += v.bytes + ROW_OVERHEAD_BYTES;
        }
      }
      if (report.batches > 0 || unsaved.batches > 0) {
        this.sql.setMeta.run('dropped_batches', this.dropped.batches + report.batches + unsaved.batches);
        this.sql.setMeta.run('dropped_samples', this.dropped.samples + report.samples + unsaved.samples);
      }
      this.sql.insert.run(batch.seq, batch.samples.length, first.t, last.t, body);
      this.sql.setMeta.run('next_seq', batch.seq + 1);
      this.sql.setMeta.run('last_t', last.t);
    })();
    // Only after the commit: a failed transaction leaves the counters as they were.
    this.dropped.batches += report.batches + unsaved.batches;
    this.dropped.samples += report.samples + unsaved.samples;
    this.heldDropsUnsaved = { batches: 0, samples: 0 };
    this.totals.batches += 1 - report.batches;
    this.totals.samples += batch.samples.length - report.samples;
    this.totals.bytes += bytes - droppedBytes;
    this.seq = batch.seq + 1;
    this.lastT = last.t;
    return report;
  }

  next(afterSeq: number, upToSeq = Number.MAX_SAFE_INTEGER): StoredBatch<R> | undefined {
    let row = this.sql.next.get(afterSeq, upToSeq);
    while (row && this.undeleted.has(row.seq)) row = this.sql.next.get(row.seq, upToSeq);
    // Held batches are newer than every stored one.
    if (!row) return this.held.next(afterSeq, upToSeq);
    const samples = JSON.parse(row.body.toString('utf8')) as R[];
    return {
      seq: row.seq,
      samples: row.samples,
      bytes: row.body.length + ROW_OVERHEAD_BYTES,
      batch: { v: 1, vehicle: this.options.vehicleId, seq: row.seq, samples },
    };
  }

  acknowledge(seq: number): number | undefined {
    const held = this.held.acknowledge(seq);
    if (held !== undefined) return held;
    if (this.undeleted.has(seq)) return undefined;
    let row: { samples: number; bytes: number } | undefined;
    try {
      this.setSynchronous('NORMAL');
      // In a transaction of its own: `get` alone resets the statement after the first row, and a
      // COMMIT that fails there (full disk) is not reported: the row silently came back.
      row = this.db.transaction(() => this.sql.remove.get(seq))();
    } catch (error) {
      // A DELETE needs room in the WAL too. Reading still works: remember it, delete it later.
      row = this.sql.size.get(seq);
      if (!row) return undefined;
      if (this.undeleted.size === 0) this.log.warn('disk refused deleting acknowledged batches; retrying with the next write', { error: errorMessage(error), code: sqliteCode(error) });
      this.undeleted.set(seq, row);
    }
    if (!row) return undefined;
    this.totals.batches -= 1;
    this.totals.samples -= row.samples;
    this.totals.bytes -= row.bytes + ROW_OVERHEAD_BYTES;
    return row.samples;
  }

  maxStoredSeq(): number {
    return Math.max(this.held.maxStoredSeq(), this.sql.maxSeq.get()?.seq ?? -1);
  }

  stats(): BatchStoreStats {
    const held = this.held.stats();
    const space = this.space.check();
    return {
      queuedBatches: this.totals.batches + held.queuedBatches,
      queuedSamples: this.totals.samples + held.queuedSamples,
      queuedBytes: this.totals.bytes + held.queuedBytes,
      bound: this.options.maxBytes,
      boundUnit: 'bytes',
      droppedBatches: this.dropped.batches + this.heldDropsUnsaved.batches,
      droppedSamples: this.dropped.samples + this.heldDropsUnsaved.samples,
      disk: {
        full: this.diskRefusing,
        low: space.low,
        ...(space.freeBytes !== undefined ? { freeBytes: space.freeBytes } : {}),
        heldInMemoryBatches: held.queuedBatches,
        heldInMemorySamples: held.queuedSamples,
        heldInMemoryBatchesTotal: this.heldTotal,
        memoryBoundSamples: held.bound,
      },
    };
  }

  close(): void {
    if (!this.db.open) return;
    // A last chance for held batches; what the disk still refuses is lost with the process.
    const report: DropReport = { batches: 0, samples: 0, seqs: [] };
    for (let entry = this.held.next(-1); entry; entry = this.held.next(-1)) {
      if (!this.tryWrite(entry.batch, new Set(), report)) break;
      this.held.acknowledge(entry.seq);
    }
    const lost = this.held.stats();
    if (lost.queuedBatches > 0) this.log.error('closing with batches held in memory that the disk refused: they are lost', { batches: lost.queuedBatches, samples: lost.queuedSamples });
    this.deleteAcknowledged();
    this.db.close();
  }

  private setSynchronous(mode: 'FULL' | 'NORMAL'): void {
    if (this.synchronous === mode) return;
    this.db.pragma(`synchronous = ${mode}`);
    this.synchronous = mode;
  }
}

/**
 * Opens the database in WAL mode and checks it. SQLite does not corrupt its files on a crash or
 * power loss, but a damaged SD card can; such a file is moved aside (kept for inspection) and a
 * new buffer starts, which is logged as an error rather than keeping the car from sending.
 */
function openChecked(file: string, log: Logger): Database.Database {
  const open = (): Database.Database => {
    const db = new Database(file, { timeout: 500 });
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.pragma('journal_size_limit = 8388608');
    return db;
  };
  let db: Database.Database | undefined;
  let check: string;
  try {
    db = open();
    check = String(db.pragma('quick_check', { simple: true }));
  } catch (error) {
    db?.close();
    if (sqliteCode(error).startsWith('SQLITE_BUSY')) {
      throw new ConfigError('agent', [{ field: 'bufferFile', message: `${file} is in use by another agent process` }]);
    }
    if (!/^SQLITE_(CORRUPT|NOTADB)/.test(sqliteCode(error))) throw error;
    check = error instanceof Error ? error.message : String(error);
  }
  if (check !== 'ok' || !db) {
    db?.close();
    const aside = `${file}.corrupt-${Date.now()}`;
    log.error('disk buffer failed its integrity check; moved aside, starting a new one', { file, aside, check });
    renameSync(file, aside);
    if (existsSync(`${file}-wal`)) renameSync(`${file}-wal`, `${aside}-wal`);
    db = open();
  }
  return db;
}

function sqliteCode(error: unknown): string {
  return typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : '';
}
