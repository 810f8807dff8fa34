/** `fleetpulse api` as a user runs it: nginx in front of the API on loopback, stopped cleanly on Ctrl-C. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateApiKey, writeCustomerTable } from '../../api/customer-table.ts';
import { nginxExecutable } from '../../api/nginx/managed-nginx.ts';
import { isAlive, startCli } from '../support/cli.ts';
import { waitFor } from '../support/influx.ts';

describe.skipIf(!nginxExecutable())('fleetpulse api', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'fp-api-cli-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('serves through nginx, answers 401 without a key, and leaves no nginx behind', async () => {
    writeCustomerTable(join(dataDir, 'api', 'customers.json'), { keys: [{ key: generateApiKey(), customer: 'acme', plan: 'pro' }] });
    const cli = startCli(['api', '--nginx', 'on', '--port', '0', '--nginx-port', '0', '--data-dir', dataDir]);
    try {
      expect(await waitFor(() => /nginx http:\/\/\S+/.test(cli.output()), 20_000), cli.output()).toBe(true);
      const url = /nginx (http:\/\/[\d.:]+)/.exec(cli.output())![1]!;
      const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { openapi: string };
      expect(doc.openapi).toBe('3.1.0');
      const denied = await fetch(`${url}/v1/blur?regions=1,1,2,2`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: Buffer.from('x') });
      expect(denied.status).toBe(401);
      expect(denied.headers.get('x-request-id')).toMatch(/^[0-9a-f]{32}$/);
      const pid = Number((await import('node:fs')).readFileSync(join(dataDir, 'nginx', 'nginx.pid'), 'utf8'));
      expect(isAlive(pid)).toBe(true);
      cli.child.kill('SIGINT');
      expect(await Promise.race([cli.exited, new Promise((r) => setTimeout(() => r('timeout'), 15_000))])).toBe(0);
      expect(await waitFor(() => !isAlive(pid), 5000)).toBe(true);
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    }
  });
});
