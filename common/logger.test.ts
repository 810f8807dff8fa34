import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findExecutable } from './child-process.ts';
import { createLogger } from './logger.ts';

const ROOT = join(import.meta.dirname, '..');

/** What `createLogger('svc').info(…)` and a child's warning write to stderr in a process of their own. */
function logInChild(env: NodeJS.ProcessEnv, viaTerminal = false): string {
  const code = "const { createLogger } = await import('./common/logger.ts'); const log = createLogger('svc'); log.info('adapter ready', { port: '/dev/ttyUSB0' }); log.child('obd').warn('adapter disconnected', { error: new Error('EIO') });";
  const node = [process.execPath, '--import', 'tsx', '--input-type=module', '-e', code];
  const envAll = { ...process.env, FLEETPULSE_LOG_FORMAT: '', ...env };
  // script(1) gives the child a terminal; its output (the terminal's) comes back on stdout.
  const result = viaTerminal
    ? spawnSync('script', ['-qec', node.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' '), '/dev/null'], { cwd: ROOT, env: envAll, encoding: 'utf8' })
    : spawnSync(node[0]!, node.slice(1), { cwd: ROOT, env: envAll, encoding: 'utf8' });
  expect(result.status, result.stderr).toBe(0);
  return viaTerminal ? result.stdout : result.stderr;
}

describe('logger', () => {
  it('writes one JSON object per line with level, ISO time, component, message and fields; an Error as its message', () => {
    const lines: string[] = [];
    const log = createLogger('broker', { level: 'debug', write: (line) => lines.push(line) });
    log.info('broker listening', { url: 'mqtt://127.0.0.1:1883', clients: 0 });
    log.child('store').error('write failed', { error: new Error('ENOSPC: no space left on device') });
    log.debug('no fields');
    expect(lines).toHaveLength(3);
    const [first, second, third] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toEqual({ level: 'info', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/), component: 'broker', msg: 'broker listening', url: 'mqtt://127.0.0.1:1883', clients: 0 });
    expect(second).toMatchObject({ level: 'error', component: 'broker/store', msg: 'write failed', error: 'ENOSPC: no space left on device' });
    expect(third).toMatchObject({ level: 'debug', component: 'broker', msg: 'no fields' });
    // A child's component replaces its parent's: one key, not two.
    expect(lines[1]!.match(/"component"/g)).toHaveLength(1);
  });

  it('drops what is below its level, and everything when silent', () => {
    const lines: string[] = [];
    const log = createLogger('x', { level: 'warn', write: (line) => lines.push(line) });
    log.debug('a');
    log.info('b');
    log.child('y').warn('c');
    log.error('d');
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['c', 'd']);
    const none: string[] = [];
    createLogger('x', { level: 'silent', write: (line) => none.push(line) }).error('e');
    expect(none).toEqual([]);
  });

  it('writes JSON lines to stderr when it is not a terminal (CI, journald, a test reading a child)', () => {
    const lines = logInChild({}).trim().split('\n');
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toMatchObject([
      { level: 'info', component: 'svc', msg: 'adapter ready', port: '/dev/ttyUSB0' },
      { level: 'warn', component: 'svc/obd', msg: 'adapter disconnected', error: 'EIO' },
    ]);
  });

  it('writes one readable line per event when asked, and on a terminal', () => {
    const readable = /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: svc adapter ready \{"port":"\/dev\/ttyUSB0"\}\n\[[\d:.]+\] WARN: svc\/obd adapter disconnected \{"error":"EIO"\}\n$/;
    expect(logInChild({ FLEETPULSE_LOG_FORMAT: 'pretty', NO_COLOR: '1' })).toMatch(readable);
    if (!findExecutable('script')) throw new Error('script(1) is not installed (Debian package bsdutils)');
    const onTerminal = logInChild({ NO_COLOR: '1' }, true).replace(/\r\n/g, '\n');
    expect(onTerminal).toMatch(readable);
  });
});
