/**
 * A drive log file → its parsed rows (agent/replay-formats.ts): reading the bytes, choosing the
 * format and the column mapping.
 *
 * Guarantees:
 * - A gzip-compressed log (`.csv.gz`, recognised by its bytes, not its name) is read as its
 *   text; a compressed stream cut short gives the text up to the cut (its last line is then
 *   handled as a truncated line).
 * - A log is read whole, at most MAX_LOG_BYTES (uncompressed); a larger one is refused.
 * - A spreadsheet (.xlsx, .xls, .ods) or another archive is refused in one line saying what to do.
 * - Every refusal is a ConfigError naming the file; nothing here throws for bad data rows.
 */
import { readFileSync, statSync } from 'node:fs';
import { constants as zlib, gunzipSync } from 'node:zlib';
import { ConfigError } from '../common/errors.ts';
import { CAROBD_FORMAT, REPLAY_FORMATS, type ReplayFormat } from '../contracts/drive-log-formats.ts';
import { detectFormat, parseCustomFormat, parseDriveLog, type ParsedDriveLog } from './replay-formats.ts';

/** Largest log read, uncompressed: the whole text is held in memory while it is parsed. */
export const MAX_LOG_BYTES = 256 * 1024 * 1024;

export type ReplayFormatChoice = 'auto' | keyof typeof REPLAY_FORMATS | 'custom';

export interface DriveLogOptions {
  /** 'auto' (default) recognises the built-in formats from the header; 'custom' needs `mappingPath`. */
  format?: ReplayFormatChoice;
  /** JSON column mapping for 'custom' (see parseCustomFormat). */
  mappingPath?: string | undefined;
  /** Split the rows by this column's value (several vehicles in one log). */
  vehicleColumn?: string | undefined;
}

/** A file that is no text log at all: its message is one line, since there is nothing more to say. */
export class NotADriveLogError extends ConfigError {
  constructor(path: string, what: string, remedy: string) {
    const message = `${path} is ${what}, not a CSV log: ${remedy}`;
    super('replay', [{ field: 'replay', message }]);
    this.name = 'NotADriveLogError';
    this.message = message;
  }
}

const cannot = (field: string, message: string): ConfigError => new ConfigError('replay', [{ field, message }]);
const mib = (bytes: number): string => `${+(bytes / 1024 / 1024).toFixed(3)} MiB`;
const startsWith = (bytes: Buffer, magic: readonly number[]): boolean => magic.every((b, i) => bytes[i] === b);

/** The text of a log file: plain or gzip-compressed, at most `maxBytes` of it. Throws ConfigError for anything else. */
export function readLogText(path: string, maxBytes = MAX_LOG_BYTES): string {
  let bytes: Buffer;
  try {
    if (statSync(path).size > maxBytes) throw new Error(`larger than ${mib(maxBytes)}`);
    bytes = readFileSync(path);
  } catch (error) {
    throw cannot('replay', `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04])) {
    // ZIP: an Office Open XML or OpenDocument spreadsheet names itself in its first entries.
    const head = bytes.subarray(0, 4096).toString('latin1');
    if (head.includes('xl/') || /\.xls[xm]$/i.test(path)) throw new NotADriveLogError(path, 'a spreadsheet (Excel)', 'save it as CSV (File → Save as → CSV) and replay that file');
    if (head.includes('opendocument.spreadsheet') || /\.ods$/i.test(path)) throw new NotADriveLogError(path, 'a spreadsheet (OpenDocument)', 'save it as CSV and replay that file');
    throw new NotADriveLogError(path, 'a ZIP archive', 'unzip it and replay the CSV inside');
  }
  if (startsWith(bytes, [0xd0, 0xcf, 0x11, 0xe0])) throw new NotADriveLogError(path, 'a spreadsheet (Excel 97-2003)', 'save it as CSV and replay that file');
  if (startsWith(bytes, [0x1f, 0x8b])) {
    try {
      // Sync flush: a download or copy cut short still gives everything before the cut.
      bytes = gunzipSync(bytes, { maxOutputLength: maxBytes, finishFlush: zlib.Z_SYNC_FLUSH });
    } catch (error) {
      const tooLarge = (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
      throw cannot('replay', tooLarge ? `${path} is larger than ${mib(maxBytes)} uncompressed` : `${path} is not a readable gzip file: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return bytes.toString('utf8');
}

/** The format to parse `text` with. Throws ConfigError when it cannot be told or the mapping is unusable. */
function chooseFormat(path: string, text: string, format: ReplayFormatChoice, mappingPath: string | undefined): ReplayFormat {
  if (format === 'custom') {
    if (!mappingPath) throw cannot('replayMapping', 'is required with --replay-format custom');
    let json: string;
    try {
      json = readFileSync(mappingPath, 'utf8');
    } catch (error) {
      throw cannot('replayMapping', `cannot read ${mappingPath}: ${error instanceof Error ? error.message : String(error)}`);
    }
    return parseCustomFormat(json, mappingPath);
  }
  if (format === 'auto') {
    const detected = detectFormat(text);
    if (!detected) throw cannot('replayFormat', `cannot tell the format of ${path}; pass --replay-format carobd|torque|carscanner|custom`);
    return detected;
  }
  return REPLAY_FORMATS[format] ?? CAROBD_FORMAT;
}

/** Reads and parses a log file. Throws ConfigError when the file or its mapping cannot be used. */
export function loadDriveLog(path: string, options: DriveLogOptions = {}): ParsedDriveLog {
  const text = readLogText(path);
  const format = chooseFormat(path, text, options.format ?? 'auto', options.mappingPath);
  return parseDriveLog(text, format, options.vehicleColumn !== undefined ? { vehicleColumn: options.vehicleColumn } : {});
}
