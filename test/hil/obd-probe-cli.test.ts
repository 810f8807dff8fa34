/**
 * The done-when: `fleetpulse obd probe` (the real CLI, a child process) against an emulated
 * ELM327 on a real pty prints the VIN, the protocol, the DTCs of the injected fault, and decoded
 * values that match the simulated car. The emulator CLI's car runs on its own clock, so what it
 * answered comes from its answer trace (`--trace FILE`).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pidByName, scalarValue } from '../../contracts/obd/pid-table.ts';
import type { ProbeReport, ProbeValue } from '../../agent/obd/probe.ts';
import type { Elm327Answer } from '../../simulator/elm327/elm327-emulator.ts';
import { heldFault } from '../../simulator/elm327/live-vehicle.ts';
import { startEmulatorOnPty } from '../../simulator/elm327/test-support.ts';
import { defaultVehicleSpec } from '../../simulator/fleet-plan.ts';
import { encodePid, pidEncoding } from '../../contracts/obd/pid-encoding.ts';
import { PROFILES } from '../../simulator/profiles.ts';
import { runCli, startCli } from '../support/cli.ts';
import { waitFor } from '../support/influx.ts';

/** PIDs whose value the emulated ECU computes unquantised (distance, ambient): their resolution. */
const UNQUANTISED_RESOLUTION: Readonly<Record<string, number>> = { DISTANCE_W_MIL: 1, DISTANCE_SINCE_DTC_CLEAR: 1, AMBIANT_AIR_TEMP: 1 };

/**
 * Checks one value the probe printed against the last answer the emulator's trace has for that
 * PID from that ECU (the probe keeps the last reading of a PID). Simulator signals are quantised
 * by the simulator's own PID encoding (contracts/obd/pid-encoding.ts), a definition apart from the
 * agent's PID table: their decoded value must be identical and the bytes sent must be what that
 * encoding gives, so a wrong decoder, a wrong encoder, or both wrong alike all fail here.
 */
function expectProbeValueMatchesTrace(v: ProbeValue, answers: readonly Elm327Answer[]): void {
  const pid = parseInt(v.pid, 16);
  const sent = answers.filter((a) => a.service === 1 && a.pid === pid && a.ecu === v.ecu);
  expect(sent.length, `${v.name}: the trace has no answer from ${v.ecu}`).toBeGreaterThan(0);
  const last = sent.at(-1)!;
  expect(last.name).toBe(v.name);
  const what = `${v.name}: probe ${JSON.stringify(v.value)}, emulator sent ${JSON.stringify(last.value)} (${last.raw})`;
  const def = pidByName(v.name)!;
  const encoding = pidEncoding(v.name);
  if (encoding) {
    expect(typeof last.value, what).toBe('number');
    expect(scalarValue(def, v.value!), what).toBe(last.value);
    const bytes = encodePid(encoding, last.value as number).map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join('');
    expect(last.raw.startsWith(bytes), `${what}: bytes should start ${bytes}`).toBe(true);
  } else if (typeof last.value === 'number') {
    const resolution = UNQUANTISED_RESOLUTION[v.name] ?? 0;
    expect(typeof v.value, what).toBe('number');
    expect(Math.abs((v.value as number) - last.value), what).toBeLessThanOrEqual(resolution / 2 + 1e-9);
  } else if (typeof last.value === 'object' && !Array.isArray(last.value)) {
    // The ECU states the fields it means (MIL, DTC count; fuel system 1 and 2); the decoder gives more.
    expect(v.value, what).toMatchObject(last.value as object);
  } else {
    expect(v.value, what).toEqual(last.value);
  }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('fleetpulse obd probe', () => {
  it('against `fleetpulse simulate elm327 --pty --trace` with a misfire: VIN, protocol, the fault’s DTCs, every value as the emulator sent it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-probe-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'ttyELM');
    const tracePath = join(dir, 'answers.jsonl');
    // The car drives on its own clock (speed 1): values change between requests, so only the trace says what was sent.
    const sim = startCli(['simulate', 'elm327', '--pty', path, '--fault', 'misfire', '--seed', '11', '--trace', tracePath]);
    cleanups.push(async () => {
      sim.child.kill('SIGTERM');
      await sim.exited;
    });
    expect(await waitFor(() => /DTCs stored \[.*\] pending \[.*\]/.test(sim.output()), 30_000), sim.output()).toBe(true);
    const banner = /VIN (\w{17}).*DTCs stored \[([^\]]*)\] pending \[([^\]]*)\]/.exec(sim.output())!;
    const [, vin, stored] = banner;
    const codes = (s: string | undefined) => (s ?? '').split(' ').filter(Boolean);
    expect(codes(stored)).toContain('P0301');

    const json = await runCli(['obd', 'probe', '--serial', path, '--json', '--wait-s', '20'], {}, 60_000);
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout) as ProbeReport;
    // Written synchronously by the emulator: complete now that the probe has exited.
    const answers = readFileSync(tracePath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Elm327Answer);
    const lastFrom = (ecu: string, name: string) => answers.filter((a) => a.ecu === ecu && a.name === name).at(-1)?.value;
    expect(report.state).toBe('ready');
    expect(report.adapter).toBe('ELM327 v1.5');
    expect(report.protocol).toBe('ISO 15765-4 CAN (11 bit ID, 500 kbaud)');
    expect(report.vin).toBe(vin);
    expect(lastFrom('7E8', 'VIN')).toBe(vin);
    expect(report.storedDtcs).toContain('P0301');
    expect(report.storedDtcs).toEqual([...(lastFrom('7E8', 'STORED_DTCS') as string[]), ...(lastFrom('7E9', 'STORED_DTCS') as string[])]);
    expect(report.pendingDtcs).toEqual([...(lastFrom('7E8', 'PENDING_DTCS') as string[]), ...(lastFrom('7E9', 'PENDING_DTCS') as string[])]);
    expect(report.ecus).toEqual(['7E8', '7E9']);
    expect(report.multiPid).toBe(true);
    // The supported PIDs are what the bitmaps the ECUs sent announce (the probe lists the bitmap PIDs 20, 40 … apart).
    const announced = new Set(answers.filter((a) => a.service === 1 && a.pid! % 0x20 === 0).flatMap((a) => (a.value as number[]).filter((p) => p % 0x20 !== 0)));
    expect(report.supportedPids.map((p) => parseInt(p.pid, 16)).sort((a, b) => a - b)).toEqual([...announced].sort((a, b) => a - b));
    // Every value the probe printed is the one the emulator sent for that PID.
    expect(report.values.length).toBeGreaterThan(15);
    expect(report.values.length).toBe(announced.size);
    for (const v of report.values) {
      expect(v.value, v.name).not.toBeNull();
      expectProbeValueMatchesTrace(v, answers);
    }
    expect(report.problems).toEqual([]);

    const text = await runCli(['obd', 'probe', '--serial', path, '--wait-s', '20'], {}, 60_000);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`VIN:        ${vin}`);
    expect(text.stdout).toContain('ISO 15765-4 CAN (11 bit ID, 500 kbaud)');
    expect(text.stdout).toMatch(/stored DTCs: +.*P0301/);
    // The text form prints the RPM the emulator sent to this second probe.
    const later = readFileSync(tracePath, 'utf8').trim().split('\n').slice(answers.length).map((l) => JSON.parse(l) as Elm327Answer);
    const rpm = later.filter((a) => a.ecu === '7E8' && a.name === 'RPM').at(-1);
    expect(rpm, 'the trace has the second probe’s RPM').toBeDefined();
    expect(text.stdout).toMatch(new RegExp(`\\n  0C {2}RPM +${String(rpm!.value).replace('.', '\\.')} rpm\\n`));
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
