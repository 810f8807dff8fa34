import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Sample } from '../contracts/telemetry.ts';
import { ConfigError } from '../common/errors.ts';
import { CAROBD_FORMAT, TORQUE_FORMAT } from '../contracts/drive-log-formats.ts';
import { parseDriveLog, pickVehicle } from './replay-formats.ts';
import { loadDriveLog } from './replay-file.ts';
import { ReplaySource } from './replay-source.ts';
import { thrownBy } from '../test/support/errors.ts';

// 6 rows over 3 s of run time, two of them identical.
const CSV = 'ENGINE_RUN_TINE (),ENGINE_RPM (),VEHICLE_SPEED (),\r\n0, 800, 0,\r\n0, 800, 0,\r\n1, 900, 5,\r\n1, 950, 6,\r\n2, 1000, 8,\r\n3, 1100, 9,\r\n';
const log = pickVehicle(parseDriveLog(CSV, CAROBD_FORMAT));
const START = Date.UTC(2026, 0, 1);

afterEach(() => {
  vi.useRealTimers();
});

describe('ReplaySource', () => {
  it('plays every row once, in order, rebased to the start time, as fast as possible with speed 0', async () => {
    const got: Sample[] = [];
    let ended = 0;
    const src = new ReplaySource({ log, speed: 0, startMs: START, onEnd: () => ended++ });
    await src.start((s) => got.push(s));
    const stats = await src.finished;
    expect(got.map((s) => s.t - START)).toEqual([0, 500, 1000, 1500, 2000, 3000]);
    expect(got.map((s) => s.RPM)).toEqual([800, 800, 900, 950, 1000, 1100]);
    expect(got[0]).toEqual({ t: START, RUN_TIME: 0, RPM: 800, SPEED: 0 });
    expect(stats).toMatchObject({ rows: 6, emitted: 6, passes: 1, finished: true, outsideTimeWindow: 0 });
    expect(ended).toBe(1);
  });

  it('paces against the wall clock: speed 1 and speed 10', async () => {
    for (const speed of [1, 10]) {
      vi.useFakeTimers({ now: START });
      const got: Sample[] = [];
      const src = new ReplaySource({ log, speed, now: () => Date.now() });
      await src.start((s) => got.push(s));
      expect(got.length, `speed ${speed} at 0`).toBe(1);
      await vi.advanceTimersByTimeAsync(1000 / speed);
      // As recorded, the log starts now; faster, it ends now (ingest refuses event times from the future).
      const anchor = speed === 1 ? 0 : -(log.rows.at(-1)!.t - log.rows[0]!.t);
      expect(got.map((s) => s.t - START - anchor), `speed ${speed} after 1 log s`).toEqual([0, 500, 1000]);
      expect(got.every((s) => s.t <= Date.now() + (speed === 1 ? 1000 : 0))).toBe(true);
      await vi.advanceTimersByTimeAsync(1000 / speed);
      expect(got.length).toBe(5);
      await vi.advanceTimersByTimeAsync(1000 / speed);
      expect(got.length).toBe(6);
      expect(src.stats().finished).toBe(true);
      await src.stop();
      vi.useRealTimers();
    }
  });

  it('bounds the samples sent per tick', async () => {
    vi.useFakeTimers({ now: START });
    const got: Sample[] = [];
    const src = new ReplaySource({ log, speed: 0, maxSamplesPerTick: 2 });
    await src.start((s) => got.push(s));
    expect(got.length).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(got.length).toBe(4);
    await vi.advanceTimersByTimeAsync(5);
    expect(got.length).toBe(6);
  });

  it('loops with event times that keep increasing across passes', async () => {
    vi.useFakeTimers({ now: START });
    const got: Sample[] = [];
    const src = new ReplaySource({ log, speed: 0, loop: true, startMs: START, maxSamplesPerTick: 6 });
    await src.start((s) => got.push(s));
    await vi.advanceTimersByTimeAsync(3);
    await src.stop();
    expect(got.length).toBeGreaterThanOrEqual(18);
    expect(got.every((s, i) => i === 0 || s.t > got[i - 1]!.t)).toBe(true);
    expect(got[6]!.t - START).toBe(3000 + 600); // last row + mean row gap (3000 ms / 5)
    expect(src.stats().passes).toBeGreaterThanOrEqual(3);
  });

  it('stops emitting after stop()', async () => {
    vi.useFakeTimers({ now: START });
    const got: Sample[] = [];
    const src = new ReplaySource({ log, speed: 1, now: () => Date.now() });
    await src.start((s) => got.push(s));
    await src.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(got.length).toBe(1);
  });

  it('keeps absolute times when asked, and refuses that for a relative clock', async () => {
    expect(() => new ReplaySource({ log, time: 'keep' })).toThrow(ConfigError);
    const torque = pickVehicle(parseDriveLog('Device Time,Engine RPM(rpm)\n18-Jun-2019 10:48:42.435,800\n18-Jun-2019 10:48:43.435,900\n', TORQUE_FORMAT));
    const got: Sample[] = [];
    const src = new ReplaySource({ log: torque, time: 'keep', speed: 0 });
    await src.start((s) => got.push(s));
    await src.finished;
    expect(got).toEqual([
      { t: Date.UTC(2019, 5, 18, 10, 48, 42, 435), RPM: 800 },
      { t: Date.UTC(2019, 5, 18, 10, 48, 43, 435), RPM: 900 },
    ]);
  });

  it('counts rows whose kept time is outside the contract window instead of sending them', async () => {
    const old = pickVehicle(parseDriveLog('Device Time,Engine RPM(rpm)\n18-Jun-1999 10:48:42.435,800\n18-Jun-2019 10:48:43.435,900\n', TORQUE_FORMAT));
    const got: Sample[] = [];
    const src = new ReplaySource({ log: old, time: 'keep', speed: 0 });
    await src.start((s) => got.push(s));
    expect(await src.finished).toMatchObject({ emitted: 1, outsideTimeWindow: 1 });
    expect(got.length).toBe(1);
  });
});

describe('loadDriveLog', () => {
  const dir = mkdtempSync(join(tmpdir(), 'replay-'));
  it('detects the format, or uses the one named, or a custom mapping', () => {
    const file = join(dir, 'drive.csv');
    writeFileSync(file, CSV);
    expect(pickVehicle(loadDriveLog(file)).rows.length).toBe(6);
    expect(loadDriveLog(file, { format: 'carobd' }).format).toBe('carobd');
    const custom = join(dir, 'custom.csv');
    writeFileSync(custom, 'time_s;revs\n0;800\n0.5;810\n');
    const mapping = join(dir, 'mapping.json');
    writeFileSync(mapping, JSON.stringify({ delimiter: ';', time: { column: 'time_s', kind: 'seconds' }, columns: { revs: 'RPM' } }));
    expect(pickVehicle(loadDriveLog(custom, { format: 'custom', mappingPath: mapping })).rows).toEqual([
      { t: 0, values: { RPM: 800 } },
      { t: 500, values: { RPM: 810 } },
    ]);
  });

  it('fails with a config error naming the problem', () => {
    expect(thrownBy(() => loadDriveLog(join(dir, 'missing.csv')))).toMatchObject({ code: 'FP_CONFIG_INVALID', issues: [{ field: 'replay', message: expect.stringContaining('missing.csv') }] });
    const odd = join(dir, 'odd.csv');
    writeFileSync(odd, 'a,b\n1,2\n');
    expect(thrownBy(() => loadDriveLog(odd))).toMatchObject({ code: 'FP_CONFIG_INVALID', issues: [{ field: 'replayFormat' }] });
    expect(thrownBy(() => loadDriveLog(odd, { format: 'custom' }))).toMatchObject({ code: 'FP_CONFIG_INVALID', issues: [{ field: 'replayMapping' }] });
  });
});
