/**
 * A small tmpfs mounted in a temporary directory, for tests that need a disk that fills up
 * (the broker's session store at ENOSPC). Needs root (the test machines run as root); `unmount`
 * removes everything.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Tmpfs {
  dir: string;
  /** Grows a filler file until `leaveBytes` are free (default 0: until ENOSPC); returns its size. */
  fill(leaveBytes?: number): number;
  /** Deletes the filler file: the space is back. */
  free(): void;
  unmount(): void;
}

export function mountTmpfs(sizeBytes: number): Tmpfs {
  const dir = mkdtempSync(join(tmpdir(), 'fp-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir]);
  const filler = join(dir, 'filler');
  return {
    dir,
    fill(leaveBytes = 0) {
      const fd = openSync(filler, 'a');
      let written = 0;
      try {
        if (leaveBytes > 0) {
          const { bavail, bsize } = statfsSync(dir);
          const toWrite = Math.max(0, bavail * bsize - leaveBytes);
          for (let left = toWrite; left > 0; ) {
            const n = writeSync(fd, Buffer.alloc(Math.min(left, 1 << 20)));
            written += n;
            left -= n;
          }
          return written;
        }
        // Large blocks first, then small ones, so that not even a page is left.
        for (const block of [Buffer.alloc(1 << 20), Buffer.alloc(4096), Buffer.alloc(64)]) {
          try {
            for (;;) written += writeSync(fd, block);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
          }
        }
      } finally {
        closeSync(fd);
      }
      return written;
    },
    free() {
      rmSync(filler, { force: true });
    },
    unmount() {
      try {
        execFileSync('umount', [dir]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
