/**
 * Alert state on disk, so a restart neither repeats nor forgets an alert.
 *
 * One JSON file, replaced atomically (write a temporary file, fsync it, rename over the old one,
 * fsync the directory): a crash leaves either the old or the new state, never a torn file. A
 * missing file is an empty state; an unreadable one is logged and treated as empty (the
 * alternative, refusing to start, would stop ingest for a cache).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { errorMessage } from '../../common/errors.ts';
import { type Logger, silentLogger } from '../../common/logger.ts';

export const vehicleAlertStateSchema = z.object({
  alerting: z.boolean(),
  /** Consecutive windows on the other side of the threshold (anomalous while not alerting, normal while alerting). */
  run: z.number().int().min(0),
  /** Start of the last window counted; windows starting at or before it are ignored. */
  lastStartMs: z.number(),
  alertId: z.string().optional(),
  /** Signals (window features) that raised the open alert, named again when it clears. */
  evidence: z.array(z.string()).max(10).optional(),
});

const fileSchema = z.object({ schema: z.literal('fleetpulse.alert-state/1'), vehicles: z.record(z.string(), vehicleAlertStateSchema) });

export type VehicleAlertState = z.infer<typeof vehicleAlertStateSchema>;

export class AlertStateFile {
  constructor(
    readonly path: string,
    private readonly log: Logger = silentLogger,
  ) {}

  read(): Map<string, VehicleAlertState> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return new Map();
    }
    try {
      const parsed = fileSchema.parse(JSON.parse(text));
      return new Map(Object.entries(parsed.vehicles));
    } catch (error) {
      this.log.error('alert state file unreadable; starting with no alert state', { path: this.path, error: errorMessage(error) });
      return new Map();
    }
  }

  /** Replaces the file with `states` (in map order); throws only on I/O errors. */
  write(states: ReadonlyMap<string, VehicleAlertState>): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify({ schema: 'fleetpulse.alert-state/1', vehicles: Object.fromEntries(states) }));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    try {
      const dirFd = openSync(dirname(this.path), 'r');
      try {
        fsyncSync(dirFd);
      } finally {
        closeSync(dirFd);
      }
    } catch {
      // Some filesystems refuse fsync on a directory; the rename is still atomic.
    }
  }
}
