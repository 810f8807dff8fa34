/**
 * Recorded drive logs (CSV) → samples of our signal catalogue, for the replay source.
 *
 * Three built-in formats and a custom one:
 * - `carobd`: the carOBD dataset (e.g. /work/shared/data/carobd-etios-drive1.csv): wide, comma
 *   separated, CRLF, a trailing comma on every line, headers `NAME ()`, J1979 units, no clock —
 *   the engine run time column (spelt ENGINE_RUN_TINE) stands in, repeating for rows logged in the
 *   same second.
 * - `torque`: Torque Pro `trackLog.csv`: wide, comma separated, units in the header
 *   (`Engine RPM(rpm)`, `Speed (OBD)(mph)`), `-` for a missing value, `Device Time`
 *   (`18-Jun-2019 10:48:42.435`, read as UTC) as clock, header lines repeated where a new log starts.
 * - `carscanner`: Car Scanner export: long format, `"SECONDS";"PID";"VALUE";"UNITS";…`, one row
 *   per reading; readings with the same SECONDS form one sample. SECONDS is a relative clock.
 * - custom: a JSON mapping file (see `parseCustomFormat`).
 *
 * Every row becomes one sample — repeated identical rows included: they are readings the logger
 * took, so each gets its own event time (rows that share a clock value are spread evenly over the
 * interval to the next clock value). Values are converted to contracts/signals.ts units; a value
 * outside the signal's range, or not a number, is left out of its sample and counted; a row left
 * with no signal at all is skipped and counted. Parsing never throws for bad data rows; it throws
 * ConfigError for a file or mapping it cannot use at all (no header, no mapped column, unknown unit).
 */
import { z } from 'zod';
import { SIGNAL_NAMES, signalInfo, type SignalName } from '../contracts/signals.ts';
import type { SignalValues } from '../contracts/telemetry.ts';
import { ConfigError } from '../common/errors.ts';

export type ReplayTimeKind =
  /** Engine run time in seconds; repeats while several rows fall in one second, restarts at 0 after an engine restart. */
  | 'runtime-seconds'
  /** Seconds on a relative clock. */
  | 'seconds'
  /** Unix time in milliseconds. */
  | 'epoch-ms'
  /** Date and time text (`18-Jun-2019 10:48:42.435` or ISO 8601); without a zone it is read as UTC. */
  | 'datetime';

export interface ReplayColumn {
  /** Header names (wide) or PID names (long) that carry the signal; matched ignoring case, spaces and punctuation. */
  readonly names: readonly string[];
  readonly signal: SignalName;
  /** Unit of the logged values; default: the unit in the header (`Name(unit)`) or, failing that, the signal's own. */
  readonly unit?: string;
}

export interface ReplayFormat {
  readonly name: string;
  readonly layout: 'wide' | 'long';
  readonly delimiter: string;
  /** Where the clock is; absent = none, rows are spaced at `rowRateHz`. */
  readonly time?: { readonly column: string; readonly kind: ReplayTimeKind };
  readonly columns: readonly ReplayColumn[];
  /** Row spacing when the log has no clock, and for the last rows after the clock's final step. */
  readonly rowRateHz: number;
  /** Long layout: the PID, value and unit columns. */
  readonly long?: { readonly pid: string; readonly value: string; readonly unit: string };
}

export interface ReplayRow {
  /** Event time in ms: relative to the first row (`absolute` false) or Unix time. Strictly increasing, whole ms. */
  readonly t: number;
  readonly values: SignalValues;
}

export interface ParsedDriveLog {
  readonly format: string;
  readonly rows: ReplayRow[];
  /** True when `t` is Unix time (the log had a date-time clock). */
  readonly absolute: boolean;
  /** Data lines read (header lines excluded). */
  readonly linesRead: number;
  /** Lines skipped: wrong field count, no clock value, or no usable signal. */
  readonly skippedLines: number;
  /** Values left out: not a number, or outside the signal's range. */
  readonly droppedValues: number;
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

// ---- built-in formats -----------------------------------------------------------------------

const col = (signal: SignalName, ...names: string[]): ReplayColumn => ({ signal, names });

export const CAROBD_FORMAT: ReplayFormat = {
  name: 'carobd',
  layout: 'wide',
  delimiter: ',',
  time: { column: 'ENGINE_RUN_TINE', kind: 'runtime-seconds' },
  rowRateHz: 2,
  columns: [
    col('RUN_TIME', 'ENGINE_RUN_TINE', 'ENGINE_RUN_TIME'),
    col('RPM', 'ENGINE_RPM'),
    col('SPEED', 'VEHICLE_SPEED'),
    col('THROTTLE_POS', 'THROTTLE'),
    col('ENGINE_LOAD', 'ENGINE_LOAD'),
    col('COOLANT_TEMP', 'COOLANT_TEMPERATURE'),
    col('LONG_FUEL_TRIM_1', 'LONG_TERM_FUEL_TRIM_BANK_1'),
    col('SHORT_FUEL_TRIM_1', 'SHORT_TERM_FUEL_TRIM_BANK_1'),
    col('INTAKE_PRESSURE', 'INTAKE_MANIFOLD_PRESSURE'),
    col('FUEL_LEVEL', 'FUEL_TANK'),
    col('BAROMETRIC_PRESSURE', 'ABSOLUTE_BAROMETRIC_PRESSURE'),
    col('INTAKE_TEMP', 'INTAKE_AIR_TEMP'),
    col('TIMING_ADVANCE', 'TIMING_ADVANCE'),
    col('CATALYST_TEMP_B1S1', 'CATALYST_TEMPERATURE_BANK1_SENSOR1'),
    col('CONTROL_MODULE_VOLTAGE', 'CONTROL_MODULE_VOLTAGE'),
    col('MAF', 'MAF', 'MAF_AIR_FLOW_RATE'),
  ],
};

export const TORQUE_FORMAT: ReplayFormat = {
  name: 'torque',
  layout: 'wide',
  delimiter: ',',
  time: { column: 'Device Time', kind: 'datetime' },
  rowRateHz: 1,
  columns: [
    col('RPM', 'Engine RPM'),
    col('SPEED', 'Speed (OBD)'),
    col('COOLANT_TEMP', 'Engine Coolant Temperature'),
    col('ENGINE_LOAD', 'Engine Load'),
    col('INTAKE_TEMP', 'Intake Air Temperature'),
    col('MAF', 'Mass Air Flow Rate'),
    col('THROTTLE_POS', 'Throttle Position(Manifold)', 'Throttle Position'),
    col('SHORT_FUEL_TRIM_1', 'Fuel Trim Bank 1 Short Term'),
    col('LONG_FUEL_TRIM_1', 'Fuel Trim Bank 1 Long Term'),
    col('INTAKE_PRESSURE', 'Intake Manifold Pressure'),
    col('BAROMETRIC_PRESSURE', 'Barometric pressure (from vehicle)', 'Barometric pressure'),
    col('TIMING_ADVANCE', 'Timing Advance'),
    col('O2_B1S1', 'O2 Volts Bank 1 sensor 1', 'O2 Sensor1 Voltage'),
    col('CATALYST_TEMP_B1S1', 'Catalyst Temperature (Bank 1 Sensor 1)'),
    col('FUEL_LEVEL', 'Fuel Level (From Engine ECU)', 'Fuel Level'),
    col('CONTROL_MODULE_VOLTAGE', 'Voltage (Control Module)'),
    col('RUN_TIME', 'Run time since engine start'),
  ],
};

export const CARSCANNER_FORMAT: ReplayFormat = {
  name: 'carscanner',
  layout: 'long',
  delimiter: ';',
  time: { column: 'SECONDS', kind: 'seconds' },
  long: { pid: 'PID', value: 'VALUE', unit: 'UNITS' },
  rowRateHz: 1,
  columns: [
    col('RPM', 'Engine RPM'),
    col('SPEED', 'Vehicle speed', 'Speed (OBD)'),
    col('COOLANT_TEMP', 'Engine coolant temperature'),
    col('ENGINE_LOAD', 'Calculated engine load value', 'Calculated engine load', 'Engine load'),
    col('INTAKE_TEMP', 'Intake air temperature'),
    col('MAF', 'MAF air flow rate', 'Mass air flow rate'),
    col('THROTTLE_POS', 'Throttle position', 'Absolute throttle position'),
    col('SHORT_FUEL_TRIM_1', 'Short term fuel % trim - Bank 1', 'Short term fuel trim - Bank 1', 'Short term fuel trim Bank 1'),
    col('LONG_FUEL_TRIM_1', 'Long term fuel % trim - Bank 1', 'Long term fuel trim - Bank 1', 'Long term fuel trim Bank 1'),
    col('INTAKE_PRESSURE', 'Intake manifold absolute pressure', 'Intake manifold pressure'),
    col('BAROMETRIC_PRESSURE', 'Barometric pressure', 'Absolute barometric pressure'),
    col('TIMING_ADVANCE', 'Timing advance'),
    col('O2_B1S1', 'Oxygen sensor 1 Bank 1 voltage', 'O2 sensor voltage Bank 1 Sensor 1', 'Oxygen sensor voltage Bank 1 Sensor 1'),
    col('CATALYST_TEMP_B1S1', 'Catalyst temperature Bank 1 Sensor 1', 'Catalyst temperature (Bank 1 Sensor 1)'),
    col('FUEL_LEVEL', 'Fuel level input', 'Fuel tank level input', 'Fuel level'),
    col('CONTROL_MODULE_VOLTAGE', 'Control module voltage'),
    col('RUN_TIME', 'Run time since engine start'),
  ],
};

export const REPLAY_FORMATS = { carobd: CAROBD_FORMAT, torque: TORQUE_FORMAT, carscanner: CARSCANNER_FORMAT } as const;
export type BuiltInReplayFormat = keyof typeof REPLAY_FORMATS;

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
});

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

/** Splits one CSV line; fields may be double-quoted (`""` inside quotes is a quote). Trailing empty field from a trailing delimiter is dropped. */
export function splitCsvLine(line: string, delimiter: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === delimiter) {
      out.push(field.trim());
      field = '';
    } else field += ch;
  }
  out.push(field.trim());
  if (out.length > 1 && out[out.length - 1] === '') out.pop();
  return out;
}

/** Names compare without case, spaces or punctuation: `Speed (OBD)` = `speed obd`. */
const key = (name: string): string => name.toLowerCase().replace(/[^a-z0-9%]+/g, '');

/** `Engine RPM(rpm)` → name `Engine RPM`, unit `rpm`; `ENGINE_RPM ()` → name `ENGINE_RPM`, no unit. */
export function splitHeader(header: string): { name: string; unit: string | undefined } {
  const m = /^(.*?)\s*\(([^()]*)\)\s*$/.exec(header.trim());
  if (!m) return { name: header.trim(), unit: undefined };
  const unit = m[2]!.trim();
  return { name: m[1]!.trim(), unit: unit === '' ? undefined : unit };
}

const MONTHS: Record<string, number> = { jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11 };

/** `18-Jun-2019 10:48:42.435` (UTC) or anything Date.parse reads (ISO 8601). NaN if neither. */
export function parseDateTime(text: string): number {
  const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})\s+(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$/.exec(text.trim());
  if (m) {
    const month = MONTHS[m[2]!.toLowerCase()];
    if (month === undefined) return Number.NaN;
    return Date.UTC(Number(m[3]), month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]), Number((m[7] ?? '0').padEnd(3, '0')));
  }
  const iso = /\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text.trim()) ? `${text.trim().replace(' ', 'T')}Z` : text.trim();
  return Date.parse(iso);
}

function parseNumber(text: string | undefined): number {
  if (text === undefined) return Number.NaN;
  const t = text.trim();
  if (t === '' || t === '-') return Number.NaN;
  return Number(t);
}

function unusable(message: string): ConfigError {
  return new ConfigError('replay', [{ field: 'replay', message }]);
}

interface RawRow {
  /** Clock value in seconds (relative kinds) or ms (absolute kinds); NaN = none. */
  clock: number;
  values: SignalValues;
}

/** Parse a whole drive log. Throws ConfigError only when the log cannot be used at all. */
export function parseDriveLog(text: string, format: ReplayFormat): ParsedDriveLog {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/).filter((l) => l.trim() !== '');
  const headerLine = lines[0];
  if (headerLine === undefined) throw unusable('the log is empty');
  const headerFields = splitCsvLine(headerLine, format.delimiter);
  const headers = headerFields.map(splitHeader);
  // A header is found by its name without the trailing `(unit)` (then that is its unit) or as a whole.
  const index = new Map<string, { i: number; unit: string | undefined }>();
  headers.forEach((h, i) => {
    if (!index.has(key(h.name))) index.set(key(h.name), { i, unit: h.unit });
  });
  headerFields.forEach((h, i) => {
    if (!index.has(key(h))) index.set(key(h), { i, unit: undefined });
  });
  const find = (name: string): number | undefined => index.get(key(name))?.i;
  const unitOf = (name: string): string | undefined => index.get(key(name))?.unit;
  const counters = { skippedLines: 0, droppedValues: 0 };
  const mapping: Partial<Record<SignalName, string>> = {};

  const clockIndex = format.time ? find(format.time.column) : undefined;
  if (format.time && clockIndex === undefined) {
    throw unusable(`${format.name} log has no clock column "${format.time.column}" (header: ${headerLine.slice(0, 120)})`);
  }
  const readClock = (fields: readonly string[]): number => {
    if (!format.time || clockIndex === undefined) return Number.NaN;
    const raw = fields[clockIndex];
    if (raw === undefined) return Number.NaN;
    return format.time.kind === 'datetime' ? parseDateTime(raw) : parseNumber(raw);
  };

  const put = (values: SignalValues, signal: SignalName, value: number, convert: Converter): void => {
    const info = signalInfo(signal)!;
    const v = convert(value);
    if (!Number.isFinite(v) || v < info.min || v > info.max) {
      counters.droppedValues++;
      return;
    }
    values[signal] = v;
  };

  const raw: RawRow[] = [];
  let linesRead = 0;
  if (format.layout === 'wide') {
    const used: { index: number; signal: SignalName; convert: Converter }[] = [];
    for (const c of format.columns) {
      const hit = c.names.find((n) => find(n) !== undefined);
      if (hit === undefined || used.some((u) => u.signal === c.signal)) continue;
      const i = find(hit)!;
      const unit = c.unit ?? unitOf(hit);
      const convert = unitConverter(c.signal, unit);
      if (!convert) throw unusable(`column "${headers[i]!.name}" is in ${unit}, which cannot be converted to ${signalInfo(c.signal)!.unit} for ${c.signal}`);
      used.push({ index: i, signal: c.signal, convert });
      mapping[c.signal] = headers[i]!.name;
    }
    if (used.length === 0) throw unusable(`no column of this ${format.name} log maps to a signal (header: ${headerLine.slice(0, 120)})`);
    for (const line of lines.slice(1)) {
      if (line === headerLine) continue; // Torque repeats its header where a new log starts
      linesRead++;
      const fields = splitCsvLine(line, format.delimiter);
      if (fields.length < headers.length) {
        counters.skippedLines++;
        continue;
      }
      const values: SignalValues = {};
      for (const u of used) {
        const x = parseNumber(fields[u.index]);
        if (Number.isNaN(x)) {
          if (fields[u.index] !== '-' && fields[u.index] !== '') counters.droppedValues++;
          continue;
        }
        put(values, u.signal, x, u.convert);
      }
      const clock = readClock(fields);
      if (Object.keys(values).length === 0 || (format.time && Number.isNaN(clock))) {
        counters.skippedLines++;
        continue;
      }
      raw.push({ clock, values });
    }
  } else {
    const spec = format.long!;
    const [pi, vi, ui] = [find(spec.pid), find(spec.value), find(spec.unit)];
    if (pi === undefined || vi === undefined) throw unusable(`${format.name} log needs "${spec.pid}" and "${spec.value}" columns`);
    const byPid = new Map<string, ReplayColumn>();
    for (const c of format.columns) for (const n of c.names) byPid.set(key(n), c);
    const converters = new Map<string, Converter | undefined>();
    let current: RawRow | undefined;
    for (const line of lines.slice(1)) {
      if (line === headerLine) continue;
      linesRead++;
      const fields = splitCsvLine(line, format.delimiter);
      const c = byPid.get(key(fields[pi] ?? ''));
      if (!c) continue; // a reading of something we do not carry (GPS, custom PIDs): not an error
      const clock = readClock(fields);
      const x = parseNumber(fields[vi]);
      if (Number.isNaN(clock) || Number.isNaN(x)) {
        counters.droppedValues++;
        continue;
      }
      const unit = c.unit ?? (ui !== undefined ? fields[ui] : undefined);
      const ck = `${c.signal}|${unit ?? ''}`;
      if (!converters.has(ck)) converters.set(ck, unitConverter(c.signal, unit));
      const convert = converters.get(ck);
      if (!convert) {
        counters.droppedValues++;
        continue;
      }
      mapping[c.signal] ??= fields[pi]!;
      // One sample per clock value; a second reading of the same signal at the same clock starts a new one.
      if (!current || current.clock !== clock || current.values[c.signal] !== undefined) {
        if (current && Object.keys(current.values).length > 0) raw.push(current);
        current = { clock, values: {} };
      }
      put(current.values, c.signal, x, convert);
    }
    if (current && Object.keys(current.values).length > 0) raw.push(current);
    if (Object.keys(mapping).length === 0) throw unusable(`no PID of this ${format.name} log maps to a signal`);
  }

  const absolute = format.time?.kind === 'datetime' || format.time?.kind === 'epoch-ms';
  const times = eventTimes(
    raw.map((r) => r.clock),
    format.time?.kind ?? 'seconds',
    format.rowRateHz,
  );
  return {
    format: format.name,
    rows: raw.map((r, i) => ({ t: times[i]!, values: r.values })),
    absolute,
    linesRead,
    mapping,
    ...counters,
  };
}

/**
 * Clock values → strictly increasing whole-ms event times. Rows sharing a clock value are spread
 * evenly over the step to the next value (a 1 s run-time clock logged at 2 rows/s gives 0, 500 ms);
 * the last group uses the row rate. A clock that goes backwards (engine restart: run time back to
 * 0) continues after the previous row instead. Relative clocks start at 0; absolute ones keep
 * their Unix time. NaN clocks (no clock column) are spaced at the row rate.
 */
export function eventTimes(clocks: readonly number[], kind: ReplayTimeKind, rowRateHz: number): number[] {
  const toMs = kind === 'datetime' || kind === 'epoch-ms' ? 1 : 1000;
  const rowMs = 1000 / rowRateHz;
  const out: number[] = new Array<number>(clocks.length);
  let offset = 0; // added after a clock restart
  let i = 0;
  let prevEnd = Number.NEGATIVE_INFINITY;
  let prevClock = Number.NEGATIVE_INFINITY;
  const base = Number.isFinite(clocks[0]) ? clocks[0]! * toMs : 0;
  while (i < clocks.length) {
    const c = clocks[i]!;
    if (!Number.isFinite(c)) {
      const t = Math.max(Math.round(prevEnd === Number.NEGATIVE_INFINITY ? 0 : prevEnd + rowMs), prevEnd + 1);
      out[i] = t;
      prevEnd = t;
      i++;
      continue;
    }
    let j = i;
    while (j < clocks.length && clocks[j] === c) j++;
    if (c < prevClock) {
      // The clock went back (engine restart): carry on one row gap after the previous row.
      offset = prevEnd + rowMs - (c * toMs - (toMs === 1 ? 0 : base));
    }
    prevClock = c;
    const groupStart = c * toMs - (toMs === 1 ? 0 : base) + offset;
    const next = clocks[j];
    const stepMs = next !== undefined && Number.isFinite(next) && next * toMs > c * toMs ? (next - c) * toMs : (j - i) * rowMs;
    for (let k = i; k < j; k++) {
      let t = Math.round(groupStart + ((k - i) * stepMs) / (j - i));
      if (t <= prevEnd) t = Math.floor(prevEnd) + 1;
      out[k] = t;
      prevEnd = t;
    }
    i = j;
  }
  return out;
}
