/**
 * The Parquet archive's layout and schema, shared by the writer (ArchiveSink) and the reader
 * (models/archive-reader.ts).
 *
 *   <archiveDir>/date=YYYY-MM-DD/part-<worker>-<13-digit ms>-<6-digit seq>.parquet
 *
 * - The day is the UTC day of the sample's event time `t`.
 * - Columns: `vehicle` (UTF-8, required), `t` (INT64, Unix ms, event time, required) and one
 *   nullable DOUBLE column per catalogue signal, named as on the wire (contracts/signals.ts).
 * - Rows of a file are sorted by (vehicle, t); the same (vehicle, t) may appear in more than one
 *   file (at-least-once, see ArchiveSink) and readers drop the repeats.
 * - A file is written under a dot-prefixed temporary name and renamed when complete: any file
 *   matching `PART_FILE` is whole.
 */
import { SIGNAL_NAMES, type SignalName } from './signals.ts';

export const ARCHIVE_SIGNALS: readonly SignalName[] = SIGNAL_NAMES;
export const PART_FILE = /^part-[A-Za-z0-9_.-]+\.parquet$/;
export const DAY_DIR = /^date=(\d{4}-\d{2}-\d{2})$/;

/** `YYYY-MM-DD` of an event time, UTC. */
export function dayOf(tMs: number): string {
  return new Date(tMs).toISOString().slice(0, 10);
}

/** A worker id safe in a file name. */
export function safeWorker(worker: string): string {
  return worker.replace(/[^A-Za-z0-9_.-]/g, '_');
}
