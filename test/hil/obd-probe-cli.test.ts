/**
 * The done-when: `fleetpulse obd probe` (the real CLI, a child process) against an emulated
 * ELM327 on a real pty prints the VIN, the protocol, the DTCs of the injected fault, and decoded
 * values that match the simulated car.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProbeReport } from '../../agent/obd/probe.ts';
import { signalInfo } from '../../contracts/signals.ts';
import { heldFault } from '../../simulator/elm327/live-vehicle.ts';
import { startEmulatorOnPty } from '../../simulator/elm327/test-support.ts';
import { defaultVehicleSpec } from '../../simulator/fleet-plan.ts';
import { pidEncoding } from '../../simulator/pid-encoding.ts';
import { PROFILES } from '../../simulator/profiles.ts';
import { runCli, startCli } from '../support/cli.ts';
import { waitFor } from '../support/influx.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('fleetpulse obd probe', () => {
  it('against `fleetpulse simulate elm327 --pty` with a misfire: VIN, protocol, the fault’s DTCs, a value of every PID', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-probe-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'ttyELM');
    const sim = startCli(['simulate', 'elm327', '--pty', path, '--fault', 'misfire', '--seed', '11', '--speed', '0']);
    cleanups.push(async () => {
      sim.child.kill('SIGTERM');
      await sim.exited;
    });
    expect(await waitFor(() => /DTCs stored \[.*\] pending \[.*\]/.test(sim.output()), 30_000), sim.output()).toBe(true);
    const banner = /VIN (\w{17}).*DTCs stored \[([^\]]*)\] pending \[([^\]]*)\]/.exec(sim.output())!;
    const [, vin, stored, pending] = banner;
    const codes = (s: string | undefined) => (s ?? '').split(' ').filter(Boolean);
    expect(codes(stored)).toContain('P0301');

    const json = await runCli(['obd', 'probe', '--serial', path, '--json', '--wait-s', '20'], {}, 60_000);
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout) as ProbeReport;
    expect(report.state).toBe('ready');
    expect(report.adapter).toBe('ELM327 v1.5');
    expect(report.protocol).toBe('ISO 15765-4 CAN (11 bit ID, 500 kbaud)');
    expect(report.vin).toBe(vin);
    expect(report.storedDtcs).toEqual(codes(stored));
    expect(report.pendingDtcs).toEqual(codes(pending));
    expect(report.ecus).toEqual(['7E8', '7E9']);
    expect(report.multiPid).toBe(true);
    // Every supported PID has a decoded value; the simulator's signals are within their ranges.
    expect(report.values.length).toBeGreaterThan(15);
    for (const v of report.values) {
      expect(v.value, v.name).not.toBeNull();
      const info = signalInfo(v.name);
      if (info && typeof v.value === 'number') expect(v.value >= info.min && v.value <= info.max, `${v.name}=${v.value}`).toBe(true);
    }
    expect(report.problems).toEqual([]);

    const text = await runCli(['obd', 'probe', '--serial', path, '--wait-s', '20'], {}, 60_000);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`VIN:        ${vin}`);
    expect(text.stdout).toContain('ISO 15765-4 CAN (11 bit ID, 500 kbaud)');
    expect(text.stdout).toMatch(/stored DTCs: +.*P0301/);
    expect(text.stdout).toMatch(/0C {2}RPM +\d/);
  });

  it('prints decoded values equal to the simulated car’s state (to the PID’s resolution)', async () => {
    const startMs = Date.now();
    const spec = { ...defaultVehicleSpec('probe-car', 5, 'continuous'), profile: PROFILES['compact-2.0-maf'], fault: heldFault('coolant_leak', 1, startMs) };
    const emu = await startEmulatorOnPty({ spec, seed: 5, startMs, preDriveTrips: 2 });
    cleanups.push(() => emu.close());
    const result = await runCli(['obd', 'probe', '--serial', emu.path, '--json', '--wait-s', '20'], {}, 60_000);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as ProbeReport;
    expect(report.vin).toBe(emu.emulator.vin);
    expect(report.storedDtcs).toEqual(emu.emulator.vehicle.dtcs().stored);
    expect(report.pendingDtcs).toEqual(emu.emulator.vehicle.dtcs().pending);

    const car = emu.emulator.vehicle.values() as unknown as Record<string, number>;
    let compared = 0;
    for (const v of report.values) {
      const encoding = pidEncoding(v.name);
      if (!encoding) continue;
      const value = typeof v.value === 'number' ? v.value : (v.value as Record<string, number> | null)?.voltage;
      expect(Math.abs((value ?? Number.NaN) - car[v.name]!), `${v.name}: ${JSON.stringify(v.value)} vs ${car[v.name]}`).toBeLessThanOrEqual(encoding.scale / 2 + 1e-6);
      compared++;
    }
    // Every simulated signal the car supports (MAF engine: no INTAKE_PRESSURE).
    expect(compared).toBe(16);
  });

  it('exits 1 and says so when nothing answers on the port', async () => {
    const result = await runCli(['obd', 'probe', '--serial', '/dev/fleetpulse-no-such-adapter', '--wait-s', '1'], {}, 30_000);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('no adapter answered');
    expect(result.stderr).toContain('no ELM327 adapter answered on /dev/fleetpulse-no-such-adapter');
  });
});
