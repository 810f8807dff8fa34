import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, UsageError } from './errors.ts';
import { formatHelp, loadConfig, opt } from './config.ts';
import { thrownBy } from '../test/support/errors.ts';

const spec = {
  mqttUrl: opt.url('Broker', ['mqtt'], { default: 'mqtt://127.0.0.1:1883' }),
  batchSize: opt.int('Batch', { default: 100, min: 1 }),
  verbose: opt.boolean('Verbose', { default: false }),
  mode: opt.oneOf(['a', 'b'], 'Mode', { default: 'a' }),
  name: opt.string('Name'),
  shards: opt.parsed('Shards', '<r>', (t) => t.split(',').map(Number), { default: '1,2' }),
};
const ctx = { commandPath: 'svc', section: 'svc', sharedKeys: ['mqttUrl'], knownSections: ['svc', 'other'] };

function file(content: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'fp-config-'));
  const path = join(dir, 'config.json');
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function issuesOf(run: () => unknown): Array<{ field: string; message: string; source?: string }> {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return [...error.issues];
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('uses defaults, parsing them like any value', () => {
    const { config, sources } = loadConfig(spec, ctx, ['--name', 'x'], {});
    expect(config).toEqual({ mqttUrl: 'mqtt://127.0.0.1:1883', batchSize: 100, verbose: false, mode: 'a', name: 'x', shards: [1, 2] });
    expect(sources.batchSize).toBe('default');
  });

  it('layers file < generic env < service env < flags', () => {
    const path = file({ mqttUrl: 'mqtt://file:1', svc: { batchSize: 5, name: 'from-file' } });
    const env = { FLEETPULSE_CONFIG: path, FLEETPULSE_BATCH_SIZE: '6', FLEETPULSE_SVC_BATCH_SIZE: '7' };
    let loaded = loadConfig(spec, ctx, [], env);
    expect(loaded.config).toMatchObject({ mqttUrl: 'mqtt://file:1', batchSize: 7, name: 'from-file' });
    expect(loaded.sources.batchSize).toBe('env FLEETPULSE_SVC_BATCH_SIZE');
    loaded = loadConfig(spec, ctx, ['--batch-size', '8', '--verbose', '--mode', 'b'], env);
    expect(loaded.config).toMatchObject({ batchSize: 8, verbose: true, mode: 'b' });
    expect(loadConfig(spec, ctx, ['--no-verbose'], { ...env, FLEETPULSE_SVC_VERBOSE: 'true' }).config.verbose).toBe(false);
  });

  it('names the field, the problem and the source of a bad value', () => {
    const issues = issuesOf(() => loadConfig(spec, ctx, ['--name', 'x', '--mode', 'c'], { FLEETPULSE_SVC_BATCH_SIZE: '0', FLEETPULSE_MQTT_URL: 'http://x' }));
    expect(issues).toEqual([
      { field: 'mqttUrl', message: expect.stringMatching(/scheme mqtt.*"http:\/\/x"/), source: 'env FLEETPULSE_MQTT_URL' },
      { field: 'batchSize', message: expect.stringMatching(/≥ 1/), source: 'env FLEETPULSE_SVC_BATCH_SIZE' },
      { field: 'mode', message: expect.stringMatching(/one of a, b/), source: 'flag --mode' },
    ]);
  });

  it('requires options without a default', () => {
    const issues = issuesOf(() => loadConfig(spec, ctx, [], {}));
    expect(issues).toEqual([{ field: 'name', message: expect.stringMatching(/--name.*FLEETPULSE_SVC_NAME/) }]);
  });

  it('rejects typos in the config file instead of ignoring them', () => {
    const path = file({ mqttUlr: 'x', svc: { batchSzie: 1 }, nosuch: {} });
    const issues = issuesOf(() => loadConfig(spec, ctx, ['--config', path, '--name', 'x'], {}));
    expect(issues.map((i) => i.field)).toEqual(['mqttUlr', 'nosuch', 'svc.batchSzie']);
  });

  it('reports a file that is not JSON', () => {
    expect(thrownBy(() => loadConfig(spec, ctx, ['--config', file('{oops')], {}))).toMatchObject({ code: 'FP_CONFIG_FILE', cause: expect.any(SyntaxError) });
    expect(thrownBy(() => loadConfig(spec, ctx, ['--config', '/nonexistent/x.json'], {}))).toMatchObject({ code: 'FP_CONFIG_FILE', cause: { code: 'ENOENT' } });
  });

  it('rejects unknown flags as a usage error', () => {
    expect(() => loadConfig(spec, ctx, ['--bacth-size', '1'], {})).toThrow(UsageError);
  });

  it('surfaces errors of parsed options', () => {
    const picky = { shards: opt.parsed('Shards', '<r>', (t) => { if (t === 'bad') throw new Error('no good'); return t; }, { default: 'ok' }) };
    expect(issuesOf(() => loadConfig(picky, ctx, ['--shards', 'bad'], {}))).toEqual([{ field: 'shards', message: 'no good, got "bad"', source: 'flag --shards' }]);
  });

  it('generates help with flags, defaults and env names', () => {
    const help = formatHelp('svc', 'Does things.', spec, 'svc');
    expect(help).toContain('--batch-size <n>');
    expect(help).toContain('(default: 100)');
    expect(help).toContain('env FLEETPULSE_SVC_BATCH_SIZE');
    expect(help).toContain('(required)');
  });
});
