/**
 * A really small disk for tests of full-disk behaviour: a tmpfs on a fresh temporary directory,
 * filled by filler files. `dispose()` unmounts it (lazily if a failed test left a file open).
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Mounting needs root (the test machines run as root); tests that need it skip otherwise. */
export const canMount = process.getuid?.() === 0;

/** A tmpfs of `sizeMb` on a fresh temporary directory; `fill` takes its free space down to `leaveBytes`. */
export function smallDisk(sizeMb: number) {
  const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-full-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'none', dir]);
  const filler = join(dir, 'filler');
  let part = 0;
  const freeBytes = (): number => {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  };
  return {
    dir,
    fill(leaveBytes = 0): void {
      const file = `${filler}-${part++}`;
      writeFileSync(file, '');
      const chunk = Buffer.alloc(16 * 1024, 0x55);
      for (;;) {
        const free = freeBytes();
        if (free <= leaveBytes) return;
        try {
          appendFileSync(file, free - leaveBytes < chunk.length ? chunk.subarray(0, free - leaveBytes) : chunk);
        } catch {
          return; // ENOSPC: full
        }
      }
    },
    free(): void {
      for (let i = 0; i < part; i++) rmSync(`${filler}-${i}`, { force: true });
    },
    dispose(): void {
      try {
        execFileSync('umount', [dir], { stdio: 'ignore' });
      } catch {
        // Still busy (a failed test left a file open): detach it now, the kernel frees it when closed.
        execFileSync('umount', ['-l', dir]);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
