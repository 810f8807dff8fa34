/** The managed nginx refuses a taken port, whether our check before the start or nginx's own bind() finds it. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PortUnavailableError } from '../../common/errors.ts';
import { holdPort } from '../../test/support/held-port.ts';
import { explainNginxStartFailure, nginxExecutable, renderNginxConfig, startManagedNginx } from './managed-nginx.ts';

describe.skipIf(!nginxExecutable())('managed nginx on a taken port', () => {
  let held: Awaited<ReturnType<typeof holdPort>>;
  let port: number;
  const dir = mkdtempSync(join(tmpdir(), 'fp-nginx-port-'));

  beforeAll(async () => {
    held = await holdPort();
    port = held.port;
  });
  afterAll(async () => {
    await held.release();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fails the start naming the option, and leaves no nginx running', async () => {
    const error = await startManagedNginx({ prefixDir: join(dir, 'a'), port, upstream: '127.0.0.1:9', maxBodyBytes: 1024, portOption: '--api-port' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PortUnavailableError);
    expect((error as PortUnavailableError).code).toBe('FP_PORT_IN_USE');
    expect((error as Error).message).toBe(`--api-port: 127.0.0.1:${port} is already in use; choose another port with --api-port N (0 = any free port)`);
  });

  it("reads nginx's own bind() failure from its error log (the port taken after our check)", () => {
    // Real nginx on the held port, with the same rendered config: what it logs when bind() fails.
    const prefix = join(dir, 'b');
    mkdirSync(join(prefix, 'logs'), { recursive: true });
    mkdirSync(join(prefix, 'tmp'), { recursive: true });
    const conf = join(prefix, 'nginx.conf');
    writeFileSync(conf, renderNginxConfig({ prefix, accessLog: join(prefix, 'logs', 'access.log'), listen: `127.0.0.1:${port}`, upstream: '127.0.0.1:9', maxBodyBytes: 1024 }));
    const run = spawnSync(nginxExecutable()!, ['-p', prefix, '-c', conf], { encoding: 'utf8', timeout: 20_000 });
    expect(run.status).toBe(1);
    const error = explainNginxStartFailure(readFileSync(join(prefix, 'logs', 'error.log'), 'utf8'), '127.0.0.1', port, '--nginx-port');
    expect(error).toBeInstanceOf(PortUnavailableError);
    expect(error.message).toContain(`--nginx-port: 127.0.0.1:${port} is already in use`);
    expect(explainNginxStartFailure('2026/12/03 01:13:05 [emerg] 1#1: unknown directive "foo"\n', '127.0.0.1', port, '--nginx-port').message).toBe(`nginx did not start listening on 127.0.0.1:${port}: [emerg] 1#1: unknown directive "foo"`);
  });
});
