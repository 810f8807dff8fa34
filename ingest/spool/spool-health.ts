/**
 * What the spool's state means for ingest's health, in words for `/healthz`: a spool that is not
 * appending stops acknowledgements (ingest is unavailable until it appends again); a disk below
 * the low watermark is a warning before that wall.
 */
import type { SpoolStats } from './disk-spool.ts';

export interface SpoolHealth {
  /** Why acknowledgements are held now; undefined while the spool appends. */
  blocking: string | undefined;
  /** What will hold them soon; undefined when nothing does. */
  warning: string | undefined;
}

const MiB = 1024 * 1024;

export function spoolHealth(stats: SpoolStats, options: { maxBytes: number; lowDiskBytes: number }): SpoolHealth {
  let blocking: string | undefined;
  if (stats.writeError !== undefined) blocking = `spool cannot append (retrying, acknowledgements held): ${stats.writeError}`;
  else if (stats.blockedAppends > 0) blocking = `spool full at its bound of ${Math.round(options.maxBytes / MiB)} MiB: acknowledgements held until InfluxDB catches up`;
  const warning = stats.lowDisk ? `disk low under the spool: ${Math.round(stats.diskFreeBytes / MiB)} MiB free, watermark ${Math.round(options.lowDiskBytes / MiB)} MiB` : undefined;
  return { blocking, warning };
}
