/** Model hot reload from a directory of versions, with the real onnxruntime and the shipped model. */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../common/errors.ts';
import { ModelProvider } from '../../ingest/scoring/model-provider.ts';
import { DEFAULT_MODEL_PATH } from '../../ingest/scoring/scoring-options.ts';
import { copyDefaultModel } from './scoring-fixtures.ts';

describe('ModelProvider', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-models-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const writeVersion = (name: string, version: number, onnx?: string) => {
    const model = copyDefaultModel(join(dir, 'versions', name));
    const meta = JSON.parse(readFileSync(model.replace(/\.onnx$/, '.json'), 'utf8'));
    if (onnx !== undefined) writeFileSync(model, onnx);
    writeFileSync(model.replace(/\.onnx$/, '.json'), JSON.stringify({ ...meta, modelVersion: version }));
  };
  const pollTwice = async (p: ModelProvider) => {
    await p.poll();
    await p.poll();
  };

  it('picks the highest version in a directory, rejects a broken new one and swaps in a good one', async () => {
    writeVersion('v1', 1);
    const provider = await ModelProvider.load(join(dir, 'versions'));
    try {
      expect(provider.current.version).toBe(1);
      expect(provider.current.reference).toBeDefined();
      await pollTwice(provider);
      expect(provider.stats()).toMatchObject({ reloads: 0, reloadFailures: {} });

      writeVersion('v2', 2, 'not an onnx graph');
      await pollTwice(provider);
      await pollTwice(provider); // not retried while unchanged
      expect(provider.stats()).toMatchObject({ modelVersion: 1, reloads: 0, reloadFailures: { invalid_model: 1 } });
      const before = await provider.use((m) => m.model.score([{ rpm_mean: 2000 }]));
      expect(before.length).toBe(1);

      writeVersion('v3', 3);
      await provider.poll(); // changed: wait one poll for the files to settle
      expect(provider.current.version).toBe(1);
      await provider.poll();
      expect(provider.stats()).toMatchObject({ modelVersion: 3, reloads: 1 });
      const after = await provider.use((m) => m.model.score([{ rpm_mean: 2000 }]));
      expect(after[0]).toBeCloseTo(before[0]!, 6);
    } finally {
      await provider.close();
    }
  });

  it('fails at load with a config error naming the field model', async () => {
    const bad = join(dir, 'bad');
    mkdirSync(bad, { recursive: true });
    cpSync(DEFAULT_MODEL_PATH.replace(/\.onnx$/, '.json'), join(bad, 'model.json'));
    writeFileSync(join(bad, 'model.onnx'), 'garbage');
    for (const path of [join(dir, 'missing.onnx'), join(bad, 'model.onnx')]) {
      const error = await ModelProvider.load(path).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues.map((i) => i.field)).toContain('model');
    }
  });
});
