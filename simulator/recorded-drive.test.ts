import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCarObdCsv, readCarObdCsv } from './recorded-drive.ts';

describe('recorded carOBD drive', () => {
  it('parses CRLF, trailing commas, "NAME ()" headers and drops repeated rows', () => {
    const csv = 'ENGINE_RUN_TINE (),ENGINE_RPM (),VEHICLE_SPEED (),COOLANT_TEMPERATURE (),\r\n0, 800.5, 0, 81,\r\n0, 800.5, 0, 81,\r\n1, 1200, 12, 82,\r\n2, x, 1, 1,\r\n';
    const d = parseCarObdCsv(csv);
    expect(d.rows).toEqual([
      { runTimeS: 0, values: { RPM: 800.5, SPEED: 0, COOLANT_TEMP: 81 } },
      { runTimeS: 1, values: { RPM: 1200, SPEED: 12, COOLANT_TEMP: 82 } },
    ]);
    expect(d.repeatedRows).toBe(1);
    expect(d.badRows).toBe(1);
  });

  const path = '/work/shared/data/carobd-etios-drive1.csv';
  it.runIf(existsSync(path))('reads the Etios drive', () => {
    const d = readCarObdCsv(path);
    expect(d.rows.length + d.repeatedRows + d.badRows).toBe(2709);
    expect(d.rows.every((r) => r.values.INTAKE_PRESSURE !== undefined && r.values.RPM !== undefined)).toBe(true);
  });
});
