/**
 * Low-disk watermark of one file system: warns once when its free space falls below `lowBytes`
 * and once when it is back above, so an operator hears about a filling SD card before the agent's
 * buffer hits the wall (then batches wait in memory, see sqlite-batch-store.ts).
 *
 * Free space is what an unprivileged writer may use (`statfs` f_bavail × f_bsize). Checked at most
 * every `intervalMs`; a file system that cannot be asked (statfs fails) counts as not low and is
 * logged once.
 */
import { statfsSync } from 'node:fs';
import { errorMessage } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';

export interface DiskSpace {
  /** At the last check; undefined before the first or when statfs failed. */
  freeBytes: number | undefined;
  low: boolean;
}

export class DiskSpaceWatch {
  private state: DiskSpace = { freeBytes: undefined, low: false };
  private checkedAt = -Infinity;
  private failed = false;

  constructor(
    private readonly dir: string,
    private readonly lowBytes: number,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  /** The current state, re-read when the last check is older than the interval. */
  check(nowMs = Date.now()): DiskSpace {
    if (nowMs - this.checkedAt < this.intervalMs) return this.state;
    this.checkedAt = nowMs;
    let freeBytes: number;
    try {
      const s = statfsSync(this.dir);
      freeBytes = s.bavail * s.bsize;
    } catch (error) {
      if (!this.failed) this.log.warn('cannot read the free disk space; low-disk warnings are off until it can', { dir: this.dir, error: errorMessage(error) });
      this.failed = true;
      this.state = { freeBytes: undefined, low: false };
      return this.state;
    }
    this.failed = false;
    const low = freeBytes < this.lowBytes;
    const mib = (n: number) => Math.round((n / 1048576) * 10) / 10;
    if (low && !this.state.low) this.log.warn('disk space low: below the watermark; the buffer will hold new batches in memory once the disk is full', { dir: this.dir, freeMb: mib(freeBytes), watermarkMb: mib(this.lowBytes) });
    else if (!low && this.state.low) this.log.info('disk space back above the watermark', { dir: this.dir, freeMb: mib(freeBytes), watermarkMb: mib(this.lowBytes) });
    this.state = { freeBytes, low };
    return this.state;
  }

  /** Forces the next `check` to read the file system (e.g. after a write failed). */
  invalidate(): void {
    this.checkedAt = -Infinity;
  }
}
