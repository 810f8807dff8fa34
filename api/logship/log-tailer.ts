/**
 * Follows one log file by path, by polling (inotify misses renames on some filesystems and needs
 * care with copy-truncate; a poll every 100-250 ms costs two stat calls).
 *
 * - Only complete lines (ending in `\n`) are returned; the offset never passes a partial line.
 * - Rename rotation (logrotate `create`, nginx reopening on SIGUSR1): when the path names another
 *   file, the old file is read to its end and kept until it has not grown for `rotateGraceMs`
 *   (the writer may still append until it reopens), then the new file is read from its start.
 * - Copy-truncate: when the file is shorter than the offset, or its first bytes changed, it is
 *   read again from the start (lines written between the copy and the truncate are in the copy,
 *   which this tailer does not read: copy-truncate's own window of loss, counted as `truncations`).
 * - Restart: `resume(checkpoint)` continues where the checkpoint says: in the same file when its
 *   identity and fingerprint match, else in a rotated sibling (same directory) with that identity,
 *   which is drained first; when neither exists the file is read from its start (counted).
 */
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FINGERPRINT_BYTES, fingerprint, type FileCheckpoint } from './file-checkpoint.ts';

export interface TailPosition {
  path: string;
  dev: number;
  ino: number;
  offset: number;
  fpLen: number;
  fp: string;
}

export interface TailerStats {
  linesRead: number;
  bytesRead: number;
  rotations: number;
  truncations: number;
  resumedFromCheckpoint: number;
  resumedInRotatedFile: number;
  checkpointFileLost: number;
  oversizeLinesDropped: number;
}

interface OpenFile {
  path: string;
  fd: number;
  dev: number;
  ino: number;
  offset: number;
  fpLen: number;
  fp: string;
}

export class LogTailer {
  private current: OpenFile | undefined;
  /** A rotated file still being drained, with when it last grew. */
  private rotatedSince: number | undefined;
  private lastGrowth = 0;
  private readonly buf: Buffer;
  private counters: TailerStats = { linesRead: 0, bytesRead: 0, rotations: 0, truncations: 0, resumedFromCheckpoint: 0, resumedInRotatedFile: 0, checkpointFileLost: 0, oversizeLinesDropped: 0 };

  constructor(
    private readonly path: string,
    private readonly options: { rotateGraceMs: number; maxLineBytes: number; readChunkBytes?: number },
  ) {
    this.buf = Buffer.alloc(options.readChunkBytes ?? 1024 * 1024);
  }

  /** Positions the tailer from a checkpoint (see the module comment); without one, at the file's start. */
  resume(checkpoint: FileCheckpoint | undefined): void {
    if (!checkpoint) return;
    const candidates = [this.path, ...this.siblings()];
    for (const path of candidates) {
      let st;
      try {
        st = statSync(path);
      } catch {
        continue;
      }
      if (st.dev !== checkpoint.dev || st.ino !== checkpoint.ino) continue;
      const fd = openSync(path, 'r');
      const fp = fingerprint(fd, checkpoint.fpLen);
      if (fp !== checkpoint.fp || st.size < checkpoint.offset) {
        closeSync(fd);
        continue;
      }
      this.current = { path, fd, dev: st.dev, ino: st.ino, offset: checkpoint.offset, fpLen: checkpoint.fpLen, fp: checkpoint.fp };
      this.refreshFingerprint(this.current);
      if (path === this.path) this.counters.resumedFromCheckpoint += 1;
      else this.counters.resumedInRotatedFile += 1;
      return;
    }
    this.counters.checkpointFileLost += 1;
  }

  /** Where the next line starts (for the checkpoint); undefined before the file first exists. */
  position(): TailPosition | undefined {
    const c = this.current;
    return c ? { path: c.path, dev: c.dev, ino: c.ino, offset: c.offset, fpLen: c.fpLen, fp: c.fp } : undefined;
  }

  stats(): TailerStats {
    return { ...this.counters };
  }

  /**
   * Returns up to `maxLines` complete lines (and at most `maxBytes` of them) available now, in
   * file order, advancing the position past them. An empty array means nothing new.
   */
  read(maxLines: number, maxBytes: number, nowMs = Date.now()): string[] {
    const out: string[] = [];
    let budget = maxBytes;
    for (let guard = 0; guard < 4 && out.length < maxLines && budget > 0; guard++) {
      if (!this.current && !this.openPath()) return out;
      const file = this.current!;
      this.detectTruncation(file);
      const before = out.length;
      this.readLines(file, out, maxLines, budget);
      for (let i = before; i < out.length; i++) budget -= out[i]!.length + 1;
      if (out.length > before) {
        this.lastGrowth = nowMs;
        continue;
      }
      // At the end of this file: has the path moved on to another one?
      if (!this.rotatedAway(file)) return out;
      this.rotatedSince ??= nowMs;
      if (nowMs - Math.max(this.rotatedSince, this.lastGrowth) < this.options.rotateGraceMs) return out;
      closeSync(file.fd);
      this.current = undefined;
      this.rotatedSince = undefined;
      this.counters.rotations += 1;
    }
    return out;
  }

  close(): void {
    if (this.current) closeSync(this.current.fd);
    this.current = undefined;
  }

  private openPath(): boolean {
    if (!existsSync(this.path)) return false;
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return false;
    }
    const st = fstatSync(fd);
    this.current = { path: this.path, fd, dev: st.dev, ino: st.ino, offset: 0, fpLen: 0, fp: fingerprint(fd, 0)! };
    this.refreshFingerprint(this.current);
    return true;
  }

  private refreshFingerprint(file: OpenFile): void {
    if (file.fpLen >= FINGERPRINT_BYTES) return;
    const size = fstatSync(file.fd).size;
    const length = Math.min(FINGERPRINT_BYTES, size);
    if (length <= file.fpLen) return;
    const fp = fingerprint(file.fd, length);
    if (fp) {
      file.fpLen = length;
      file.fp = fp;
    }
  }

  private detectTruncation(file: OpenFile): void {
    const size = fstatSync(file.fd).size;
    const changed = file.fpLen > 0 && fingerprint(file.fd, file.fpLen) !== file.fp;
    if (size < file.offset || changed) {
      this.counters.truncations += 1;
      file.offset = 0;
      file.fpLen = 0;
      file.fp = fingerprint(file.fd, 0)!;
    }
    this.refreshFingerprint(file);
  }

  private readLines(file: OpenFile, out: string[], maxLines: number, maxBytes: number): void {
    let taken = 0;
    while (out.length < maxLines && taken < maxBytes) {
      const n = readSync(file.fd, this.buf, 0, this.buf.length, file.offset);
      if (n <= 0) return;
      let start = 0;
      let consumed = 0;
      for (;;) {
        const nl = this.buf.indexOf(10, start);
        if (nl < 0 || nl >= n) break;
        const lineBytes = nl - start;
        const line = this.buf.toString('utf8', start, nl);
        consumed = nl + 1;
        start = nl + 1;
        if (lineBytes > 0) {
          if (lineBytes > this.options.maxLineBytes) this.counters.oversizeLinesDropped += 1;
          else {
            out.push(line);
            this.counters.linesRead += 1;
          }
        }
        taken += line.length + 1;
        if (out.length >= maxLines || taken >= maxBytes) break;
      }
      if (consumed === 0) {
        // A line longer than the read buffer: skip it whole (counted), or wait for its end.
        if (n === this.buf.length) {
          const skip = this.skipLongLine(file.fd, file.offset);
          if (skip === undefined) return;
          file.offset = skip;
          this.counters.oversizeLinesDropped += 1;
          continue;
        }
        return;
      }
      file.offset += consumed;
      this.counters.bytesRead += consumed;
      if (n < this.buf.length && start >= n) return;
    }
  }

  /** Offset after the end of the over-long line starting at `offset`, or undefined while it has no end yet. */
  private skipLongLine(fd: number, offset: number): number | undefined {
    let pos = offset + this.buf.length;
    for (;;) {
      const n = readSync(fd, this.buf, 0, this.buf.length, pos);
      if (n <= 0) return undefined;
      const nl = this.buf.indexOf(10);
      if (nl >= 0 && nl < n) return pos + nl + 1;
      pos += n;
    }
  }

  private rotatedAway(file: OpenFile): boolean {
    try {
      const st = statSync(this.path);
      return st.dev !== file.dev || st.ino !== file.ino;
    } catch {
      // The path is gone (renamed, new file not created yet): not yet a rotation we can follow.
      return false;
    }
  }

  /** Rotated copies next to the file: `access.log.1`, `access.log-20240101`, … (not compressed ones). */
  private siblings(): string[] {
    const dir = dirname(this.path);
    const base = basename(this.path);
    try {
      return readdirSync(dir)
        .filter((name) => name !== base && name.startsWith(base) && !name.endsWith('.gz') && !name.endsWith('.tmp'))
        .map((name) => join(dir, name));
    } catch {
      return [];
    }
  }
}
