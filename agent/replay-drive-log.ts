/**
 * A recorded drive log file → the wire samples the agent would publish for it, per vehicle, all
 * at once: for offline evaluation (`fleetpulse train evaluate-drives`), which runs logs through
 * ingest's path without a broker. Pure apart from reading the files: no MQTT, no timers, no clock.
 *
 * Guarantees:
 * - The samples are exactly those `fleetpulse agent --source replay` publishes for the same file,
 *   options and start time: the same reading (agent/replay-file.ts), parsing, unit conversion and
 *   event times (agent/replay-formats.ts) and the same row → sample step (agent/replay-samples.ts).
 * - Each vehicle's samples have strictly increasing whole-ms `t` (`contracts/telemetry.ts`
 *   samples, inside its event-time window); every usable row is one sample, repeated identical
 *   rows included (each a reading the logger took, at its own time), as the agent sends them.
 * - Event times: with `startMs`, each vehicle's first sample is at `startMs` (the agent's
 *   `--replay-time rebase`); without it, a log with a date-time clock keeps its own times
 *   (`--replay-time keep`) and a relative one starts at RELATIVE_LOG_START_MS, so the result never
 *   depends on when it is computed.
 * - Bad rows are counted, by reason, never thrown; a log with no usable row gives no vehicles and
 *   `skipSummary` says why. It throws ConfigError only for a file or mapping it cannot use at all.
 */
import type { Sample } from '../contracts/telemetry.ts';
import { loadDriveLog, type DriveLogOptions } from './replay-file.ts';
import { describeSkips, type DropReason, type SkipReason } from './replay-formats.ts';
import { EngineRunClock } from '../contracts/derived-signals.ts';
import { eventTimeShiftMs, sampleOf } from './replay-samples.ts';
import type { SignalName } from '../contracts/signals.ts';

/** Where a log without a date-time clock starts when no `startMs` is given: 2025-01-01T00:00:00Z. */
export const RELATIVE_LOG_START_MS = Date.UTC(2025, 0, 1);

export interface ReadDriveLogOptions extends DriveLogOptions {
  /** Event time of each vehicle's first sample; see the module header for the default. */
  startMs?: number | undefined;
}

export interface DriveLogVehicle {
  /** The vehicle column's value; undefined when the log is not split by vehicle. */
  readonly vehicle: string | undefined;
  /** Strictly increasing `t`, at least one sample. */
  readonly samples: Sample[];
}

/** Rows that gave no sample: the parser's reasons, and rows whose event time fell outside the contract window. */
export type DriveLogSkipReason = SkipReason | 'outside-time-window';

export interface DriveLogFile {
  readonly path: string;
  /** The format the log was read as (`carobd`, `torque`, `carscanner` or the mapping's name). */
  readonly format: string;
  /** Vehicles with at least one sample, in order of first appearance. */
  readonly vehicles: DriveLogVehicle[];
  /** Data lines read (header lines excluded). */
  readonly rowsRead: number;
  /** Samples in `vehicles`, all together. */
  readonly rowsUsable: number;
  readonly skipped: Readonly<Partial<Record<DriveLogSkipReason, number>>>;
  /** Values left out of their samples, by reason. */
  readonly dropped: Readonly<Partial<Record<DropReason, number>>>;
  /** What was skipped and left out, with the first line numbers per reason; '' when nothing was. */
  readonly skipSummary: string;
  /** Which log column feeds which signal. */
  readonly mapping: Readonly<Partial<Record<SignalName, string>>>;
}

/** Reads a drive log file into the samples the agent would publish; see the module header. */
export function readDriveLogFile(path: string, options: ReadDriveLogOptions = {}): DriveLogFile {
  const { startMs, ...readOptions } = options;
  const parsed = loadDriveLog(path, readOptions);
  const skipped: Partial<Record<DriveLogSkipReason, number>> = { ...parsed.skipped };
  const vehicles: DriveLogVehicle[] = [];
  for (const log of parsed.vehicles) {
    const shiftMs = startMs !== undefined ? eventTimeShiftMs(log, 'rebase', startMs) : log.absolute ? 0 : eventTimeShiftMs(log, 'rebase', RELATIVE_LOG_START_MS);
    const samples: Sample[] = [];
    const runClock = new EngineRunClock(); // as the agent fills in RUN_TIME
    for (const row of log.rows) {
      const sample = sampleOf(row, shiftMs);
      if (sample) samples.push(runClock.fill(sample));
      else skipped['outside-time-window'] = (skipped['outside-time-window'] ?? 0) + 1;
    }
    if (samples.length > 0) vehicles.push({ vehicle: log.vehicle, samples });
  }
  const outside = skipped['outside-time-window'];
  return {
    path,
    format: parsed.format,
    vehicles,
    rowsRead: parsed.linesRead,
    rowsUsable: vehicles.reduce((n, v) => n + v.samples.length, 0),
    skipped,
    dropped: parsed.dropped,
    skipSummary: [describeSkips(parsed), outside ? `outside the event-time window (2000–2100): ${outside}` : ''].filter(Boolean).join('; '),
    mapping: parsed.mapping,
  };
}
