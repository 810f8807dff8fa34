/**
 * Archive retention: deletes the day directories (`date=YYYY-MM-DD`, contracts/archive-layout.ts)
 * whose whole day lies more than `retentionDays` before now. Only directories matching the layout
 * are touched; a day that is partly inside the retention period is kept whole.
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DAY_DIR } from '../../contracts/archive-layout.ts';
import { errorMessage } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';

const DAY_MS = 86_400_000;

export interface ArchivePruneResult {
  daysDeleted: number;
  filesDeleted: number;
  bytesDeleted: number;
  /** Day directories that could not be removed (logged); tried again at the next prune. */
  failures: number;
}

function sizeOf(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const name of readdirSync(dir)) {
    const stat = statSync(join(dir, name), { throwIfNoEntry: false });
    if (!stat?.isFile()) continue;
    files += 1;
    bytes += stat.size;
  }
  return { files, bytes };
}

export function pruneArchive(dir: string, retentionDays: number, nowMs: number, log?: Logger): ArchivePruneResult {
  const result: ArchivePruneResult = { daysDeleted: 0, filesDeleted: 0, bytesDeleted: 0, failures: 0 };
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return result; // no archive yet
  }
  for (const name of names) {
    const day = DAY_DIR.exec(name)?.[1];
    if (!day) continue;
    const dayEnd = Date.parse(`${day}T00:00:00Z`) + DAY_MS;
    if (!Number.isFinite(dayEnd) || dayEnd > nowMs - retentionDays * DAY_MS) continue;
    const path = join(dir, name);
    try {
      const { files, bytes } = sizeOf(path);
      rmSync(path, { recursive: true, force: true });
      result.daysDeleted += 1;
      result.filesDeleted += files;
      result.bytesDeleted += bytes;
    } catch (error) {
      result.failures += 1;
      log?.warn('could not delete an expired archive day', { dir: path, error: errorMessage(error) });
    }
  }
  if (result.daysDeleted > 0) log?.info('archive days past retention deleted', { retentionDays, ...result });
  return result;
}
