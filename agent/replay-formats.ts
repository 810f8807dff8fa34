/**
 * Recorded drive logs (CSV text) → rows of our signal catalogue, per vehicle, for the replay
 * source (agent/replay-source.ts) and offline evaluation (agent/replay-drive-log.ts).
 *
 * Three built-in formats (`carobd`, `torque`, `carscanner`: their column tables are data, in
 * contracts/drive-log-formats.ts, which the simulator's realism report reads too) and a custom one, a
 * JSON mapping file (see `parseCustomFormat`).
 *
 * Guarantees:
 * - Every usable row becomes one sample — repeated identical rows included: they are readings the
 *   logger took, so each gets its own event time (rows that share a clock value are spread evenly
 *   over the interval to the next clock value; agent/replay-event-times.ts). Each vehicle's times
 *   strictly increase.
 * - Rows are read as they come: a row with fewer fields than the header is read by position as
 *   far as it goes (carOBD live6.csv: 27 names over 24-field rows); a field past the header (a
 *   trailing delimiter) is ignored; the last line of a file cut off mid-line loses only its last,
 *   possibly cut, field. Values may carry a unit (`82C`, `2124RPM`) and, where the delimiter is not
 *   a comma, a decimal comma (`74,50%`).
 * - Values are converted to contracts/signals.ts units; a value not a number, outside the signal's
 *   range or in a unit that cannot be converted is left out of its sample and counted by reason; a
 *   row left without a clock value, a vehicle or any signal is skipped and counted by reason with
 *   its first line numbers. Parsing never throws for bad data rows; it throws ConfigError for a
 *   log or mapping it cannot use at all (no header, a column the mapping or clock names that the
 *   header lacks — naming it and listing the header's columns — or a header unit it cannot convert).
 */
import { z } from 'zod';
import { CAROBD_FORMAT, CARSCANNER_FORMAT, REPLAY_HEALTH_FIELDS, TORQUE_FORMAT, type ReplayColumn, type ReplayFormat, type ReplayHealthColumn } from '../contracts/drive-log-formats.ts';
import { SIGNAL_NAMES, signalInfo, type SignalName } from '../contracts/signals.ts';
import type { SignalValues } from '../contracts/telemetry.ts';
import { ConfigError } from '../common/errors.ts';
import { logLines, parseDateTime, readClockNumber, readLoggedValue, splitCsvLine, splitHeader } from './replay-csv.ts';
import { eventTimes } from './replay-event-times.ts';
import { readHealthField, type ReplayHealthValues } from './replay-health.ts';

export interface ReplayRow {
  /** Event time in ms: relative to the first row (`absolute` false) or Unix time. Strictly increasing, whole ms. */
  readonly t: number;
  readonly values: SignalValues;
  /** The row's diagnosis columns, when the format has any and the row fills one. */
  readonly health?: ReplayHealthValues;
}

/** One vehicle's rows of a log: what a ReplaySource plays. */
export interface ReplayLog {
  readonly format: string;
  /** True when `t` is Unix time (the log had a date-time clock). */
  readonly absolute: boolean;
  /** The vehicle column's value; undefined when the log is not split by vehicle. */
  readonly vehicle: string | undefined;
  readonly rows: readonly ReplayRow[];
}

/** Why a data row gave no sample. */
export const SKIP_REASONS = {
  'no-clock': 'no clock value',
  'no-vehicle': 'no vehicle value',
  'no-signal': 'no signal value left',
} as const;
export type SkipReason = keyof typeof SKIP_REASONS;

/** Why a value was left out of its sample. */
export const DROP_REASONS = {
  'not-a-number': 'not a number',
  'out-of-range': 'out of range',
  'unknown-unit': 'in a unit that cannot be converted',
  'cut-off': 'cut off in a truncated last line',
  'empty-reading': 'a reading without a value (long layout)',
  'bad-health-value': 'a MIL, DTC or counter value that cannot be read',
} as const;
export type DropReason = keyof typeof DROP_REASONS;

/** Line numbers kept per skip reason, for messages. */
const LINES_KEPT = 5;

export interface ParsedDriveLog {
  readonly format: string;
  readonly absolute: boolean;
  /** The column the rows were split by, if any. */
  readonly vehicleColumn: string | undefined;
  /** Vehicles with at least one usable row, in order of first appearance; without a vehicle column at most one (vehicle undefined). */
  readonly vehicles: readonly ReplayLog[];
  /** Data lines read (header lines excluded). */
  readonly linesRead: number;
  /** Samples made (all vehicles). */
  readonly rowsUsable: number;
  /** Data rows skipped, by reason; `skippedLines` is their sum. */
  readonly skipped: Readonly<Partial<Record<SkipReason, number>>>;
  /** The first few line numbers (1-based, header = 1) skipped for each reason. */
  readonly skippedAt: Readonly<Partial<Record<SkipReason, readonly number[]>>>;
  readonly skippedLines: number;
  /** Values left out, by reason; `droppedValues` is their sum. */
  readonly dropped: Readonly<Partial<Record<DropReason, number>>>;
  readonly droppedValues: number;
  /** Wide rows with fewer fields than the header, read by position as far as they go. */
  readonly shortRows: number;
  /** Which log column feeds which signal (for logs and docs). */
  readonly mapping: Readonly<Partial<Record<SignalName, string>>>;
}

// ---- units --------------------------------------------------------------------------------

type Converter = (x: number) => number;
const same: Converter = (x) => x;

/** Source unit (normalised) → converter into the signal catalogue's unit, per catalogue unit. */
const CONVERSIONS: Record<string, Record<string, Converter>> = {
  'km/h': { 'km/h': same, kph: same, kmh: same, mph: (x) => x * 1.609344, 'm/s': (x) => x * 3.6 },
  '°C': { '°c': same, c: same, degc: same, '℃': same, '°f': (x) => ((x - 32) * 5) / 9, f: (x) => ((x - 32) * 5) / 9, degf: (x) => ((x - 32) * 5) / 9, '℉': (x) => ((x - 32) * 5) / 9, k: (x) => x - 273.15 },
  kPa: { kpa: same, pa: (x) => x / 1000, hpa: (x) => x / 10, mbar: (x) => x / 10, bar: (x) => x * 100, psi: (x) => x * 6.894757293168, inhg: (x) => x * 3.386388666, mmhg: (x) => x * 0.1333223684, atm: (x) => x * 101.325 },
  'g/s': { 'g/s': same, 'g/sec': same, 'lb/min': (x) => x * 7.559872748, 'kg/h': (x) => x / 3.6 },
  rpm: { rpm: same, 'r/min': same, '1/min': same },
  '%': { '%': same, percent: same },
  V: { v: same, volt: same, volts: same, mv: (x) => x / 1000 },
  s: { s: same, sec: same, secs: same, seconds: same, min: (x) => x * 60, h: (x) => x * 3600 },
  '°': { '°': same, deg: same, degrees: same, '°btdc': same },
};

function normaliseUnit(unit: string): string {
  // º (ordinal indicator) is often typed for ° (degree); written as an escape so the agent bundle stays ASCII.
  return unit.trim().toLowerCase().replace(/\s+/g, '').replace(/^\u00ba/, '°');
}

/** A converter from `unit` into `signal`'s catalogue unit, or undefined if we do not know the unit. */
export function unitConverter(signal: SignalName, unit: string | undefined): Converter | undefined {
  const target = signalInfo(signal)!.unit;
  if (unit === undefined || unit.trim() === '') return same;
  return CONVERSIONS[target]?.[normaliseUnit(unit)];
}

/** The built-in format whose header this is, or undefined. */
export function detectFormat(text: string): ReplayFormat | undefined {
  const header = firstLine(text);
  if (/^"?SECONDS"?;"?PID"?;/i.test(header)) return CARSCANNER_FORMAT;
  if (/ENGINE_RUN_TI[MN]E\s*\(\s*\)/.test(header) || /ENGINE_RPM\s*\(\s*\)/.test(header)) return CAROBD_FORMAT;
  if (/Device Time/i.test(header) || /\(rpm\)/i.test(header)) return TORQUE_FORMAT;
  return undefined;
}

// ---- custom formats -------------------------------------------------------------------------

const signalEnum = z.enum(SIGNAL_NAMES as unknown as [SignalName, ...SignalName[]]);
const customSchema = z.strictObject({
  name: z.string().min(1).default('custom'),
  layout: z.enum(['wide', 'long']).default('wide'),
  delimiter: z.string().min(1).max(1).default(','),
  time: z.strictObject({ column: z.string().min(1), kind: z.enum(['runtime-seconds', 'seconds', 'epoch-ms', 'datetime']) }).optional(),
  rowRateHz: z.number().positive().max(1000).default(1),
  long: z.strictObject({ pid: z.string().min(1), value: z.string().min(1), unit: z.string().min(1) }).optional(),
  columns: z
    .record(z.string().min(1), z.union([signalEnum, z.strictObject({ signal: signalEnum, unit: z.string().optional() })]))
    .refine((c) => Object.keys(c).length > 0, 'must map at least one column'),
  /** Diagnosis columns by field, e.g. `{"mil": "MIL", "dtcs": "DTC"}` (wide layout). */
  health: z.partialRecord(z.enum(REPLAY_HEALTH_FIELDS), z.string().min(1)).optional(),
});

/** Signal names in a mapping's `columns` that are not in the catalogue (zod would only say "Invalid input"). */
function unknownSignals(raw: unknown): Array<{ column: string; signal: string }> {
  if (typeof raw !== 'object' || raw === null || !('columns' in raw)) return [];
  const columns = (raw as { columns: unknown }).columns;
  if (typeof columns !== 'object' || columns === null) return [];
  const known = new Set<string>(SIGNAL_NAMES);
  const out: Array<{ column: string; signal: string }> = [];
  for (const [column, m] of Object.entries(columns)) {
    const signal: unknown = typeof m === 'object' && m !== null ? (m as { signal?: unknown }).signal : m;
    if (typeof signal === 'string' && !known.has(signal)) out.push({ column, signal });
  }
  return out;
}

/**
 * A custom mapping from JSON, e.g.
 * `{"delimiter": ";", "time": {"column": "ts", "kind": "epoch-ms"}, "columns": {"rpm": "RPM", "v_mph": {"signal": "SPEED", "unit": "mph"}}}`.
 * Throws ConfigError naming the field that is wrong.
 */
export function parseCustomFormat(json: string, source = 'replay mapping'): ReplayFormat {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (error) {
    throw new ConfigError('replay', [{ field: source, message: `is not valid JSON: ${error instanceof Error ? error.message : String(error)}` }]);
  }
  const unknown = unknownSignals(raw);
  if (unknown.length > 0) {
    throw new ConfigError('replay', unknown.map(({ column, signal }) => ({ field: `${source}: columns.${column}`, message: `"${signal}" is not a signal; the signals are ${SIGNAL_NAMES.join(', ')}` })));
  }
  const parsed = customSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError('replay', parsed.error.issues.map((i) => ({ field: `${source}: ${i.path.join('.') || '(root)'}`, message: i.message })));
  }
  const c = parsed.data;
  if (c.layout === 'long' && !c.long) throw new ConfigError('replay', [{ field: `${source}: long`, message: 'a long layout needs {"pid", "value", "unit"} column names' }]);
  return {
    name: c.name,
    layout: c.layout,
    delimiter: c.delimiter,
    ...(c.time ? { time: c.time } : {}),
    ...(c.long ? { long: c.long } : {}),
    rowRateHz: c.rowRateHz,
    strictColumns: c.layout === 'wide',
    ...(c.health ? { health: Object.entries(c.health).map(([field, column]) => ({ field: field as ReplayHealthColumn['field'], names: [column] })) } : {}),
    columns: Object.entries(c.columns).map(([name, m]) =>
      typeof m === 'string' ? { names: [name], signal: m } : { names: [name], signal: m.signal, ...(m.unit !== undefined ? { unit: m.unit } : {}) },
    ),
  };
}

// ---- parsing --------------------------------------------------------------------------------

function firstLine(text: string): string {
  const end = text.search(/\r?\n/);
  return (end < 0 ? text : text.slice(0, end)).replace(/^\uFEFF/, '');
}

/** Names compare without case, spaces or punctuation: `Speed (OBD)` = `speed obd`. */
const key = (name: string): string => name.toLowerCase().replace(/[^a-z0-9%]+/g, '');

/** Header names listed in a message; a Torque log can have a hundred columns. */
const NAMES_LISTED = 60;

function unusable(message: string, field = 'replay'): ConfigError {
  return new ConfigError('replay', [{ field, message }]);
}

export interface ParseOptions {
  /** Split the rows by this column's value (several vehicles in one log). */
  vehicleColumn?: string;
}

interface RawRow {
  /** Clock value in seconds (relative kinds) or ms (absolute kinds); NaN = none. */
  clock: number;
  values: SignalValues;
  health?: ReplayHealthValues;
}

/** Rows, counters and reasons while a log is read. */
class LogTally {
  readonly byVehicle = new Map<string | undefined, RawRow[]>();
  readonly skipped: Partial<Record<SkipReason, number>> = {};
  readonly skippedAt: Partial<Record<SkipReason, number[]>> = {};
  readonly dropped: Partial<Record<DropReason, number>> = {};
  linesRead = 0;
  shortRows = 0;

  skip(reason: SkipReason, lineNo: number): void {
    this.skipped[reason] = (this.skipped[reason] ?? 0) + 1;
    const at = (this.skippedAt[reason] ??= []);
    if (at.length < LINES_KEPT) at.push(lineNo);
  }

  drop(reason: DropReason): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
  }

  add(vehicle: string | undefined, row: RawRow): void {
    let rows = this.byVehicle.get(vehicle);
    if (!rows) this.byVehicle.set(vehicle, (rows = []));
    rows.push(row);
  }
}

/**
 * Parse a whole drive log. Throws ConfigError only when the log cannot be used at all; a log whose
 * every row is unusable parses to no vehicles, and `explainNoUsableRows` says why.
 */
export function parseDriveLog(text: string, format: ReplayFormat, options: ParseOptions = {}): ParsedDriveLog {
  const lines = logLines(text);
  const headerLine = lines[0]?.text;
  if (headerLine === undefined) throw unusable('the log is empty');
  const headerFields = splitCsvLine(headerLine, format.delimiter);
  // A trailing delimiter on the header names no column.
  while (headerFields.length > 1 && headerFields[headerFields.length - 1] === '') headerFields.pop();
  const headers = headerFields.map(splitHeader);
  // A header is found by its name without the trailing `(unit)` (then that is its unit) or as a whole.
  const index = new Map<string, { i: number; unit: string | undefined }>();
  headers.forEach((h, i) => {
    if (key(h.name) !== '' && !index.has(key(h.name))) index.set(key(h.name), { i, unit: h.unit });
  });
  headerFields.forEach((h, i) => {
    if (key(h) !== '' && !index.has(key(h))) index.set(key(h), { i, unit: undefined });
  });
  const find = (name: string): number | undefined => index.get(key(name))?.i;
  const unitOf = (name: string): string | undefined => index.get(key(name))?.unit;
  const listed = headerFields.slice(0, NAMES_LISTED).join(', ') + (headerFields.length > NAMES_LISTED ? ` … (${headerFields.length - NAMES_LISTED} more)` : '');
  const notAColumn = (name: string, role: string, field?: string): ConfigError =>
    unusable(`${role} "${name}" is not a column of the log; its columns are: ${listed}`, field);

  const decimalComma = format.delimiter !== ',';
  const clockIndex = format.time ? find(format.time.column) : undefined;
  if (format.time && clockIndex === undefined) throw notAColumn(format.time.column, `the ${format.name} clock column`);
  const vehicleIndex = options.vehicleColumn === undefined ? undefined : find(options.vehicleColumn);
  if (options.vehicleColumn !== undefined && vehicleIndex === undefined) throw notAColumn(options.vehicleColumn, 'the vehicle column', 'replayVehicleColumn');
  const readClock = (fields: readonly string[]): number => {
    if (!format.time || clockIndex === undefined) return Number.NaN;
    const raw = fields[clockIndex];
    if (raw === undefined) return Number.NaN;
    return format.time.kind === 'datetime' ? parseDateTime(raw) : readClockNumber(raw, decimalComma);
  };
  const readVehicle = (fields: readonly string[]): string | undefined => (vehicleIndex === undefined ? undefined : fields[vehicleIndex]?.trim() || undefined);

  const tally = new LogTally();
  const mapping: Partial<Record<SignalName, string>> = {};
  const converters = new Map<string, Converter | undefined>();
  /** Converts and checks one logged value into `values`; counts what it leaves out. */
  const put = (values: SignalValues, signal: SignalName, text: string | undefined, columnConvert: Converter | undefined, columnUnit: string | undefined): void => {
    const logged = readLoggedValue(text, decimalComma);
    if (logged.kind === 'missing') {
      if (format.layout === 'long') tally.drop('empty-reading'); // the whole line was this one reading
      return;
    }
    if (logged.kind === 'not-a-number') return tally.drop('not-a-number');
    let convert = columnConvert;
    // A unit written with the value is the most specific statement of it.
    const unit = logged.unit ?? columnUnit;
    if (logged.unit !== undefined || convert === undefined) {
      const ck = `${signal}|${unit ?? ''}`;
      if (!converters.has(ck)) converters.set(ck, unitConverter(signal, unit));
      convert = converters.get(ck);
    }
    if (!convert) return tally.drop('unknown-unit');
    const info = signalInfo(signal)!;
    const v = convert(logged.value);
    if (!Number.isFinite(v) || v < info.min || v > info.max) return tally.drop('out-of-range');
    values[signal] = v;
  };

  if (format.layout === 'wide') {
    const used: { index: number; signal: SignalName; convert: Converter }[] = [];
    for (const c of format.columns) {
      const hit = c.names.find((n) => find(n) !== undefined);
      if (hit === undefined && format.strictColumns) throw notAColumn(c.names[0]!, `the mapped column (${c.signal})`, 'replayMapping');
      if (hit === undefined || used.some((u) => u.signal === c.signal)) continue;
      const i = find(hit)!;
      const unit = c.unit ?? unitOf(hit);
      const convert = unitConverter(c.signal, unit);
      if (!convert) throw unusable(`column "${headers[i]!.name}" is in ${unit}, which cannot be converted to ${signalInfo(c.signal)!.unit} for ${c.signal}`);
      used.push({ index: i, signal: c.signal, convert });
      mapping[c.signal] = headers[i]!.name;
    }
    if (used.length === 0) throw unusable(`no column of this ${format.name} log maps to a signal (header: ${headerLine.slice(0, 120)})`);
    const healthUsed: Array<{ index: number; field: ReplayHealthColumn['field'] }> = [];
    for (const c of format.health ?? []) {
      const hit = c.names.find((n) => find(n) !== undefined);
      if (hit === undefined && format.strictColumns) throw notAColumn(c.names[0]!, `the mapped column (${c.field})`, 'replayMapping');
      if (hit !== undefined && !healthUsed.some((u) => u.field === c.field)) healthUsed.push({ index: find(hit)!, field: c.field });
    }
    let previousFieldCount = headers.length;
    for (const line of lines.slice(1)) {
      if (line.text === headerLine) continue; // Torque repeats its header where a new log starts
      tally.linesRead++;
      const fields = splitCsvLine(line.text, format.delimiter);
      if (line.unterminated && fields.length < Math.min(headers.length, previousFieldCount)) {
        // The file was cut off inside this line: its last field may be cut mid-number.
        const cut = fields.pop()!;
        if (cut !== '' && used.some((u) => u.index === fields.length)) tally.drop('cut-off');
      }
      previousFieldCount = fields.length;
      if (fields.length < headers.length) tally.shortRows++;
      const clock = readClock(fields);
      if (format.time && Number.isNaN(clock)) {
        tally.skip('no-clock', line.lineNo);
        continue;
      }
      const vehicle = readVehicle(fields);
      if (vehicleIndex !== undefined && vehicle === undefined) {
        tally.skip('no-vehicle', line.lineNo);
        continue;
      }
      const values: SignalValues = {};
      for (const u of used) put(values, u.signal, fields[u.index], u.convert, undefined);
      if (Object.keys(values).length === 0) {
        tally.skip('no-signal', line.lineNo);
        continue;
      }
      const health: ReplayHealthValues = {};
      for (const u of healthUsed) if (!readHealthField(health, u.field, fields[u.index], decimalComma)) tally.drop('bad-health-value');
      tally.add(vehicle, Object.keys(health).length > 0 ? { clock, values, health } : { clock, values });
    }
  } else {
    const spec = format.long!;
    const [pi, vi, ui] = [find(spec.pid), find(spec.value), find(spec.unit)];
    if (pi === undefined) throw notAColumn(spec.pid, `the ${format.name} PID column`);
    if (vi === undefined) throw notAColumn(spec.value, `the ${format.name} value column`);
    const byPid = new Map<string, ReplayColumn>();
    for (const c of format.columns) for (const n of c.names) byPid.set(key(n), c);
    /** The sample being filled, per vehicle: readings with one clock value form one sample. */
    const current = new Map<string | undefined, RawRow>();
    for (const line of lines.slice(1)) {
      if (line.text === headerLine) continue;
      tally.linesRead++;
      const fields = splitCsvLine(line.text, format.delimiter);
      const c = byPid.get(key(fields[pi] ?? ''));
      if (!c) continue; // a reading of something we do not carry (GPS, custom PIDs): not an error
      const clock = readClock(fields);
      if (Number.isNaN(clock)) {
        tally.skip('no-clock', line.lineNo);
        continue;
      }
      const vehicle = readVehicle(fields);
      if (vehicleIndex !== undefined && vehicle === undefined) {
        tally.skip('no-vehicle', line.lineNo);
        continue;
      }
      mapping[c.signal] ??= fields[pi]!;
      let row = current.get(vehicle);
      // One sample per clock value; a second reading of the same signal at the same clock starts a new one.
      if (!row || row.clock !== clock || row.values[c.signal] !== undefined) {
        if (row && Object.keys(row.values).length > 0) tally.add(vehicle, row);
        row = { clock, values: {} };
        current.set(vehicle, row);
      }
      const unit = c.unit ?? (ui !== undefined ? fields[ui] : undefined);
      put(row.values, c.signal, fields[vi], undefined, unit === '' ? undefined : unit);
    }
    for (const [vehicle, row] of current) if (Object.keys(row.values).length > 0) tally.add(vehicle, row);
    if (Object.keys(mapping).length === 0) throw unusable(`no PID of this ${format.name} log maps to a signal`);
  }

  const absolute = format.time?.kind === 'datetime' || format.time?.kind === 'epoch-ms';
  const vehicles: ReplayLog[] = [];
  for (const [vehicle, raw] of tally.byVehicle) {
    const times = eventTimes(
      raw.map((r) => r.clock),
      format.time?.kind ?? 'seconds',
      format.rowRateHz,
    );
    vehicles.push({ format: format.name, absolute, vehicle, rows: raw.map((r, i) => (r.health ? { t: times[i]!, values: r.values, health: r.health } : { t: times[i]!, values: r.values })) });
  }
  const sum = (counts: Partial<Record<string, number>>): number => Object.values(counts).reduce<number>((a, b) => a + (b ?? 0), 0);
  return {
    format: format.name,
    absolute,
    vehicleColumn: options.vehicleColumn,
    vehicles,
    linesRead: tally.linesRead,
    rowsUsable: vehicles.reduce((n, v) => n + v.rows.length, 0),
    skipped: tally.skipped,
    skippedAt: tally.skippedAt,
    skippedLines: sum(tally.skipped),
    dropped: tally.dropped,
    droppedValues: sum(tally.dropped),
    shortRows: tally.shortRows,
    mapping,
  };
}

/** What was skipped and left out, by reason, with the first line numbers: `no clock value: 2 (lines 4, 5); …`. */
export function describeSkips(log: ParsedDriveLog): string {
  const parts: string[] = [];
  for (const reason of Object.keys(SKIP_REASONS) as SkipReason[]) {
    const n = log.skipped[reason];
    if (!n) continue;
    const at = log.skippedAt[reason] ?? [];
    parts.push(`${SKIP_REASONS[reason]}: ${n} (line${at.length > 1 ? 's' : ''} ${at.join(', ')}${n > at.length ? ' …' : ''})`);
  }
  const dropped = (Object.keys(DROP_REASONS) as DropReason[]).filter((r) => log.dropped[r]).map((r) => `${DROP_REASONS[r]}: ${log.dropped[r]}`);
  return [parts.length > 0 ? `rows skipped — ${parts.join('; ')}` : '', dropped.length > 0 ? `values left out — ${dropped.join('; ')}` : ''].filter(Boolean).join('; ');
}

/**
 * The one vehicle to play. `vehicle` picks it by the vehicle column's value; without it the log
 * must hold exactly one. Throws ConfigError saying why there is nothing to play, or which
 * vehicles there are to pick from.
 */
export function pickVehicle(log: ParsedDriveLog, vehicle?: string): ReplayLog {
  if (log.vehicles.length === 0) {
    const why = describeSkips(log);
    throw unusable(`the log has no usable rows: ${log.linesRead} data line${log.linesRead === 1 ? '' : 's'} read${why ? `; ${why}` : ''}`);
  }
  const names = (): string => log.vehicles.map((v) => v.vehicle).join(', ');
  if (vehicle !== undefined && log.vehicleColumn === undefined) throw unusable('picking a vehicle needs a vehicle column (--replay-vehicle-column)', 'replayVehicle');
  if (vehicle !== undefined) {
    const hit = log.vehicles.find((v) => v.vehicle === vehicle);
    if (!hit) throw unusable(`no usable rows of vehicle "${vehicle}" in column "${log.vehicleColumn}"; the vehicles with usable rows are: ${names()}`, 'replayVehicle');
    return hit;
  }
  if (log.vehicles.length > 1) {
    throw unusable(`the log holds ${log.vehicles.length} vehicles in column "${log.vehicleColumn}" (${names()}): pick one with --replay-vehicle`, 'replayVehicle');
  }
  return log.vehicles[0]!;
}
