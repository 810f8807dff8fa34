import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { Sample } from '../contracts/telemetry.ts';
import { MAX_LOG_BYTES, loadDriveLog, readLogText } from './replay-file.ts';
import { pickVehicle } from './replay-formats.ts';
import { RELATIVE_LOG_START_MS, readDriveLogFile } from './replay-drive-log.ts';
import { ReplaySource } from './replay-source.ts';
import { thrownBy } from '../test/support/errors.ts';

const FIXTURES = join(import.meta.dirname, '..', 'test', 'fixtures', 'replay');
const fx = (name: string): string => join(FIXTURES, name);
const ETIOS = '/work/shared/data/carobd-etios-drive1.csv';
const START = Date.UTC(2026, 0, 1);

/** What the agent's source publishes for a file, played as fast as possible. */
async function agentSamples(path: string, startMs: number): Promise<Sample[]> {
  const got: Sample[] = [];
  const source = new ReplaySource({ log: pickVehicle(loadDriveLog(path)), speed: 0, startMs, maxSamplesPerTick: 100_000 });
  await source.start((s) => got.push(s));
  await source.finished;
  return got;
}

const increasing = (samples: readonly Sample[]): boolean => samples.every((s, i) => i === 0 || s.t > samples[i - 1]!.t);

describe('readDriveLogFile', () => {
  it('gives exactly the samples the agent publishes for the same file and start time', async () => {
    const file = fx('carobd-drive1-head.csv.gz');
    const offline = readDriveLogFile(file, { startMs: START });
    expect(offline.vehicles).toHaveLength(1);
    expect(offline.vehicles[0]!.vehicle).toBeUndefined();
    expect(offline.vehicles[0]!.samples).toEqual(await agentSamples(file, START));
    expect(offline).toMatchObject({ format: 'carobd', rowsRead: 12, rowsUsable: 12, skipped: {}, skipSummary: '' });
  });

  it.runIf(existsSync(ETIOS))('the real Etios drive: 2,709 samples, repeated rows included, strictly increasing, as the agent sends them', async () => {
    const offline = readDriveLogFile(ETIOS, { startMs: START });
    const samples = offline.vehicles[0]!.samples;
    expect(samples).toHaveLength(2709);
    expect(increasing(samples)).toBe(true);
    expect(samples).toEqual(await agentSamples(ETIOS, START));
  });

  it('without startMs: a relative log starts at RELATIVE_LOG_START_MS, a log with Unix times keeps them; vehicles split by a column', () => {
    expect(readDriveLogFile(fx('carobd-short-rows.csv')).vehicles[0]!.samples[0]!.t).toBe(RELATIVE_LOG_START_MS);
    const vans = readDriveLogFile(fx('two-vehicles.csv'), { format: 'custom', mappingPath: fx('two-vehicles.mapping.json'), vehicleColumn: 'vehicle' });
    const T = 1_700_000_000_000;
    expect(vans.vehicles.map((v) => [v.vehicle, v.samples.map((s) => s.t - T)])).toEqual([
      ['van-1', [0, 500, 1000, 2000]],
      ['van-2', [0, 500, 1000]],
    ]);
    expect(vans.rowsUsable).toBe(7);
    // With a start time every vehicle is rebased to it, as `agent --replay-vehicle X` would be.
    const rebased = readDriveLogFile(fx('two-vehicles.csv'), { format: 'custom', mappingPath: fx('two-vehicles.mapping.json'), vehicleColumn: 'vehicle', startMs: START });
    expect(rebased.vehicles.map((v) => v.samples[0]!.t)).toEqual([START, START]);
  });

  it('counts what it could not use, by reason, instead of throwing', () => {
    const none = readDriveLogFile(fx('no-usable-rows.csv'));
    expect(none).toMatchObject({ vehicles: [], rowsRead: 4, rowsUsable: 0, skipped: { 'no-signal': 2, 'no-clock': 2 }, dropped: { 'out-of-range': 2, 'not-a-number': 1 } });
    expect(none.skipSummary).toMatch(/no clock value: 2 \(lines 4, 5\)/);
    const dir = mkdtempSync(join(tmpdir(), 'replay-drive-log-'));
    const old = join(dir, 'old.csv');
    writeFileSync(old, 'Device Time,Engine RPM(rpm)\n18-Jun-1999 10:48:42.435,800\n18-Jun-2019 10:48:43.435,900\n');
    const kept = readDriveLogFile(old);
    expect(kept.vehicles[0]!.samples).toEqual([{ t: Date.UTC(2019, 5, 18, 10, 48, 43, 435), RPM: 900 }]);
    expect(kept.skipped).toEqual({ 'outside-time-window': 1 });
  });
});

describe('reading log files', () => {
  it('reads a gzip stream cut short up to the cut', () => {
    const dir = mkdtempSync(join(tmpdir(), 'replay-gz-'));
    const text = readFileSync(fx('semicolon-empty-last.csv'), 'utf8').replace('2;1000;12\n', '2;1000;12\n3;1100;14\n');
    const gz = gzipSync(text);
    const cut = join(dir, 'cut.csv.gz');
    // Everything but the gzip trailer and the last few compressed bytes.
    writeFileSync(cut, gz.subarray(0, gz.length - 10));
    const log = loadDriveLog(cut, { format: 'custom', mappingPath: fx('semicolon.mapping.json') });
    const rows = log.vehicles[0]!.rows;
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect(rows.slice(0, 3).map((r) => r.values.RPM)).toEqual([800, 900, 1000]);
  });

  it('refuses a log larger than the bound, plain or once decompressed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'replay-bound-'));
    const text = `ENGINE_RUN_TINE (),ENGINE_RPM (),\n${'0,800,\n'.repeat(300)}`;
    const plain = join(dir, 'big.csv');
    writeFileSync(plain, text);
    const packed = join(dir, 'big.csv.gz');
    writeFileSync(packed, gzipSync(text));
    expect(readLogText(plain, text.length)).toBe(text);
    expect(thrownBy(() => readLogText(plain, text.length - 1))).toMatchObject({ code: 'FP_CONFIG_INVALID', issues: [{ field: 'replay', message: expect.stringContaining('big.csv') }] });
    expect(readLogText(packed, text.length)).toBe(text);
    expect(thrownBy(() => readLogText(packed, text.length - 1))).toMatchObject({ code: 'FP_CONFIG_INVALID', issues: [{ field: 'replay', message: expect.stringContaining('big.csv.gz') }] });
    expect(MAX_LOG_BYTES).toBe(256 * 1024 * 1024);
  });
});
