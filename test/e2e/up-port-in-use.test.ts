/**
 * `fleetpulse up` with one of its ports taken fails at once with one line naming up's own option
 * (not the option of the service behind it, such as the broker's `--port`), exit code non-zero,
 * before anything starts. Every other port is 0 (any free port), so only the taken one can fail.
 * The listeners behind it name up's options too, for a port taken between the check and the listen.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nginxExecutable } from '../../api/nginx/managed-nginx.ts';
import { startBroker } from '../../broker/broker-server.ts';
import { PortUnavailableError } from '../../common/errors.ts';
import { freePort } from '../../common/net.ts';
import { startDashboard } from '../../ingest/dashboard/dashboard-server.ts';
import { influxdInstalled } from '../../ingest/influxdb/local-influxd.ts';
import { runCli } from '../support/cli.ts';
import { holdPort } from '../support/held-port.ts';

const PORT_OPTIONS = ['--mqtt-port', '--influx-port', '--api-port', '--dashboard-port'] as const;
type PortOption = (typeof PORT_OPTIONS)[number];

describe('fleetpulse up with a taken port', () => {
  let held: Awaited<ReturnType<typeof holdPort>>;
  const root = mkdtempSync(join(tmpdir(), 'fp-up-ports-'));

  beforeAll(async () => {
    held = await holdPort();
  });
  afterAll(async () => {
    await held.release();
    rmSync(root, { recursive: true, force: true });
  });

  const cases: PortOption[] = PORT_OPTIONS.filter((option) => (option === '--influx-port' ? influxdInstalled() : option === '--api-port' ? nginxExecutable() !== undefined : true));

  it('has a case for every port option of up', async () => {
    const help = await runCli(['up', '--help']);
    const options = [...help.stdout.matchAll(/^\s+(--[a-z-]+-port)\b/gm)].map((m) => m[1]);
    expect(options.sort()).toEqual([...PORT_OPTIONS].sort());
  });

  it.each(cases)('%s: one line naming it, exit code non-zero, nothing started', async (option) => {
    const dataDir = join(root, option.slice(2));
    const ports = Object.fromEntries(PORT_OPTIONS.map((o) => [o, o === option ? String(held.port) : '0']));
    // A local influxd only for its own case; elsewhere an address nobody listens on (ingest would spool).
    const influxUrl = option === '--influx-port' ? 'local' : `http://127.0.0.1:${await freePort()}`;
    const args = ['up', ...Object.entries(ports).flat(), '--influx-url', influxUrl, '--api', option === '--api-port' ? 'on' : 'off', '--vehicles', '1', '--data-dir', dataDir];
    const result = await runCli(args, { FLEETPULSE_LOG_LEVEL: 'error' });
    const lines = result.stderr.trim().split('\n');
    expect(result.code, result.stderr).not.toBe(0);
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toContain(`${option}: 127.0.0.1:${held.port} is already in use; choose another port with ${option} N`);
    expect(result.stderr).not.toMatch(/unexpected error|\n\s+at /);
    // Checked before anything starts: no broker identities written, no influxd run.
    expect(existsSync(join(dataDir, 'broker'))).toBe(false);
    expect(existsSync(join(dataDir, 'influxdb', 'influxd.log'))).toBe(false);
  });

  it('the broker and the dashboard name the option they are given when their listen fails', async () => {
    const broker = await startBroker({ host: '127.0.0.1', port: held.port, portOption: '--mqtt-port', sysIntervalMs: 0 }).catch((e: unknown) => e);
    expect(broker).toBeInstanceOf(PortUnavailableError);
    expect((broker as PortUnavailableError).message).toBe(`--mqtt-port: 127.0.0.1:${held.port} is already in use; choose another port with --mqtt-port N (0 = any free port)`);
    const host = { addEventListener: () => undefined, addMetrics: () => undefined };
    const dashboard = await startDashboard(host, { host: '127.0.0.1', port: held.port, influxUrl: `http://127.0.0.1:${await freePort()}`, influxDatabase: 'none' }).catch((e: unknown) => e);
    expect(dashboard).toBeInstanceOf(PortUnavailableError);
    expect((dashboard as PortUnavailableError).option).toBe('--dashboard-port');
  });
});
