/** `fleetpulse api` as a user runs it: nginx in front of the API on loopback, stopped cleanly on Ctrl-C or SIGTERM. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
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
      const pid = Number(readFileSync(join(dataDir, 'nginx', 'nginx.pid'), 'utf8'));
      expect(isAlive(pid)).toBe(true);
      cli.child.kill('SIGINT');
      expect(await Promise.race([cli.exited, new Promise((r) => setTimeout(() => r('timeout'), 15_000))])).toBe(0);
      expect(await waitFor(() => !isAlive(pid), 5000)).toBe(true);
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    }
  });

  it('on SIGTERM cancels the work still running after --drain-s (503 shutting_down) and exits', async () => {
    const key = generateApiKey();
    writeCustomerTable(join(dataDir, 'api', 'customers.json'), { keys: [{ key, customer: 'acme', plan: 'pro' }] });
    // 16 MP with 64 regions over all of it: far more work than the test waits for.
    const heavy = await sharp({ create: { width: 4000, height: 4000, channels: 3, background: '#808080' } }).png().toBuffer();
    const cli = startCli(['api', '--nginx', 'on', '--port', '0', '--nginx-port', '0', '--drain-s', '1', '--deadline-s', '600', '--max-work', '1000000000', '--data-dir', dataDir]);
    try {
      expect(await waitFor(() => /nginx http:\/\/\S+/.test(cli.output()), 20_000), cli.output()).toBe(true);
      const url = /nginx (http:\/\/[\d.:]+)/.exec(cli.output())![1]!;
      const pending = fetch(`${url}/v1/blur?regions=${Array.from({ length: 64 }, () => '0,0,4000,4000').join(';')}`, { method: 'POST', headers: { 'content-type': 'image/png', 'x-api-key': key }, body: heavy });
      const running = async () => ((await (await fetch(`${url}/healthz`)).json()) as { work?: { running: number } }).work?.running === 1;
      expect(await waitFor(running, 20_000)).toBe(true);
      cli.child.kill('SIGTERM');
      const res = await pending;
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('shutting_down');
      expect(await Promise.race([cli.exited, new Promise((r) => setTimeout(() => r('timeout'), 30_000))])).toBe(0);
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    }
  });
});
