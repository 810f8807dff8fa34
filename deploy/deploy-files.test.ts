import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envKey, loadConfig } from '../common/config.ts';
import agentCommand, { agentOptions } from '../cli/commands/agent.ts';
import { SECTIONS, SHARED_KEYS } from '../cli/shared-options.ts';

const here = import.meta.dirname;
const read = (name: string) => readFileSync(join(here, name), 'utf8');

describe('deployment files', () => {
  it('agent.example.json passes the real config loader of `fleetpulse agent`', () => {
    const { config, sources } = loadConfig(agentOptions, { commandPath: agentCommand.path, section: agentCommand.section, sharedKeys: SHARED_KEYS, knownSections: SECTIONS }, ['--config', join(here, 'agent.example.json')], {});
    expect(config).toMatchObject({ vehicleId: 'car-0001', source: 'serial', serial: '/dev/obd', payload: 'compact', dataDir: '/var/lib/fleetpulse', mqttUrl: 'mqtts://broker.example.net:8883' });
    expect(config.fastPids).toHaveLength(6);
    // Every key of the example is used, none is a silent default.
    const file = JSON.parse(read('agent.example.json')) as { agent: Record<string, unknown> };
    for (const key of Object.keys(file.agent)) expect(sources[key as keyof typeof sources], key).toMatch(/^file /);
  });

  it('names only environment variables the agent reads', () => {
    const known = new Set(Object.keys(agentOptions).map((k) => `FLEETPULSE_AGENT_${envKey(k)}`));
    const vars = read('agent.example.env').split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.split('=')[0]!);
    expect(vars).toContain('FLEETPULSE_AGENT_PASSWORD');
    for (const v of vars) expect(known.has(v), v).toBe(true);
  });

  it('starts the bundle that `npm run build:agent` packs, with the config the docs install', () => {
    const unit = read('fleetpulse-agent.service');
    const build = readFileSync(join(here, '..', 'scripts', 'build-agent.mjs'), 'utf8');
    expect(build).toContain("name: 'fleetpulse-agent'");
    expect(build).toContain("'fleetpulse-agent.mjs'");
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/node --lite-mode --max-semi-space-size=1 \/opt\/fleetpulse-agent\/node_modules\/fleetpulse-agent\/fleetpulse-agent\.mjs agent$/m);
    expect(unit).toMatch(/^Environment=FLEETPULSE_CONFIG=\/etc\/fleetpulse\/agent\.json$/m);
    expect(unit).toMatch(/^SupplementaryGroups=dialout$/m);
    expect(unit).not.toMatch(/^PrivateDevices=yes/m);
  });

  it('ships an agent unit systemd accepts', () => {
    // (fleetpulse-rfcomm.service needs bluez installed to verify, so it is not checked here.)
    for (const unit of ['fleetpulse-agent.service']) {
      const result = spawnSync('systemd-analyze', ['verify', join(here, unit)], { encoding: 'utf8' });
      if (result.error) return; // systemd-analyze not installed: nothing to check against
      expect(result.status, `${unit}: ${result.stderr}`).toBe(0);
      expect(result.stderr, unit).toBe('');
    }
  });
});
