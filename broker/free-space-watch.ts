/**
 * Warns before the session store's disk is full: checks the free space of its file system every
 * `intervalMs` and reports crossing `lowBytes` (once per episode; it ends when the free space is
 * back above the mark plus 10 %, so a value hovering at the mark does not repeat the warning).
 * A failed check is reported and leaves the last value in place.
 */
import { statfs } from 'node:fs/promises';

export interface FreeSpaceWatchOptions {
  lowBytes: number;
  intervalMs: number;
  onLow(freeBytes: number): void;
  onRecovered(freeBytes: number): void;
  onCheckFailed(error: unknown): void;
}

export interface FreeSpaceWatch {
  /** Bytes available to the broker on the store's file system at the last check. */
  readonly freeBytes: number | undefined;
  readonly low: boolean;
  stop(): void;
}

export function watchFreeSpace(dir: string, options: FreeSpaceWatchOptions): FreeSpaceWatch {
  let freeBytes: number | undefined;
  let low = false;
  let checking = false;
  const check = async (): Promise<void> => {
    if (checking) return;
    checking = true;
    try {
      const stats = await statfs(dir);
      freeBytes = stats.bavail * stats.bsize;
      if (!low && freeBytes < options.lowBytes) {
        low = true;
        options.onLow(freeBytes);
      } else if (low && freeBytes > options.lowBytes * 1.1) {
        low = false;
        options.onRecovered(freeBytes);
      }
    } catch (error) {
      options.onCheckFailed(error);
    } finally {
      checking = false;
    }
  };
  void check();
  const timer = setInterval(() => void check(), options.intervalMs);
  timer.unref();
  return {
    get freeBytes() {
      return freeBytes;
    },
    get low() {
      return low;
    },
    stop: () => clearInterval(timer),
  };
}
