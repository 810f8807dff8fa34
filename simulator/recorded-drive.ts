/**
 * Reads a carOBD CSV recording (e.g. /work/shared/data/carobd-etios-drive1.csv) into signals of
 * our catalogue. Quirks handled: CRLF line ends, a trailing comma on every line, headers written
 * as `NAME ()`, no timestamp column (the engine run time column stands in), repeated rows.
 * Repeated rows are dropped here, as statistics want; the agent's replay source (agent/replay-source.ts)
 * keeps them, since each is a reading the logger took.
 */
import { readFileSync } from 'node:fs';
import { CAROBD_FORMAT } from '../contracts/drive-log-formats.ts';
import type { SignalName } from '../contracts/signals.ts';

/**
 * carOBD column → our signal name: the carOBD mapping the agent's replay source reads with
 * (contracts/drive-log-formats.ts), minus the run time, which is kept apart as `runTimeS`.
 */
const COLUMNS: Record<string, SignalName> = Object.fromEntries(
  CAROBD_FORMAT.columns.filter((c) => c.signal !== 'RUN_TIME').flatMap((c) => c.names.map((n) => [n, c.signal] as const)),
);

export interface RecordedRow {
  /** Engine run time (s) as recorded. */
  runTimeS: number;
  values: Partial<Record<SignalName, number>>;
}

export interface RecordedDrive {
  rows: RecordedRow[];
  /** Rows dropped because they repeated the previous row exactly. */
  repeatedRows: number;
  /** Rows dropped because a field was not a number. */
  badRows: number;
}

export function parseCarObdCsv(text: string): RecordedDrive {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').replace(/,\s*$/, '').split(',').map((h) => h.replace(/\(\s*\)/, '').trim());
  const runTimeCol = header.findIndex((h) => h.startsWith('ENGINE_RUN_TI'));
  const rows: RecordedRow[] = [];
  let repeatedRows = 0;
  let badRows = 0;
  let previous = '';
  for (const line of lines.slice(1)) {
    const trimmed = line.replace(/,\s*$/, '');
    if (trimmed === previous) {
      repeatedRows++;
      continue;
    }
    previous = trimmed;
    const fields = trimmed.split(',').map((f) => Number(f.trim()));
    if (fields.length < header.length || fields.some((f) => !Number.isFinite(f))) {
      badRows++;
      continue;
    }
    const values: Partial<Record<SignalName, number>> = {};
    header.forEach((h, i) => {
      const name = COLUMNS[h];
      if (name) values[name] = fields[i]!;
    });
    rows.push({ runTimeS: runTimeCol >= 0 ? fields[runTimeCol]! : rows.length, values });
  }
  return { rows, repeatedRows, badRows };
}

export function readCarObdCsv(path: string): RecordedDrive {
  return parseCarObdCsv(readFileSync(path, 'utf8'));
}
