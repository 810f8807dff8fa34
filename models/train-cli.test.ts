import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../test/support/cli.ts';
import { readDataset } from './dataset-file.ts';
import { FEATURE_NAMES } from './features.ts';
import { readModelMetadata } from './model-metadata.ts';

describe('fleetpulse train (tiny fleet, end to end through the CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fp-train-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const model = join(dir, 'model', 'model.onnx');

  it('trains, exports and reports', async () => {
    const args = ['train', '--vehicles', '24', '--days', '4', '--faulty', '75', '--seed', '3', '--out', join(dir, 'model'), '--dataset-dir', join(dir, 'ds'), '--report', join(dir, 'report.md'), '--max-train-rows', '4000'];
    const r = await runCli(args, {}, 120_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/dataset: 24\/24 vehicles/);
    expect(r.stdout).toMatch(/mlp epoch 12\/12/);
    expect(r.stdout).toMatch(/gam round 1500\/1500/);
    const meta = readModelMetadata(join(dir, 'model', 'model.json'));
    expect(meta.featureNames).toEqual(FEATURE_NAMES);
    expect(meta.selection.candidates.map((c) => c.family)).toEqual(['gam', 'mlp']);
    // The healthy fleet's value of every input, for explanations against the fleet.
    expect(Object.keys(meta.featureReference ?? {})).toEqual(FEATURE_NAMES);
    const report = readFileSync(join(dir, 'report.md'), 'utf8');
    expect(report).toContain('## Window metrics on held-out simulated vehicles');
    expect(readFileSync(join(dir, 'img', 'model-roc.svg'), 'utf8')).toMatch(/^<svg/);
  }, 120_000);

  it('reports on an existing dataset and checks drift from a features file', async () => {
    const rep = await runCli(['train', 'report', '--model', model, '--dataset', join(dir, 'ds'), '--report', join(dir, 'again.md')], {}, 60_000);
    expect(rep.code).toBe(0);
    expect(readFileSync(join(dir, 'again.md'), 'utf8')).toContain('onnxruntime-node');
    const d = readDataset(join(dir, 'ds'));
    const F = d.featureNames.length;
    const lines: string[] = [];
    for (let i = 0; i < d.label.length; i += 3) {
      const features: Record<string, number> = {};
      d.featureNames.forEach((n, j) => {
        const v = d.x[i * F + j]!;
        if (!Number.isNaN(v)) features[n] = v;
      });
      lines.push(JSON.stringify({ features }));
    }
    writeFileSync(join(dir, 'features.jsonl'), `${lines.join('\n')}\n`);
    const drift = await runCli(['train', 'drift', '--model', model, '--features', join(dir, 'features.jsonl')], {}, 60_000);
    expect(drift.code).toBe(0);
    expect(drift.stdout).toMatch(/compared \d+ recent windows/);
    expect(drift.stdout).toMatch(/^(OK|RETRAIN): /m);
  }, 60_000);
});
