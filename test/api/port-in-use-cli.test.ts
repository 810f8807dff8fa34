/**
 * Every service started on a port another process holds fails at once with one line naming the
 * option (no "unexpected error", no stack trace) and a non-zero exit code; a managed nginx that
 * cannot bind fails `fleetpulse api` instead of being reported as started.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey, writeCustomerTable } from '../../api/customer-table.ts';
import { nginxExecutable } from '../../api/nginx/managed-nginx.ts';
import { freePort } from '../../common/net.ts';
import { runCli } from '../support/cli.ts';
import { holdPort } from '../support/held-port.ts';

describe('a taken port', () => {
  let held: Awaited<ReturnType<typeof holdPort>>;
  let port: number;
  const dataDir = mkdtempSync(join(tmpdir(), 'fp-ports-'));

  beforeAll(async () => {
    held = await holdPort();
    port = held.port;
    writeCustomerTable(join(dataDir, 'api', 'customers.json'), { keys: [{ key: generateApiKey(), customer: 'acme', plan: 'pro' }] });
  });
  afterAll(async () => {
    await held.release();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const cases: Array<[string, string, (taken: string) => Promise<string[]>]> = [
    ['broker', '--port', async (p) => ['broker', '--port', p]],
    ['broker metrics', '--metrics-port', async (p) => ['broker', '--port', '0', '--metrics', '--metrics-port', p]],
    ['broker websocket', '--ws-port', async (p) => ['broker', '--port', '0', '--ws', '--ws-port', p]],
    // InfluxDB on a port nobody listens on: ingest spools and goes on to its HTTP server.
    ['ingest http', '--http-port', async (p) => ['ingest', '--http-port', p, '--influx-url', `http://127.0.0.1:${await freePort()}`, '--mqtt-url', `mqtt://127.0.0.1:${await freePort()}`]],
    ['api', '--port', async (p) => ['api', '--nginx', 'off', '--port', p]],
    ...(nginxExecutable() ? [['api nginx', '--nginx-port', async (p: string) => ['api', '--nginx', 'on', '--port', '0', '--nginx-port', p]] as [string, string, (taken: string) => Promise<string[]>]] : []),
  ];

  it.each(cases)('%s: one line naming %s, exit code non-zero', async (_name, option, args) => {
    const result = await runCli([...(await args(String(port))), '--data-dir', dataDir], { FLEETPULSE_LOG_LEVEL: 'error' });
    const lines = result.stderr.trim().split('\n');
    expect(result.code, result.stderr).not.toBe(0);
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toContain(`${option}: 127.0.0.1:${port} is already in use`);
    expect(result.stderr).not.toMatch(/unexpected error|\n\s+at /);
  });
});
