/**
 * The ingest write-ahead log: every accepted message is appended here before it is acknowledged
 * to the broker, and InfluxDB is fed from here (SpoolForwarder), oldest first.
 *
 * Layout: `<dir>/wal-<16-digit segment id>.log`, each a sequence of records
 *
 *   #fp <type> <bodyBytes> <vehicle or -> <closedUpTo or ->\n<body>
 *
 * where the body is InfluxDB line protocol (every line ends in `\n`) and the header is a line
 * protocol comment, so a chunk of a segment can be POSTed as it is. `type` is `t` (telemetry),
 * `f` (features) or `d` (dead letter); `closedUpTo` is the vehicle's window progress, which
 * replay needs (see IngestService).
 *
 * Guarantees:
 * - `append()` returns once the record is written to the file with write(2): from then on it
 *   survives a crash of this process (SIGKILL, OOM). Surviving power loss depends on `fsync`:
 *   `always` fdatasyncs before returning; `interval` fdatasyncs every `fsyncIntervalMs` (power
 *   loss can cost that much acknowledged data); `never` leaves it to the kernel.
 * - Bounded: the segments on disk hold at most `maxBytes` (a single record larger than that is
 *   admitted into an empty spool). At the bound `append()` waits until space is freed; the
 *   caller does not acknowledge meanwhile, so the broker holds further messages (back-pressure).
 *   Waits are counted.
 * - A failed write (disk full, quota, I/O error) is back-pressure too, never loss: the partial
 *   record is cut off again, `append()` waits and retries with backoff (sooner when the reader
 *   frees a segment) until the write succeeds, and the error is reported (`stats().writeError`)
 *   until then. Failed attempts are counted.
 * - Free space on the spool's file system is checked every `diskCheckIntervalMs`; below
 *   `lowDiskBytes` the spool reports `lowDisk` (and logs it once per crossing) before the wall.
 * - Space is freed a whole segment at a time, once the reader has committed past the segment and
 *   no retained window still needs it (`retentionFloor`). When the spool is full, only the
 *   reader's position counts, so windows can never deadlock the spool (counted).
 * - On open, a torn last record (crash or power loss mid-write) is cut off; earlier segments were
 *   fdatasynced when they were closed. Appends always go to a fresh segment.
 */
import { closeSync, fdatasync, fdatasyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readSync, statfs, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Backoff } from '../../common/backoff.ts';
import { codedError, errorMessage } from '../../common/errors.ts';
import { type Logger, silentLogger } from '../../common/logger.ts';

export type FsyncPolicy = 'always' | 'interval' | 'never';
export type SpoolRecordType = 't' | 'f' | 'd';

export interface DiskSpoolOptions {
  dir: string;
  maxBytes: number;
  segmentBytes: number;
  fsync: FsyncPolicy;
  fsyncIntervalMs?: number;
  /** Free bytes on the spool's file system below which it reports `lowDisk`. Default 0 (never). */
  lowDiskBytes?: number;
  /** How often free space is measured (ms). Default 1000. */
  diskCheckIntervalMs?: number;
  /** Backoff between attempts of a failed write (ms). Defaults 50 … 2000. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  logger?: Logger;
}

export interface SpoolPosition {
  segment: number;
  offset: number;
}

export interface SpoolRecord {
  type: SpoolRecordType;
  vehicle: string | undefined;
  closedUpTo: number | undefined;
  body: string;
  segment: number;
}

export interface SpoolStats {
  bytes: number;
  segments: number;
  /** Bytes appended but not yet committed by the reader. */
  pendingBytes: number;
  appendedRecords: number;
  appendedBytes: number;
  fullWaits: number;
  /** Appends waiting now, for room under `maxBytes` or for a failed write to succeed. */
  blockedAppends: number;
  /** Failed write attempts (each retried). */
  writeErrors: number;
  /** The error of the last attempt while a write is failing; undefined once writes succeed. */
  writeError: string | undefined;
  /** Free bytes on the spool's file system at the last check (NaN before the first). */
  diskFreeBytes: number;
  lowDisk: boolean;
  retentionOverrides: number;
  tornBytesDropped: number;
  fsyncs: number;
}

interface Segment {
  id: number;
  path: string;
  size: number;
}

const HEADER = /^#fp ([tfd]) (\d+) (\S+) (\S+)$/;

function segmentName(id: number): string {
  return `wal-${String(id).padStart(16, '0')}.log`;
}

export class DiskSpool {
  private readonly log: Logger;
  private readonly segments: Segment[] = [];
  private active!: Segment;
  private fd = -1;
  private cursor: SpoolPosition;
  private readonly waitingForRoom: Array<() => void> = [];
  private readonly appendListeners: Array<() => void> = [];
  private fsyncTimer: NodeJS.Timeout | undefined;
  private diskTimer: NodeJS.Timeout | undefined;
  private dirty = false;
  private closed = false;
  /** Appends in line (waiting for room or for a failed write to succeed), and the last of them. */
  private waiting = 0;
  private lastInLine: Promise<void> | undefined;
  private writeError: string | undefined;
  private diskFreeBytes = NaN;
  private lowDisk = false;
  private counters = { appendedRecords: 0, appendedBytes: 0, fullWaits: 0, writeErrors: 0, retentionOverrides: 0, tornBytesDropped: 0, fsyncs: 0 };
  /** Lowest segment id that retained windows still need; Infinity when none. */
  retentionFloor: () => number = () => Infinity;

  constructor(private readonly options: DiskSpoolOptions) {
    if (options.segmentBytes * 2 > options.maxBytes) throw new RangeError('spool maxBytes must be at least twice segmentBytes');
    this.log = options.logger ?? silentLogger;
    mkdirSync(options.dir, { recursive: true });
    for (const name of readdirSync(options.dir).sort()) {
      const m = /^wal-(\d{16})\.log$/.exec(name);
      if (!m) continue;
      const path = join(options.dir, name);
      this.segments.push({ id: Number(m[1]), path, size: statSync(path).size });
    }
    const last = this.segments[this.segments.length - 1];
    if (last) this.cutTornTail(last);
    this.cursor = { segment: this.segments[0]?.id ?? 0, offset: 0 };
    this.openSegment((last?.id ?? 0) + 1);
    if (options.fsync === 'interval') {
      this.fsyncTimer = setInterval(() => this.backgroundSync(), options.fsyncIntervalMs ?? 1000);
      this.fsyncTimer.unref();
    }
    this.checkDisk();
    this.diskTimer = setInterval(() => this.checkDisk(), options.diskCheckIntervalMs ?? 1000);
    this.diskTimer.unref();
    if (this.segments.length > 1) this.log.info('spool opened with data to replay', { segments: this.segments.length - 1, bytes: this.totalBytes() });
  }

  /** Id of the segment the next record goes to (or a later one, if it rolls). */
  get activeSegment(): number {
    return this.active.id;
  }

  /**
   * Appends one record. Returns `undefined` when it is already written, or a promise when the
   * spool is full and the record waits for room (see the class comment).
   */
  append(type: SpoolRecordType, body: string, vehicle?: string, closedUpTo?: number): Promise<void> | undefined {
    const header = `#fp ${type} ${Buffer.byteLength(body)} ${vehicle ?? '-'} ${closedUpTo === undefined || !Number.isFinite(closedUpTo) ? '-' : closedUpTo}\n`;
    const bytes = Buffer.from(header + body);
    if (this.waiting === 0 && this.hasRoomFor(bytes.length) && this.tryWrite(bytes)) return undefined;
    // While an append waits, later ones line up behind it: a failing disk never reorders records.
    const waiting = this.appendWhenPossible(bytes, this.lastInLine);
    this.lastInLine = waiting;
    const leave = (): void => {
      if (this.lastInLine === waiting) this.lastInLine = undefined;
    };
    waiting.then(leave, leave);
    return waiting;
  }

  /** After `previous`: waits for room under the bound, and retries a failed write with backoff, until it is written. */
  private async appendWhenPossible(bytes: Buffer, previous: Promise<void> | undefined): Promise<void> {
    this.waiting += 1;
    let waitedForRoom = false;
    const backoff = new Backoff({ initialMs: this.options.retryInitialMs ?? 50, maxMs: this.options.retryMaxMs ?? 2000 });
    try {
      if (previous) await previous.catch(() => undefined);
      for (;;) {
        if (this.closed) throw codedError('FP_SPOOL_CLOSED');
        if (!this.hasRoomFor(bytes.length)) this.releaseSegments(true);
        if (!this.hasRoomFor(bytes.length)) {
          if (!waitedForRoom) {
            waitedForRoom = true;
            this.counters.fullWaits += 1;
            this.log.warn('spool full: holding acknowledgements until InfluxDB catches up', { bytes: this.totalBytes(), maxBytes: this.options.maxBytes });
          }
          await this.wakeOnRoom();
          continue;
        }
        if (this.tryWrite(bytes)) return;
        // A segment the reader frees may be what the disk lacked: try again then, or after the backoff.
        await this.wakeOnRoom(backoff.next());
      }
    } finally {
      this.waiting -= 1;
    }
  }

  /** Resolves when segments are released (or the spool closes), or after `timeoutMs`. */
  private wakeOnRoom(timeoutMs?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.waitingForRoom.push(wake);
      if (timeoutMs === undefined) return;
      timer = setTimeout(() => {
        const i = this.waitingForRoom.indexOf(wake);
        if (i >= 0) this.waitingForRoom.splice(i, 1);
        resolve();
      }, timeoutMs);
    });
  }

  private hasRoomFor(n: number): boolean {
    const total = this.totalBytes();
    return total === 0 || total + n <= this.options.maxBytes;
  }

  /** Writes one record; false (the error kept, the partial record cut off) when the file system refused it. */
  private tryWrite(bytes: Buffer): boolean {
    if (this.closed) throw codedError('FP_SPOOL_CLOSED');
    try {
      if (this.active.size > 0 && this.active.size + bytes.length > this.options.segmentBytes) this.roll();
      let done = 0;
      while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done, this.active.size + done);
      if (this.options.fsync === 'always') fdatasyncSync(this.fd);
    } catch (error) {
      this.writeFailed(error);
      return false;
    }
    this.active.size += bytes.length;
    this.counters.appendedRecords += 1;
    this.counters.appendedBytes += bytes.length;
    if (this.options.fsync === 'always') this.counters.fsyncs += 1;
    else this.dirty = true;
    if (this.writeError !== undefined) {
      this.log.info('spool writes succeed again', { failedAttempts: this.counters.writeErrors });
      this.writeError = undefined;
    }
    for (const listener of this.appendListeners) listener();
    return true;
  }

  private writeFailed(error: unknown): void {
    this.counters.writeErrors += 1;
    const message = errorMessage(error);
    if (this.writeError === undefined) this.log.error('spool write failed: holding acknowledgements and retrying until it succeeds', { error: message, segment: this.active.path });
    this.writeError = message;
    try {
      // pwrite may have written part of the record: a later roll must not leave it in a closed segment.
      ftruncateSync(this.fd, this.active.size);
    } catch {
      /* shrinking a file does not need space; if even this fails, the next write at active.size overwrites it */
    }
  }

  /** Called after every append (the forwarder wakes up on it). */
  onAppend(listener: () => void): void {
    this.appendListeners.push(listener);
  }

  /**
   * Up to `maxBytes` of complete lines from the reader's position, and where they end.
   * `undefined` when the reader has caught up.
   */
  read(maxBytes: number): { data: Buffer; end: SpoolPosition } | undefined {
    for (;;) {
      const index = this.segments.findIndex((s) => s.id >= this.cursor.segment);
      if (index < 0) return undefined;
      const segment = this.segments[index]!;
      if (segment.id !== this.cursor.segment) this.cursor = { segment: segment.id, offset: 0 };
      const available = segment.size - this.cursor.offset;
      if (available <= 0) {
        if (segment === this.active) return undefined;
        // A finished segment: move on (it is freed once the retention floor allows).
        this.cursor = { segment: this.segments[index + 1]?.id ?? segment.id + 1, offset: 0 };
        this.releaseSegments(false);
        continue;
      }
      const length = Math.min(available, maxBytes);
      const data = Buffer.allocUnsafe(length);
      const fd = segment === this.active ? this.fd : openSync(segment.path, 'r');
      try {
        let got = 0;
        while (got < length) {
          const n = readSync(fd, data, got, length - got, this.cursor.offset + got);
          if (n === 0) break;
          got += n;
        }
      } finally {
        if (fd !== this.fd) closeSync(fd);
      }
      const lastNewline = data.lastIndexOf(0x0a);
      if (lastNewline < 0) {
        // One line longer than maxBytes: read it whole rather than stall.
        return this.read(maxBytes * 2);
      }
      return { data: data.subarray(0, lastNewline + 1), end: { segment: segment.id, offset: this.cursor.offset + lastNewline + 1 } };
    }
  }

  /** The reader has stored everything up to `position`. */
  commit(position: SpoolPosition): void {
    this.cursor = { ...position };
    this.releaseSegments(false);
  }

  /** Deletes segments nobody needs any more and wakes appenders waiting for room. */
  releaseSegments(full: boolean): void {
    const floor = this.retentionFloor();
    let limit = Math.min(this.cursor.segment, floor);
    if (full && floor < this.cursor.segment) {
      // Windows must not deadlock a full spool: only the reader's position counts now.
      const freed = this.segments.some((s) => s.id < this.cursor.segment && s.id >= floor && s !== this.active);
      if (freed) this.counters.retentionOverrides += 1;
      limit = this.cursor.segment;
    }
    while (this.segments.length > 0 && this.segments[0]!.id < limit && this.segments[0] !== this.active) {
      const segment = this.segments.shift()!;
      try {
        unlinkSync(segment.path);
      } catch (error) {
        this.log.warn('could not delete spool segment', { path: segment.path, error: String(error) });
      }
    }
    if (this.waitingForRoom.length > 0 && this.hasRoomFor(1)) for (const wake of this.waitingForRoom.splice(0)) wake();
  }

  /** Every retained record from the oldest segment on, for replay after a restart. */
  *records(): Generator<SpoolRecord> {
    for (const segment of this.segments) {
      if (segment === this.active) continue;
      const text = readWhole(segment.path, segment.size);
      let at = 0;
      while (at < text.length) {
        const nl = text.indexOf(0x0a, at);
        if (nl < 0) break;
        const m = HEADER.exec(text.toString('utf8', at, nl));
        if (!m) break; // not ours or torn: cutTornTail handled the last segment
        const bodyBytes = Number(m[2]);
        const body = text.toString('utf8', nl + 1, nl + 1 + bodyBytes);
        at = nl + 1 + bodyBytes;
        yield {
          type: m[1] as SpoolRecordType,
          vehicle: m[3] === '-' ? undefined : m[3],
          closedUpTo: m[4] === '-' ? undefined : Number(m[4]),
          body,
          segment: segment.id,
        };
      }
    }
  }

  stats(): SpoolStats {
    let pending = 0;
    for (const s of this.segments) {
      if (s.id > this.cursor.segment) pending += s.size;
      else if (s.id === this.cursor.segment) pending += s.size - this.cursor.offset;
    }
    return {
      bytes: this.totalBytes(),
      segments: this.segments.length,
      pendingBytes: pending,
      blockedAppends: this.waiting,
      writeError: this.writeError,
      diskFreeBytes: this.diskFreeBytes,
      lowDisk: this.lowDisk,
      ...this.counters,
    };
  }

  /** Makes everything appended so far durable against power loss, then closes the files. */
  close(): void {
    if (this.closed) return;
    if (this.fsyncTimer) clearInterval(this.fsyncTimer);
    clearInterval(this.diskTimer);
    try {
      this.sync();
    } catch (error) {
      this.log.error('spool fdatasync at close failed', { error: errorMessage(error) });
    }
    closeSync(this.fd);
    this.closed = true;
    // An empty active segment is useless on the next start.
    if (this.active.size === 0) {
      try {
        unlinkSync(this.active.path);
      } catch {
        /* already gone */
      }
    }
    for (const wake of this.waitingForRoom.splice(0)) wake();
  }

  private totalBytes(): number {
    let total = 0;
    for (const s of this.segments) total += s.size;
    return total;
  }

  /** Makes a new segment the active one; throws, with the old one still active, when it cannot be created. */
  private openSegment(id: number): void {
    const path = join(this.options.dir, segmentName(id));
    const fd = openSync(path, 'w+');
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = fd;
    this.active = { id, path, size: 0 };
    this.segments.push(this.active);
  }

  private roll(): void {
    // A closed segment is made durable once, so recovery only ever has to look at the last one.
    this.sync();
    this.openSegment(this.active.id + 1);
  }

  private checkDisk(): void {
    statfs(this.options.dir, (error, fs) => {
      if (error || this.closed) return;
      this.diskFreeBytes = fs.bavail * fs.bsize;
      const low = this.diskFreeBytes < (this.options.lowDiskBytes ?? 0);
      if (low && !this.lowDisk) this.log.warn('disk low under the spool: acknowledgements stop when it is full', { dir: this.options.dir, freeBytes: this.diskFreeBytes, lowDiskBytes: this.options.lowDiskBytes });
      else if (!low && this.lowDisk) this.log.info('disk space under the spool above the low watermark again', { freeBytes: this.diskFreeBytes });
      this.lowDisk = low;
    });
  }

  private sync(): void {
    if (!this.dirty && this.options.fsync !== 'always') return;
    fdatasyncSync(this.fd);
    this.dirty = false;
    this.counters.fsyncs += 1;
  }

  private backgroundSync(): void {
    if (!this.dirty || this.closed) return;
    this.dirty = false;
    fdatasync(this.fd, (error) => {
      if (error) this.log.warn('spool fdatasync failed', { error: error.message });
      else this.counters.fsyncs += 1;
    });
  }

  private cutTornTail(segment: Segment): void {
    const text = readWhole(segment.path, segment.size);
    let at = 0;
    while (at < text.length) {
      const nl = text.indexOf(0x0a, at);
      if (nl < 0) break;
      const m = HEADER.exec(text.toString('utf8', at, nl));
      if (!m) break;
      const end = nl + 1 + Number(m[2]);
      if (end > text.length || text[end - 1] !== 0x0a) break;
      at = end;
    }
    if (at < segment.size) {
      this.counters.tornBytesDropped += segment.size - at;
      this.log.warn('spool: cutting off a torn last record', { path: segment.path, bytes: segment.size - at });
      const fd = openSync(segment.path, 'r+');
      ftruncateSync(fd, at);
      fdatasyncSync(fd);
      closeSync(fd);
      segment.size = at;
    }
  }
}

function readWhole(path: string, size: number): Buffer {
  const data = Buffer.allocUnsafe(size);
  const fd = openSync(path, 'r');
  try {
    let got = 0;
    while (got < size) {
      const n = readSync(fd, data, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    return data.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}
