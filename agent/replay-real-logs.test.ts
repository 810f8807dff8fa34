/**
 * Real logs as they come (issue 15, point 5): one small file per quirk under test/fixtures/replay/,
 * each of which the replay source got wrong before, plus the 99 real carOBD drive logs when they
 * are on this machine.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../common/logger.ts';
import { splitCsvLine } from './replay-csv.ts';
import { loadDriveLog, type ReplayFormatChoice } from './replay-file.ts';
import { CAROBD_FORMAT } from '../contracts/drive-log-formats.ts';
import { parseDriveLog, type ParsedDriveLog, type ReplayRow } from './replay-formats.ts';
import { replaySourceFromConfig } from './replay-source.ts';
import { thrownBy } from '../test/support/errors.ts';

const FIXTURES = join(import.meta.dirname, '..', 'test', 'fixtures', 'replay');
const fx = (name: string): string => join(FIXTURES, name);
const CAROBD_DIR = '/work/shared/data/carobd';

interface LoadOptions {
  format?: ReplayFormatChoice;
  mapping?: string;
  vehicleColumn?: string;
}

function load(file: string, o: LoadOptions = {}): ParsedDriveLog {
  return loadDriveLog(fx(file), { format: o.format ?? (o.mapping ? 'custom' : 'auto'), mappingPath: o.mapping ? fx(o.mapping) : undefined, vehicleColumn: o.vehicleColumn });
}
const rowsOf = (log: ParsedDriveLog): readonly ReplayRow[] => log.vehicles[0]?.rows ?? [];

describe('replay of real logs as they come', () => {
  it('reads rows with fewer fields than the header by position (carOBD live6: 27 names over 24-field rows)', () => {
    const log = load('carobd-short-rows.csv');
    const rows = rowsOf(log);
    expect(rows.length).toBe(5);
    expect(rows[0]!.values).toEqual({
      RUN_TIME: 0, RPM: 0, SPEED: 0, THROTTLE_POS: 17.647, ENGINE_LOAD: 0, COOLANT_TEMP: 27, LONG_FUEL_TRIM_1: -1.5625, SHORT_FUEL_TRIM_1: 0,
      INTAKE_PRESSURE: 101, FUEL_LEVEL: 60.392, BAROMETRIC_PRESSURE: 100, INTAKE_TEMP: 33, TIMING_ADVANCE: 5, CATALYST_TEMP_B1S1: 91.2, CONTROL_MODULE_VOLTAGE: 12.578,
    });
    expect(rows[2]!.values).toMatchObject({ RUN_TIME: 160, RPM: 1254.5, SPEED: 27, COOLANT_TEMP: 59, CATALYST_TEMP_B1S1: 401, CONTROL_MODULE_VOLTAGE: 14.082 });
    expect(log.shortRows).toBe(5);
  });

  it('keeps a genuinely empty last field (`a;b;` is 3 fields), and a carOBD trailing comma stays harmless', () => {
    expect(splitCsvLine('a;b;', ';')).toEqual(['a', 'b', '']);
    expect(splitCsvLine('1, 2, 3,', ',')).toEqual(['1', '2', '3', '']);
    const log = load('semicolon-empty-last.csv', { mapping: 'semicolon.mapping.json' });
    expect(rowsOf(log)).toEqual([
      { t: 0, values: { RPM: 800, SPEED: 0 } },
      { t: 1000, values: { RPM: 900 } },
      { t: 2000, values: { RPM: 1000, SPEED: 12 } },
    ]);
    expect(log.shortRows).toBe(0);
  });

  it('reads decimal commas (delimiter not a comma) and values that carry their unit: 74,50%, 82C, 2124RPM, 179,6°F, 10mph', () => {
    const log = load('decimal-comma-units.csv', { mapping: 'decimal-comma-units.mapping.json' });
    const rows = rowsOf(log);
    expect(rows.map((r) => r.t)).toEqual([0, 1000, 2000]);
    expect(rows[0]!.values).toEqual({ RPM: 2124, COOLANT_TEMP: 82, THROTTLE_POS: 74.5, SPEED: 12.5 });
    expect(rows[1]!.values.RPM).toBe(2200);
    expect(rows[1]!.values.COOLANT_TEMP).toBeCloseTo(82, 9);
    expect(rows[1]!.values.THROTTLE_POS).toBe(12);
    expect(rows[1]!.values.SPEED).toBeCloseTo(16.09344, 9);
    expect(rows[2]!.values).toEqual({ RPM: 2300, COOLANT_TEMP: 85, THROTTLE_POS: 13.25, SPEED: 20 });
    expect(log.droppedValues).toBe(0);
    // In a comma-separated log a comma inside a quoted value is not a decimal mark: the value is left out, counted.
    const comma = parseDriveLog('ENGINE_RUN_TINE (),ENGINE_RPM (),THROTTLE (),\n0,800,"74,50",\n', CAROBD_FORMAT);
    expect(rowsOf(comma)[0]!.values).toEqual({ RUN_TIME: 0, RPM: 800 });
    expect(comma.droppedValues).toBe(1);
  });

  it('reads a gzip-compressed log (.csv.gz) as its uncompressed text', () => {
    const log = load('carobd-drive1-head.csv.gz');
    const plain = parseDriveLog(gunzipSync(readFileSync(fx('carobd-drive1-head.csv.gz'))).toString('utf8'), CAROBD_FORMAT);
    expect(rowsOf(log).length).toBe(12);
    expect(rowsOf(log)).toEqual(rowsOf(plain));
    expect(rowsOf(log)[11]!.values).toMatchObject({ RUN_TIME: 2, RPM: 1113.25 });
  });

  it('splits a log holding several vehicles by a column, each with its own strictly increasing times', () => {
    const log = load('two-vehicles.csv', { mapping: 'two-vehicles.mapping.json', vehicleColumn: 'vehicle' });
    const T = 1_700_000_000_000;
    const vehicles = log.vehicles;
    expect(vehicles.map((v) => v.vehicle)).toEqual(['van-1', 'van-2']);
    expect(vehicles[0]!.rows).toEqual([
      { t: T, values: { RPM: 800, SPEED: 0 } },
      { t: T + 500, values: { RPM: 810, SPEED: 1 } },
      { t: T + 1000, values: { RPM: 820, SPEED: 2 } },
      { t: T + 2000, values: { RPM: 830, SPEED: 3 } },
    ]);
    expect(vehicles[1]!.rows).toEqual([
      { t: T, values: { RPM: 900, SPEED: 10 } },
      { t: T + 500, values: { RPM: 950, SPEED: 11 } },
      { t: T + 1000, values: { RPM: 990, SPEED: 12 } },
    ]);
    expect(thrownBy(() => load('two-vehicles.csv', { mapping: 'two-vehicles.mapping.json', vehicleColumn: 'van' }))).toMatchObject({
      code: 'FP_CONFIG_INVALID',
      issues: [{ field: 'replayVehicleColumn', message: expect.stringMatching(/"van".*ts, vehicle, rpm, speed/) }],
    });
  });

  it('fails at start naming a mapped column missing from the header, and listing the columns the log has', () => {
    expect(thrownBy(() => load('semicolon-empty-last.csv', { mapping: 'missing-column.mapping.json' }))).toMatchObject({
      code: 'FP_CONFIG_INVALID',
      issues: [{ field: 'replayMapping', message: expect.stringMatching(/"boost_psi".*time_s, rpm, speed_kmh/) }],
    });
  });

  it('fails at start naming an unknown signal name, and listing the valid ones', () => {
    expect(thrownBy(() => load('semicolon-empty-last.csv', { mapping: 'unknown-signal.mapping.json' }))).toMatchObject({
      code: 'FP_CONFIG_INVALID',
      issues: [{ field: expect.stringMatching(/columns\.rpm$/), message: expect.stringMatching(/"REVS".*RPM, SPEED, COOLANT_TEMP/) }],
    });
  });

  it('says why there are no usable rows: which lines, for which reason', () => {
    const config = { replay: fx('no-usable-rows.csv'), replayFormat: 'auto' as const, replaySpeed: 0, replayTime: 'rebase' as const, replayLoop: false };
    let message = '';
    try {
      replaySourceFromConfig(config, silentLogger);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/no usable rows/);
    expect(message).toMatch(/4 data lines/);
    expect(message).toMatch(/no signal value left: 2 \(lines 2, 3\)/);
    expect(message).toMatch(/no clock value: 2 \(lines 4, 5\)/);
    expect(message).toMatch(/out of range: 2/);
    expect(message).toMatch(/not a number: 1/);
  });

  it('refuses a spreadsheet (.xlsx) in one clear line', () => {
    let message = '';
    try {
      load('torque-export.xlsx');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/torque-export\.xlsx is a spreadsheet \(Excel\), not a CSV log: save it as CSV/);
    expect(message.split('\n')).toHaveLength(1);
  });

  it.runIf(existsSync(CAROBD_DIR))('reads every row of the 99 real carOBD logs (live6 included), .csv.gz as they were published', () => {
    const files = readdirSync(CAROBD_DIR).filter((f) => f.endsWith('.csv.gz'));
    expect(files.length).toBe(99);
    let rows = 0;
    const perFile = new Map<string, number>();
    for (const f of files) {
      const log = loadDriveLog(join(CAROBD_DIR, f));
      const n = rowsOf(log).length;
      perFile.set(f, n);
      rows += n;
      // Data lines in the file, counted without the code under test.
      const lines = gunzipSync(readFileSync(join(CAROBD_DIR, f))).toString('utf8').split(/\r?\n/).filter((l) => l.trim() !== '').length - 1;
      expect(n, f).toBe(lines);
      expect(rowsOf(log).every((r, i, a) => i === 0 || r.t > a[i - 1]!.t), f).toBe(true);
    }
    expect(perFile.get('live6.csv.gz')).toBe(2287);
    expect(rows).toBeGreaterThan(200_000);
  });
});
