import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDriveLog } from './replay-file.ts';
import { parseCustomFormat, parseDriveLog, pickVehicle } from './replay-formats.ts';
import { readHealthField, ReplayHealthReader, type ReplayHealthValues } from './replay-health.ts';
import { ReplaySource } from './replay-source.ts';
import type { HealthReading } from './telemetry-source.ts';

const START = Date.UTC(2026, 0, 1);

async function play(log: ReturnType<typeof pickVehicle>): Promise<HealthReading[]> {
  const readings: HealthReading[] = [];
  const source = new ReplaySource({ log, speed: 0, startMs: START });
  await source.start(() => undefined, (r) => readings.push(r));
  await source.finished;
  return readings;
}

describe('diagnosis columns of a drive log', () => {
  it('reads MIL words, code lists and counters; refuses what it cannot read', () => {
    const h: ReplayHealthValues = {};
    expect(readHealthField(h, 'mil', ' ON ', false)).toBe(true);
    expect(readHealthField(h, 'dtcs', 'p0301; P0171|P0301', false)).toBe(true);
    expect(readHealthField(h, 'minutesWithMil', '12,5', true)).toBe(true);
    expect(h).toEqual({ mil: true, dtcs: ['P0301', 'P0171'], minutesWithMil: 12.5 });
    expect(readHealthField(h, 'mil', 'maybe', false)).toBe(false);
    expect(readHealthField(h, 'dtcs', 'P0301 engine', false)).toBe(false);
    expect(readHealthField(h, 'warmupsSinceClear', '-3', false)).toBe(false);
    expect(readHealthField(h, 'dtcs', 'none', false)).toBe(true);
    expect(h.dtcs).toEqual([]);
    expect(readHealthField(h, 'mil', '', false)).toBe(true); // missing: nothing said
    expect(h.mil).toBe(true);
  });

  it('infers the MIL from the with-MIL counters: on while they grow, off when zero or still for two minutes, unknown before', () => {
    const r = new ReplayHealthReader();
    expect(r.next(0, { minutesWithMil: 0, distanceWithMilKm: 0 }).mil).toBe(false);
    r.reset();
    expect(r.next(0, { minutesWithMil: 7 }).mil).toBeNull(); // lit some time since the clear: is it now?
    expect(r.next(60_000, { minutesWithMil: 8 }).mil).toBe(true); // grew: on
    expect(r.next(150_000, { minutesWithMil: 8 }).mil).toBe(true); // within two minutes of the growth
    expect(r.next(190_000, { minutesWithMil: 8 }).mil).toBe(false); // still for more than two minutes: off
    r.reset();
    expect(r.next(0, { minutesWithMil: 8 }).mil).toBeNull();
    expect(r.next(130_000, { minutesWithMil: 8 }).mil).toBe(false);
    expect(r.next(0, { mil: true, minutesWithMil: 0 }).mil).toBe(true); // a MIL column wins
  });

  it('plays a log with MIL and DTC columns as readings at the rows where the diagnosis changes', async () => {
    const format = parseCustomFormat(JSON.stringify({ time: { column: 's', kind: 'seconds' }, columns: { rpm: 'RPM' }, health: { mil: 'mil', dtcs: 'codes', distanceWithMilKm: 'km_mil' } }));
    const csv = ['s,rpm,mil,codes,km_mil', '0,800,0,,0', '1,810,0,,0', '2,820,1,P0301,0', '3,830,1,P0301,1', '4,840,what,P0301,2', '5,850,0,,2', ''].join('\n');
    const parsed = parseDriveLog(csv, format);
    expect(parsed.dropped).toEqual({ 'bad-health-value': 1 });
    const readings = await play(pickVehicle(parsed));
    expect(readings.map((r) => [r.t - START, r.state.mil, r.state.confirmed])).toEqual([
      [0, false, []],
      [2000, true, ['P0301']],
      [5000, false, []],
    ]);
    expect(readings[1]!.state).toMatchObject({ source: 'replay', dtcCount: null, readiness: null, pending: null, permanent: null, freezeFrame: null, counters: { distanceWithMilKm: 0 } });
  });

  it('refuses a custom mapping naming a diagnosis column the log lacks, or an unknown field', () => {
    const format = parseCustomFormat(JSON.stringify({ columns: { rpm: 'RPM' }, health: { mil: 'MIL lamp' } }));
    expect(() => parseDriveLog('rpm,x\n800,1\n', format)).toThrow(/"MIL lamp" is not a column/);
    expect(() => parseCustomFormat(JSON.stringify({ columns: { rpm: 'RPM' }, health: { lamp: 'x' } }))).toThrow(/health/);
  });

  it('reads the real carOBD drive: MIL off since the last clear 8,260 minutes before, one reading', async () => {
    const log = pickVehicle(loadDriveLog(join(import.meta.dirname, '..', 'test', 'fixtures', 'replay', 'carobd-drive1-head.csv.gz')));
    const readings = await play(log);
    expect(readings).toHaveLength(1);
    expect(readings[0]!.state).toMatchObject({ source: 'replay', mil: false, confirmed: null, counters: { minutesWithMil: 0, minutesSinceClear: 8260, distanceWithMilKm: 0, warmupsSinceClear: 255 } });
    expect(readings[0]!.t).toBe(START);
  });
});
