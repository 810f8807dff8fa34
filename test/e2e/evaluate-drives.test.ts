/**
 * `fleetpulse train evaluate-drives` on real recorded drives of a healthy car (carOBD, a 2014
 * Toyota Etios: shared/data/carobd), a fixed subset from every file group — motorway drives, idling,
 * the work → home route — through the serving path with the shipped model: the model must not raise
 * a single alert, whether the files are one car (the baseline learns from the first drives and judges
 * the rest) or each a car of its own (fleet-level evidence only). The whole set is measured in the
 * model report (docs/model-report.md, "Real drives").
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';

const DIR = '/work/shared/data/carobd';
const FILES = ['drive1', 'drive4', 'drive10', 'drive13', 'idle1', 'idle17', 'idle29', 'idle44', 'live1', 'live6', 'live17', 'live31'].map((f) => join(DIR, `${f}.csv.gz`));

interface Totals {
  windows: number;
  learnedWindows: number;
  flagged: number;
  alertsRaised: number;
  drivingHours: number;
  alertsPer100h: number;
}

describe.skipIf(!existsSync(DIR))('train evaluate-drives on real healthy drives', () => {
  for (const sameVehicle of [true, false]) {
    it(`raises no alert on 12 real files from every group ${sameVehicle ? 'as one car' : 'each a car of its own'}`, async () => {
      const r = await runCli(['train', 'evaluate-drives', '--json', ...(sameVehicle ? ['--same-vehicle'] : []), ...FILES], {}, 120_000);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { files: Array<{ file: string; vehicle: string } & Totals>; total: Totals };
      expect(out.files.map((f) => f.file)).toEqual(FILES);
      // live6 has 27 header names over 24-field rows: it must be read, not skipped.
      expect(out.files.find((f) => f.file.endsWith('live6.csv.gz'))!.windows).toBeGreaterThan(30);
      expect(out.total.windows).toBe(out.files.reduce((a, f) => a + f.windows, 0));
      expect(out.total.drivingHours).toBeGreaterThan(3);
      if (sameVehicle) {
        expect(new Set(out.files.map((f) => f.vehicle)).size).toBe(1);
        expect(out.total.learnedWindows).toBeGreaterThan(0); // the later files were judged against the car's baseline
      } else {
        expect(out.total.learnedWindows).toBe(0); // under 3 h each: every window scored while learning
      }
      expect(out.total.alertsRaised).toBe(0);
      expect(out.total.flagged).toBeLessThanOrEqual(0.01 * out.total.windows);
    }, 150_000);
  }

  it('refuses a spreadsheet in one line and needs at least one file', async () => {
    const none = await runCli(['train', 'evaluate-drives'], {}, 30_000);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/give at least 1/);
    const xlsx = join(mkdtempSync(join(tmpdir(), 'fp-drives-')), 'export.xlsx');
    writeFileSync(xlsx, Buffer.from('504b0304140000000800', 'hex'));
    const sheet = await runCli(['train', 'evaluate-drives', xlsx], {}, 30_000);
    expect(sheet.code).toBe(2);
    expect(sheet.stderr.trim().split('\n')).toHaveLength(1);
    expect(sheet.stderr).toMatch(/spreadsheet|xlsx/i);
  });
});
