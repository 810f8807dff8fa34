/**
 * Reads a carOBD CSV recording (e.g. /work/shared/data/carobd-etios-drive1.csv) into signals of
 * our catalogue. Quirks handled: CRLF line ends, a trailing comma on every line, headers written
 * as `NAME ()`, no timestamp column (the engine run time column stands in), repeated rows.
 */
import { readFileSync } from 'node:fs';
import type { SignalName } from '../contracts/signals.ts';

/** carOBD column → our signal name. */
const COLUMNS: Record<string, SignalName> = {
  ENGINE_RPM: 'RPM',
  VEHICLE_SPEED: 'SPEED',
  THROTTLE: 'THROTTLE_POS',
  ENGINE_LOAD: 'ENGINE_LOAD',
  COOLANT_TEMPERATURE: 'COOLANT_TEMP',
  LONG_TERM_FUEL_TRIM_BANK_1: 'LONG_FUEL_TRIM_1',
  SHORT_TERM_FUEL_TRIM_BANK_1: 'SHORT_FUEL_TRIM_1',
  INTAKE_MANIFOLD_PRESSURE: 'INTAKE_PRESSURE',
  FUEL_TANK: 'FUEL_LEVEL',
  ABSOLUTE_BAROMETRIC_PRESSURE: 'BAROMETRIC_PRESSURE',
  INTAKE_AIR_TEMP: 'INTAKE_TEMP',
  TIMING_ADVANCE: 'TIMING_ADVANCE',
  CATALYST_TEMPERATURE_BANK1_SENSOR1: 'CATALYST_TEMP_B1S1',
  CONTROL_MODULE_VOLTAGE: 'CONTROL_MODULE_VOLTAGE',
};

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
