/**
 * The shipper's bounded disk buffer: one file per batch (`b-<seq>.json`, the exact MQTT payload),
 * written with write + rename before the checkpoint moves past its lines, deleted once the broker
 * acknowledged it (PUBACK). So a batch is on disk from the moment its lines are considered read
 * until the broker has it: a crash or a broker outage loses nothing.
 *
 * Bound: `maxBytes`. At the bound `hasRoom()` is false and the shipper stops reading the log
 * (counted as `fullPauses`): the log file itself holds the backlog, nothing is dropped. (Only if
 * the log rotated away twice during such a pause would lines be lost; `rotateGraceMs` and the
 * rotated-sibling search on restart cover a single rotation.)
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface BufferedBatch {
  seq: number;
  payload: Buffer;
}

export interface BatchBufferStats {
  batches: number;
  bytes: number;
  fullPauses: number;
  written: number;
  acknowledged: number;
}

export class BatchBuffer {
  private readonly sizes = new Map<number, number>();
  private bytes = 0;
  private counters = { fullPauses: 0, written: 0, acknowledged: 0 };

  constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
    private readonly fsync: boolean,
  ) {
    mkdirSync(dir, { recursive: true });
    for (const name of readdirSync(dir)) {
      const m = /^b-(\d{16})\.json$/.exec(name);
      if (!m) continue;
      const size = statSync(join(dir, name)).size;
      this.sizes.set(Number(m[1]), size);
      this.bytes += size;
    }
  }

  /** Highest buffered seq, or -1. */
  get lastSeq(): number {
    let max = -1;
    for (const seq of this.sizes.keys()) max = Math.max(max, seq);
    return max;
  }

  hasRoom(): boolean {
    return this.bytes < this.maxBytes;
  }

  /** Counts one pause of reading because the buffer is full. */
  notePause(): void {
    this.counters.fullPauses += 1;
  }

  put(seq: number, payload: Buffer): void {
    const file = join(this.dir, name(seq));
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, payload);
    if (this.fsync) {
      const fd = openSync(tmp, 'r');
      fsyncSync(fd);
      closeSync(fd);
    }
    renameSync(tmp, file);
    this.sizes.set(seq, payload.length);
    this.bytes += payload.length;
    this.counters.written += 1;
  }

  /** Buffered batches in seq order (oldest first), at most `limit`, skipping `exclude`d seqs. */
  pending(limit: number, exclude: ReadonlySet<number>): BufferedBatch[] {
    const seqs = [...this.sizes.keys()].filter((s) => !exclude.has(s)).sort((a, b) => a - b).slice(0, limit);
    return seqs.map((seq) => ({ seq, payload: readFileSync(join(this.dir, name(seq))) }));
  }

  ack(seq: number): void {
    const size = this.sizes.get(seq);
    if (size === undefined) return;
    try {
      unlinkSync(join(this.dir, name(seq)));
    } catch {
      // Already gone (acknowledged twice after a resend): nothing to free.
    }
    this.sizes.delete(seq);
    this.bytes -= size;
    this.counters.acknowledged += 1;
  }

  stats(): BatchBufferStats {
    return { batches: this.sizes.size, bytes: this.bytes, ...this.counters };
  }
}

function name(seq: number): string {
  return `b-${String(seq).padStart(16, '0')}.json`;
}
