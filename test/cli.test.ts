import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli } from './support/cli.ts';

describe('fleetpulse CLI', () => {
  it('lists its commands', async () => {
    const { code, stdout } = await runCli(['--help']);
    expect(code).toBe(0);
    for (const name of ['up', 'broker', 'ingest', 'agent', 'simulate']) expect(stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
  });

  for (const command of [['up'], ['broker'], ['ingest'], ['agent'], ['simulate', 'fleet']]) {
    it(`has --help for ${command.join(' ')}`, async () => {
      const { code, stdout } = await runCli([...command, '--help']);
      expect(code).toBe(0);
      expect(stdout).toContain(`Usage: fleetpulse ${command.join(' ')}`);
      expect(stdout).toMatch(/env FLEETPULSE_[A-Z_]+/);
    });
  }

  it('fails at start on a bad value, naming the field and its source', async () => {
    const { code, stderr } = await runCli(['ingest', '--batch-size', '0'], { FLEETPULSE_INGEST_SHARDS: '0-99' });
    expect(code).toBe(2);
    expect(stderr).toContain('invalid configuration');
    expect(stderr).toMatch(/batchSize: must be ≥ 1, got "0" \(from flag --batch-size\)/);
    expect(stderr).toMatch(/shards: '0-99' is outside 0-63.*FLEETPULSE_INGEST_SHARDS/);
  });

  it('names a missing required option', async () => {
    const { code, stderr } = await runCli(['agent']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/vehicleId: is required/);
  });

  it('rejects unknown commands and flags', async () => {
    expect((await runCli(['nosuch'])).code).toBe(2);
    expect((await runCli(['broker', '--prot', '1'])).stderr).toMatch(/Unknown option '--prot'/);
    expect((await runCli(['broker', 'extra'])).stderr).toMatch(/unexpected argument 'extra'/);
  });
});

describe('agent bundle for the Raspberry Pi', () => {
  it('builds without any cloud-side package and runs on its own', () => {
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-agent.mjs')], { cwd: ROOT, stdio: 'pipe' });
    const out = join(ROOT, 'dist', 'agent');
    const meta = JSON.parse(readFileSync(join(out, 'metafile.json'), 'utf8')) as { inputs: Record<string, unknown> };
    const inputs = Object.keys(meta.inputs);
    expect(inputs.some((p) => p.includes('node_modules/mqtt/'))).toBe(true);
    for (const heavy of ['influx', 'onnxruntime-node', 'sharp', 'fastify', 'aedes']) {
      expect(inputs.filter((p) => p.includes(`node_modules/${heavy}/`)), heavy).toEqual([]);
    }
    const pkg = JSON.parse(readFileSync(join(out, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const name of Object.keys(pkg.dependencies)) expect(['serialport', 'better-sqlite3']).toContain(name);
    const help = execFileSync(process.execPath, [join(out, 'fleetpulse-agent.mjs'), 'agent', '--help'], { encoding: 'utf8' });
    expect(help).toContain('Usage: fleetpulse agent');
  });
});
