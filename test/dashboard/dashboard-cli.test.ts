/** The dashboard's options at the command line: a taken port stops `up` and `ingest` at once, naming the option. */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';

describe('dashboard options', () => {
  let blocker: Server;
  let port: number;
  const dataDir = mkdtempSync(join(tmpdir(), 'fleetpulse-dashboard-cli-'));

  beforeAll(async () => {
    blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    port = (blocker.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((r) => blocker.close(r));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it.each([
    ['up', ['up', '--dashboard-port']],
    ['ingest', ['ingest', '--dashboard', '--dashboard-port']],
  ] as const)('%s fails at start when the dashboard port is taken, in one line naming --dashboard-port', async (_name, args) => {
    const result = await runCli([...args, String(port), '--data-dir', dataDir], { FLEETPULSE_INFLUX_URL: '' });
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim().split('\n'), result.stderr).toEqual([
      `fleetpulse: --dashboard-port: 127.0.0.1:${port} is already in use; choose another port with --dashboard-port N (0 = any free port) or turn the dashboard off with --no-dashboard`,
    ]);
    // Nothing was started before the check: no InfluxDB data directory.
    expect(result.stderr).not.toMatch(/influxd started/);
  });

  it('documents the options in --help, off by default for ingest and on for up', async () => {
    const ingest = await runCli(['ingest', '--help']);
    const up = await runCli(['up', '--help']);
    expect(ingest.stdout).toMatch(/--dashboard-port/);
    expect(ingest.stdout).toMatch(/--dashboard\s[^\n]*\(default: false\)/);
    expect(up.stdout).toMatch(/--dashboard\s[^\n]*\(default: true\)/);
  });
});
