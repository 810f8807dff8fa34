/**
 * The text layer of drive logs: lines, CSV fields, header names with their units, numbers as
 * loggers write them, and date-times. Pure functions; nothing here knows signals or formats.
 *
 * Guarantees: a field is never invented or dropped (`a;b;` is three fields, the last empty);
 * a value is read as a number only when all of it is a number, optionally followed by a unit
 * (`82C`, `2124RPM`, `74,50%` with a decimal comma where the delimiter allows one) — anything
 * else is reported as not a number, never guessed.
 */

export interface LogLine {
  readonly text: string;
  /** 1-based line number in the file (the header is line 1). */
  readonly lineNo: number;
  /** The file ended inside this line (no line end after it): its last field may be cut short. */
  readonly unterminated: boolean;
}

/** Non-blank lines with their numbers; a byte-order mark is removed; CRLF and LF both end a line. */
export function logLines(text: string): LogLine[] {
  const parts = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const out: LogLine[] = [];
  parts.forEach((part, i) => {
    if (part.trim() === '') return;
    out.push({ text: part, lineNo: i + 1, unterminated: i === parts.length - 1 });
  });
  return out;
}

/**
 * Splits one CSV line; fields may be double-quoted (`""` inside quotes is a quote) and are
 * trimmed. A trailing delimiter ends with an empty field (`a;b;` → 3 fields): a logger that
 * writes one on every line (carOBD) thereby gets one field more than its header names, which
 * carries no column and is ignored; a real empty last value stays a value that is missing.
 */
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
  return out;
}

/** `Engine RPM(rpm)` → name `Engine RPM`, unit `rpm`; `ENGINE_RPM ()` → name `ENGINE_RPM`, no unit. */
export function splitHeader(header: string): { name: string; unit: string | undefined } {
  const m = /^(.*?)\s*\(([^()]*)\)\s*$/.exec(header.trim());
  if (!m) return { name: header.trim(), unit: undefined };
  const unit = m[2]!.trim();
  return { name: m[1]!.trim(), unit: unit === '' ? undefined : unit };
}

/** What a logged value holds: nothing (empty, `-`), something that is not a number, or a number with perhaps its unit. */
export type LoggedValue = { readonly kind: 'missing' } | { readonly kind: 'not-a-number' } | { readonly kind: 'number'; readonly value: number; readonly unit: string | undefined };

const MISSING: LoggedValue = { kind: 'missing' };
const NOT_A_NUMBER: LoggedValue = { kind: 'not-a-number' };
/** A number (`12`, `-0.5`, `.5`, `1e3`, with `,` as the decimal mark where allowed) and what follows it. */
const NUMBER_AND_UNIT = /^([+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?)\s*(\S.*)?$/;

/**
 * Reads a logged value. `decimalComma`: the log's delimiter is not a comma, so `74,50` is 74.5
 * (a value holding both `.` and `,` is ambiguous — thousands or decimals — and not a number).
 * A unit written after the number (`82C`, `2124RPM`, `12.5 km/h`) is returned for conversion.
 */
export function readLoggedValue(text: string | undefined, decimalComma: boolean): LoggedValue {
  if (text === undefined) return MISSING;
  const t = text.trim();
  if (t === '' || t === '-') return MISSING;
  const m = NUMBER_AND_UNIT.exec(t);
  if (!m) return NOT_A_NUMBER;
  let digits = m[1]!;
  if (digits.includes(',')) {
    if (!decimalComma || digits.includes('.')) return NOT_A_NUMBER;
    digits = digits.replace(',', '.');
  }
  const value = Number(digits);
  if (!Number.isFinite(value)) return NOT_A_NUMBER;
  return { kind: 'number', value, unit: m[2]?.trim() };
}

/** A clock value: a plain number (decimal comma where allowed), NaN otherwise. */
export function readClockNumber(text: string | undefined, decimalComma: boolean): number {
  const v = readLoggedValue(text, decimalComma);
  return v.kind === 'number' && v.unit === undefined ? v.value : Number.NaN;
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
