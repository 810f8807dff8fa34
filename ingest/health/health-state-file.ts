/**
 * The DTC history (dtc-history.ts) on disk beside the spool, so a restart neither raises a code's
 * alert again nor forgets an open episode: the spool only keeps what InfluxDB has not taken yet,
 * and an episode lives for months.
 *
 * One JSON file replaced atomically (common/atomic-file.ts: a crash leaves the old or the new
 * state, never a torn one). A missing file is an empty history; an unreadable or malformed one is
 * logged and treated as empty (refusing to start would stop ingest for what the next events
 * rebuild: every event carries the full code lists, so only episode start times and alert ids of
 * codes already listed would differ).
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../../common/atomic-file.ts';
import { errorMessage } from '../../common/errors.ts';
import { type Logger, silentLogger } from '../../common/logger.ts';
import { HealthHistory, type HealthHistoryOptions, type HealthHistoryState } from './dtc-history.ts';

export class HealthStateFile {
  constructor(
    readonly path: string,
    private readonly log: Logger = silentLogger,
  ) {}

  /** The saved history, or an empty one (see the module comment). */
  read(options: HealthHistoryOptions = {}): HealthHistory {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return new HealthHistory(options);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      this.log.error('vehicle health state unreadable; starting with no DTC history', { path: this.path, error: errorMessage(error) });
      return new HealthHistory(options);
    }
    const restored = HealthHistory.fromState(json, options);
    if (restored.ok) return restored.history;
    this.log.error('vehicle health state malformed; starting with no DTC history', { path: this.path, reason: restored.reason });
    return new HealthHistory(options);
  }

  /** Replaces the file; throws on I/O errors (the old file is then untouched). */
  write(state: HealthHistoryState): void {
    writeFileAtomic(this.path, JSON.stringify(state));
  }
}
