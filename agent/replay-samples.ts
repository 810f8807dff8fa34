/**
 * A vehicle's parsed log rows → the wire samples the agent publishes (contracts/telemetry.ts).
 * ReplaySource (live, paced) and readDriveLogFile (offline, all at once) both go through these
 * two functions, so offline evaluation sees exactly the samples the agent would send.
 */
import { MAX_EVENT_TIME_MS, MIN_EVENT_TIME_MS, type Sample } from '../contracts/telemetry.ts';
import type { ReplayLog, ReplayRow } from './replay-formats.ts';

/**
 * What is added to a row's `t` to make its event time: `'keep'` = 0 (the log's own Unix times),
 * `'rebase'` = whatever puts the log's first row at `startMs`.
 */
export function eventTimeShiftMs(log: ReplayLog, time: 'rebase' | 'keep', startMs: number): number {
  if (time === 'keep') return 0;
  const first = log.rows[0];
  return first === undefined ? 0 : startMs - first.t;
}

/** The sample a row becomes, or undefined when its event time lies outside the telemetry contract's window (ingest would reject its whole batch). */
export function sampleOf(row: ReplayRow, shiftMs: number): Sample | undefined {
  const t = row.t + shiftMs;
  if (t < MIN_EVENT_TIME_MS || t > MAX_EVENT_TIME_MS) return undefined;
  return { t, ...row.values };
}
