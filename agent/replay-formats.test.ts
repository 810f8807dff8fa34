import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CAROBD_FORMAT, CARSCANNER_FORMAT, TORQUE_FORMAT } from '../contracts/drive-log-formats.ts';
import { detectFormat, parseCustomFormat, parseDriveLog, unitConverter, type ParsedDriveLog, type ReplayRow } from './replay-formats.ts';
import { parseDateTime, splitCsvLine, splitHeader } from './replay-csv.ts';
import { eventTimes } from './replay-event-times.ts';
import { ConfigError } from '../common/errors.ts';
import { thrownBy } from '../test/support/errors.ts';

/** The rows of a log that is not split by vehicle. */
const rowsOf = (d: ParsedDriveLog): readonly ReplayRow[] => d.vehicles[0]?.rows ?? [];

const CAROBD = [
  'ENGINE_RUN_TINE (),ENGINE_RPM (),VEHICLE_SPEED (),COOLANT_TEMPERATURE (),CONTROL_MODULE_VOLTAGE (),PEDAL_D (),',
  '0.000000, 800.500000, 0.000000, 81.000000, 12.382000, 16.078432,',
  '0.000000, 800.500000, 0.000000, 81.000000, 12.382000, 16.078432,', // repeated identical row: still a reading
  '0.000000, 812.000000, 0.000000, 81.000000, 12.363000, 16.078432,',
  '2.000000, 1200.000000, 12.000000, 82.000000, 13.900000, 20.000000,',
  '3.000000, x, 14.000000, 300.000000, 13.900000, 20.000000,', // RPM not a number, coolant out of range
  '3.000000, 1300.000000,',
  '',
].join('\r\n');

// Torque Pro trackLog.csv with imperial units, a missing value and a repeated header.
const TORQUE_HEADER = 'GPS Time, Device Time, Longitude, Latitude,Engine RPM(rpm),Speed (OBD)(mph),Engine Coolant Temperature(°F),Intake Manifold Pressure(psi),Mass Air Flow Rate(lb/min),Throttle Position(Manifold)(%),Voltage (Control Module)(V)';
const TORQUE = [
  TORQUE_HEADER,
  '-,18-Jun-2019 10:48:42.435,-,-,812,0,176,4.35113,0.5,15.3,14.2',
  'Tue Jun 18 10:48:43 GMT+02:00 2019,18-Jun-2019 10:48:43.440,10.1,50.2,1500,31.0686,190.4,-,1.2,22.1,14.1',
  TORQUE_HEADER,
  '-,18-Jun-2019 10:50:00.000,-,-,900,-,194,-,-,-,-',
].join('\n');

const CARSCANNER = [
  '\uFEFF"SECONDS";"PID";"VALUE";"UNITS";"LATITUDE";"LONGTITUDE";',
  '"30189.243321";"Speed (GPS)";"0";"km/h";"40.91";"29.29";',
  '"30189.243321";"Engine RPM";"817";"rpm";"40.91";"29.29";',
  '"30189.243321";"Vehicle speed";"0";"km/h";"40.91";"29.29";',
  '"30189.743321";"Engine coolant temperature";"86";"°C";"40.91";"29.29";',
  '"30189.743321";"Engine RPM";"820";"rpm";"40.91";"29.29";',
  '"30189.743321";"Engine RPM";"822";"rpm";"40.91";"29.29";',
  '"30190.1";"Vehicle speed";"10";"mph";"40.91";"29.29";',
  '"30190.2";"Intake manifold absolute pressure";"";"kPa";"40.91";"29.29";',
].join('\r\n');

describe('CSV basics', () => {
  it('splits quoted fields and keeps a trailing empty field', () => {
    expect(splitCsvLine('"a";"b ""c""";"";', ';')).toEqual(['a', 'b "c"', '', '']);
    expect(splitCsvLine('1, 2, 3,', ',')).toEqual(['1', '2', '3', '']);
  });

  it('separates a header name from its unit', () => {
    expect(splitHeader('Engine RPM(rpm)')).toEqual({ name: 'Engine RPM', unit: 'rpm' });
    expect(splitHeader('Speed (OBD)(km/h)')).toEqual({ name: 'Speed (OBD)', unit: 'km/h' });
    expect(splitHeader('ENGINE_RPM ()')).toEqual({ name: 'ENGINE_RPM', unit: undefined });
    expect(splitHeader('GPS Time')).toEqual({ name: 'GPS Time', unit: undefined });
  });

  it('reads Torque device time (as UTC) and ISO 8601', () => {
    expect(parseDateTime('18-Jun-2019 10:48:42.435')).toBe(Date.UTC(2019, 5, 18, 10, 48, 42, 435));
    expect(parseDateTime('18-Jun-2019 10:48:42.4')).toBe(Date.UTC(2019, 5, 18, 10, 48, 42, 400));
    expect(parseDateTime('2024-03-01 12:00:00')).toBe(Date.UTC(2024, 2, 1, 12));
    expect(parseDateTime('2024-03-01T12:00:00+01:00')).toBe(Date.UTC(2024, 2, 1, 11));
    expect(parseDateTime('soon')).toBeNaN();
  });

  it('converts units into the signal catalogue units', () => {
    expect(unitConverter('SPEED', 'mph')!(100)).toBeCloseTo(160.9344, 6);
    expect(unitConverter('COOLANT_TEMP', '°F')!(212)).toBeCloseTo(100, 9);
    expect(unitConverter('COOLANT_TEMP', '℃')!(90)).toBe(90);
    expect(unitConverter('INTAKE_PRESSURE', 'psi')!(14.6959)).toBeCloseTo(101.325, 3);
    expect(unitConverter('INTAKE_PRESSURE', 'inHg')!(29.92)).toBeCloseTo(101.32, 1);
    expect(unitConverter('MAF', 'lb/min')!(1)).toBeCloseTo(7.5599, 4);
    expect(unitConverter('RUN_TIME', 'min')!(2)).toBe(120);
    expect(unitConverter('RPM', undefined)!(800)).toBe(800);
    expect(unitConverter('SPEED', 'furlongs/fortnight')).toBeUndefined();
  });
});

describe('event times', () => {
  it('spreads rows that share a clock value over the step to the next one', () => {
    expect(eventTimes([0, 0, 0, 0, 2, 2, 3], 'runtime-seconds', 2)).toEqual([0, 500, 1000, 1500, 2000, 2500, 3000]);
  });

  it('uses the row rate after the last step, and continues after a clock restart', () => {
    expect(eventTimes([5, 5, 6, 6, 0, 0, 1], 'runtime-seconds', 4)).toEqual([0, 500, 1000, 1250, 1500, 2000, 2500]);
  });

  it('keeps absolute times and makes equal ones strictly increasing', () => {
    const T = 1_700_000_000_000;
    expect(eventTimes([T, T, T + 0.4, T + 1000], 'epoch-ms', 1)).toEqual([T, T + 1, T + 2, T + 1000]);
  });

  it('spaces rows at the row rate when there is no clock', () => {
    expect(eventTimes([NaN, NaN, NaN], 'seconds', 4)).toEqual([0, 250, 500]);
  });
});

describe('carOBD', () => {
  it('keeps every row, repeated ones included, with distinct times and J1979 units', () => {
    const d = parseDriveLog(CAROBD, CAROBD_FORMAT);
    expect(d.linesRead).toBe(6);
    expect(d.skippedLines).toBe(0);
    expect(d.shortRows).toBe(1); // the short line, read by position
    expect(d.droppedValues).toBe(2); // 'x' and 300 °C
    expect(d.dropped).toEqual({ 'not-a-number': 1, 'out-of-range': 1 });
    expect(rowsOf(d).map((r) => r.t)).toEqual([0, 667, 1333, 2000, 3000, 3500]);
    expect(rowsOf(d)[0]!.values).toEqual({ RUN_TIME: 0, RPM: 800.5, SPEED: 0, COOLANT_TEMP: 81, CONTROL_MODULE_VOLTAGE: 12.382 });
    expect(rowsOf(d)[1]!.values).toEqual(rowsOf(d)[0]!.values);
    expect(rowsOf(d)[4]!.values).toEqual({ RUN_TIME: 3, SPEED: 14, CONTROL_MODULE_VOLTAGE: 13.9 });
    expect(rowsOf(d)[5]!.values).toEqual({ RUN_TIME: 3, RPM: 1300 });
    expect(d.absolute).toBe(false);
    expect(d.mapping.RPM).toBe('ENGINE_RPM');
  });

  const path = '/work/shared/data/carobd-etios-drive1.csv';
  it.runIf(existsSync(path))('reads all 2,709 rows of the Etios drive', () => {
    const text = readFileSync(path, 'utf8');
    expect(detectFormat(text)).toBe(CAROBD_FORMAT);
    const d = parseDriveLog(text, CAROBD_FORMAT);
    expect(rowsOf(d).length).toBe(2709);
    expect(d.skippedLines + d.droppedValues).toBe(0);
    expect(rowsOf(d).every((r, i) => i === 0 || r.t > rowsOf(d)[i - 1]!.t)).toBe(true);
    expect(Object.keys(d.mapping).length).toBe(15);
  });
});

describe('Torque', () => {
  it('converts imperial units, skips repeated headers, reads "-" as missing and keeps device time', () => {
    expect(detectFormat(TORQUE)).toBe(TORQUE_FORMAT);
    const d = parseDriveLog(TORQUE, TORQUE_FORMAT);
    expect(d.absolute).toBe(true);
    expect(d.linesRead).toBe(3);
    expect(rowsOf(d).map((r) => r.t)).toEqual([Date.UTC(2019, 5, 18, 10, 48, 42, 435), Date.UTC(2019, 5, 18, 10, 48, 43, 440), Date.UTC(2019, 5, 18, 10, 50)]);
    const [a, b, c] = rowsOf(d).map((r) => r.values as Record<string, number>);
    expect(a!.RPM).toBe(812);
    expect(a!.COOLANT_TEMP).toBeCloseTo(80, 9);
    expect(a!.INTAKE_PRESSURE).toBeCloseTo(30, 3);
    expect(a!.MAF).toBeCloseTo(3.78, 2);
    expect(a!.THROTTLE_POS).toBe(15.3);
    expect(a!.CONTROL_MODULE_VOLTAGE).toBe(14.2);
    expect(b!.SPEED).toBeCloseTo(50, 3);
    expect(b!.INTAKE_PRESSURE).toBeUndefined();
    expect(c).toEqual({ RPM: 900, COOLANT_TEMP: 90 });
    expect(d.droppedValues).toBe(0);
  });

  it('refuses a unit it cannot convert, naming the column', () => {
    const text = 'Device Time,Engine RPM(rpm),Speed (OBD)(knots)\n18-Jun-2019 10:48:42.435,800,3';
    expect(thrownBy(() => parseDriveLog(text, TORQUE_FORMAT))).toMatchObject({ code: 'FP_CONFIG_INVALID', issues: [{ field: 'replay', message: expect.stringContaining('"Speed (OBD)"') }] });
  });
});

describe('Car Scanner', () => {
  it('pivots the long format: one sample per time stamp, per-row units, unknown PIDs ignored', () => {
    expect(detectFormat(CARSCANNER)).toBe(CARSCANNER_FORMAT);
    const d = parseDriveLog(CARSCANNER, CARSCANNER_FORMAT);
    expect(rowsOf(d).map((r) => r.values)).toEqual([{ RPM: 817, SPEED: 0 }, { COOLANT_TEMP: 86, RPM: 820 }, { RPM: 822 }, { SPEED: 16.09344 }]);
    // Two RPM readings at one stamp become two samples, spread over the step to the next stamp.
    expect(rowsOf(d).map((r) => r.t)).toEqual([0, 500, 678, 857]);
    expect(d.droppedValues).toBe(1); // the empty value
  });
});

describe('custom mappings', () => {
  it('maps columns by name with units, and validates the mapping', () => {
    const f = parseCustomFormat(JSON.stringify({ delimiter: ';', time: { column: 'ts', kind: 'epoch-ms' }, columns: { rev: 'RPM', v: { signal: 'SPEED', unit: 'mph' } } }));
    const d = parseDriveLog('ts;rev;v\n1700000000000;900;10\n1700000000500;950;20\n', f);
    expect(rowsOf(d)).toEqual([
      { t: 1_700_000_000_000, values: { RPM: 900, SPEED: 16.09344 } },
      { t: 1_700_000_000_500, values: { RPM: 950, SPEED: 32.18688 } },
    ]);
    expect(() => parseCustomFormat('{"columns": {"rev": "REVS"}}')).toThrow(ConfigError);
    expect(thrownBy(() => parseCustomFormat('{"columns": {}}'))).toMatchObject({ code: 'FP_CONFIG_INVALID', issues: [{ field: 'replay mapping: columns' }] });
    expect(thrownBy(() => parseCustomFormat('not json'))).toMatchObject({ code: 'FP_CONFIG_INVALID', issues: [{ field: 'replay mapping' }] });
  });

  it('reads a short row by position; the last line of a file cut off mid-line loses only its last field, which may be cut', () => {
    const f = parseCustomFormat(JSON.stringify({ delimiter: ';', time: { column: 'ts', kind: 'seconds' }, columns: { rpm: 'RPM', speed: 'SPEED', load: 'ENGINE_LOAD' } }));
    const whole = parseDriveLog('ts;rpm;speed;load\n0;800;10;20\n1;900;1\n', f);
    expect(rowsOf(whole)[1]!.values).toEqual({ RPM: 900, SPEED: 1 });
    expect(whole).toMatchObject({ shortRows: 1, droppedValues: 0 });
    const cut = parseDriveLog('ts;rpm;speed;load\n0;800;10;20\n1;900;1', f);
    expect(rowsOf(cut)[1]!.values).toEqual({ RPM: 900 });
    expect(cut.dropped).toEqual({ 'cut-off': 1 });
  });

  it('refuses a log with no mapped column or no clock column', () => {
    expect(() => parseDriveLog('a,b\n1,2\n', CAROBD_FORMAT)).toThrow(ConfigError);
    expect(thrownBy(() => parseDriveLog('', CAROBD_FORMAT))).toMatchObject({ code: 'FP_CONFIG_INVALID', issues: [{ field: 'replay' }] });
  });
});
