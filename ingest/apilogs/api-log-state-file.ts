/**
 * API-log window state across a clean restart of ingest: written at a stop, taken (read and
 * deleted) at the next start.
 *
 * Taken, not just read: a state resumed once must never be resumed again — after a crash of the
 * resumed run, its windows would be counted twice. So a crash loses the windows open at that
 * moment (their provisional points written at the stop stay in InfluxDB). A missing file is no
 * state; an unreadable one is logged and ignored (refusing to start would stop ingest for a cache).
 */
import { readFileSync, rmSync } from 'node:fs';
import { z } from 'zod';
import { writeFileAtomic } from '../../common/atomic-file.ts';
import { errorMessage } from '../../common/errors.ts';
import { type Logger, silentLogger } from '../../common/logger.ts';
import { apiLogStateSchema, type ApiLogState } from './api-log-processor.ts';

const fileSchema = z.object({ schema: z.literal('fleetpulse.api-log-state/1'), savedMs: z.number(), state: apiLogStateSchema });

export class ApiLogStateFile {
  constructor(
    readonly path: string,
    private readonly log: Logger = silentLogger,
  ) {}

  /** The saved state, removed from disk; undefined when there is none (or it is unreadable). */
  take(): ApiLogState | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return undefined;
    }
    rmSync(this.path, { force: true });
    try {
      return fileSchema.parse(JSON.parse(text)).state;
    } catch (error) {
      this.log.error('API-log window state unreadable; starting without it', { path: this.path, error: errorMessage(error) });
      return undefined;
    }
  }

  /** Replaces the file atomically; throws on I/O errors. */
  write(state: ApiLogState): void {
    writeFileAtomic(this.path, JSON.stringify({ schema: 'fleetpulse.api-log-state/1', savedMs: Date.now(), state }));
  }
}
