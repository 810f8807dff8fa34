import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nginxExecutable } from '../api/nginx/managed-nginx.ts';
import type { InstallSystem } from '../common/debian-package.ts';
import { startCli } from '../test/support/cli.ts';
import { waitFor } from '../test/support/influx.ts';
import { apiOffLine, decideApiScenario } from './api-scenario.ts';

const system = (options: { nginx: boolean; root: boolean; apt?: boolean }): InstallSystem & { installs: number } => {
  const state = { installs: 0, nginx: options.nginx };
  return {
    get installs() {
      return state.installs;
    },
    findExecutable: (name) => (name === 'nginx' && state.nginx ? '/usr/sbin/nginx' : name === 'apt-get' && (options.apt ?? true) ? '/usr/bin/apt-get' : undefined),
    isRoot: () => options.root,
    aptGet: (args) => {
      if (args[0] === 'install') {
        state.installs += 1;
        state.nginx = true;
      }
      return 0;
    },
  };
};

describe('the API scenario of fleetpulse up', () => {
  it('auto: on when nginx is there, or after installing it; off with the reason otherwise', () => {
    expect(decideApiScenario('auto', () => undefined, system({ nginx: true, root: false }))).toEqual({ on: true, nginx: '/usr/sbin/nginx', installed: false });
    const fresh = system({ nginx: false, root: true });
    const printed: string[] = [];
    expect(decideApiScenario('auto', (l) => printed.push(l), fresh)).toEqual({ on: true, nginx: '/usr/sbin/nginx', installed: true });
    expect(fresh.installs).toBe(1);
    expect(printed).toEqual(['nginx is not installed: installing the Debian package "nginx-light" with apt-get (one time)…']);
    const user = decideApiScenario('auto', () => undefined, system({ nginx: false, root: false }));
    expect(user.on).toBe(false);
    expect(apiOffLine(user as { why: string })).toBe('  API       off: nginx (nginx) is not installed, and installing it needs root: sudo apt-get install nginx-light (the API-traffic panel stays empty; --api off hides this line)');
    const mac = decideApiScenario('auto', () => undefined, system({ nginx: false, root: true, apt: false }));
    expect(apiOffLine(mac as { why: string })).toMatch(/^ {2}API {7}off: nginx \(nginx\) is not installed, and there is no apt-get here/);
  });

  it('on: installs the same way, or stops with the reason; off: nothing is installed', () => {
    expect(() => decideApiScenario('on', () => undefined, system({ nginx: false, root: false }))).toThrow(/^--api on: nginx \(nginx\) is not installed, and installing it needs root/);
    const off = system({ nginx: false, root: true });
    expect(decideApiScenario('off', () => undefined, off)).toEqual({ on: false, why: 'off (--api off)' });
    expect(off.installs).toBe(0);
  });
});

describe('fleetpulse up prints the API line', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'fleetpulse-up-api-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  async function summaryOf(api: 'auto' | 'off'): Promise<string> {
    const up = startCli(['up', '--api', api, '--vehicles', '0', '--demo-baselines', '0', '--mqtt-port', '0', '--influx-port', '0', '--api-port', '0', '--dashboard-port', '0', '--data-dir', join(dataDir, api)], { FLEETPULSE_INFLUX_URL: '' });
    try {
      expect(await waitFor(() => up.output().includes('Press Ctrl-C to stop.'), 60_000), up.output()).toBe(true);
      return up.output();
    } finally {
      up.child.kill('SIGINT');
      await up.exited;
    }
  }

  it.skipIf(!nginxExecutable())('with nginx on this machine, --api auto runs the API scenario', async () => {
    expect(await summaryOf('auto')).toMatch(/^ {2}API {7}http:\/\/127\.0\.0\.1:\d+ \(nginx → privacy API/m);
  }, 90_000);

  it('with --api off, says so', async () => {
    expect(await summaryOf('off')).toMatch(/^ {2}API {7}off \(--api off\)$/m);
  }, 90_000);
});
