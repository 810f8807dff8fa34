import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';

describe('fleetpulse ingest scoring options', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-scoring-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('offers --model and --no-scoring', async () => {
    const { code, stdout } = await runCli(['ingest', '--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/--model /);
    expect(stdout).toMatch(/--no-scoring/);
  });

  it('fails at start on a missing model, naming the field', async () => {
    const { code, stderr } = await runCli(['ingest', '--model', join(dir, 'nope.onnx'), '--data-dir', dir, '--http-port', '0', '--mqtt-url', 'mqtt://127.0.0.1:1', '--influx-url', 'http://127.0.0.1:1']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/model: no model at .*nope\.onnx/);
  });
});
