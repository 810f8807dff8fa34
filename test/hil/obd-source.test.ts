/**
 * Hardware-in-the-loop: the agent's OBD source (session + poller) against the emulated ELM327 and
 * its simulated car, on serialport's mock binding and on a real pseudo-terminal (socat). The car's
 * simulated time is frozen, so every decoded value can be compared with what the car holds.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mockPortFactory } from '../../agent/obd/elm327-session.ts';
import { ObdSource, DEFAULT_FAST_PIDS, DEFAULT_SLOW_PIDS } from '../../agent/obd/obd-source.ts';
import { createLogger } from '../../common/logger.ts';
import type { Sample } from '../../contracts/telemetry.ts';
import { defaultVehicleSpec } from '../../simulator/fleet-plan.ts';
import { pidEncoding } from '../../contracts/obd/pid-encoding.ts';
import type { VehicleSpec } from '../../simulator/simulated-vehicle.ts';
import { startEmulatorOnMockPort, startEmulatorOnPty } from '../../simulator/elm327/test-support.ts';
import type { Elm327Emulator } from '../../simulator/elm327/elm327-emulator.ts';
import { waitFor } from '../support/influx.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A car whose second cylinder misfires (severity 1): after one trip P0302 is pending. */
function misfiringCar(): VehicleSpec {
  const now = Date.now();
  return { ...defaultVehicleSpec('hil-car', 7), fault: { kind: 'misfire', onsetMs: now - 30 * 86_400_000, failureMs: now - 86_400_000, cylinder: 2 } };
}

function startSource(path: string, mock: boolean): { source: ObdSource; samples: Sample[] } {
  const source = new ObdSource({
    path,
    ...(mock ? { openPort: mockPortFactory } : {}),
    fastPids: DEFAULT_FAST_PIDS,
    slowPids: DEFAULT_SLOW_PIDS,
    fastHz: 10,
    slowHz: 2,
    commandTimeoutMs: 1000,
    searchTimeoutMs: 3000,
    reconnectBackoff: { initialMs: 50, maxMs: 300 },
    ecuProbeBackoff: { initialMs: 50, maxMs: 300 },
    healthIntervalMs: 0,
    ...(process.env.HIL_DEBUG ? { logger: createLogger('hil', { level: 'debug' }) } : {}),
  });
  const samples: Sample[] = [];
  void source.start((s) => samples.push(s));
  cleanups.push(() => source.stop());
  return { source, samples };
}

/** Every signal of every sample equals the car's value to within the PID's resolution. */
function expectSamplesMatchCar(samples: readonly Sample[], emulator: Elm327Emulator): number {
  const car = emulator.vehicle.values() as unknown as Record<string, number>;
  let compared = 0;
  for (const sample of samples) {
    for (const [name, value] of Object.entries(sample)) {
      if (name === 't') continue;
      const resolution = pidEncoding(name)?.scale ?? 1;
      expect(Math.abs((value as number) - car[name]!), `${name}: ${value} vs ${car[name]}`).toBeLessThanOrEqual(resolution / 2 + 1e-6);
      compared++;
    }
  }
  return compared;
}

const signalsSeen = (samples: readonly Sample[]): Set<string> => new Set(samples.flatMap((s) => Object.keys(s).filter((k) => k !== 't')));

describe('OBD source against the emulated ELM327 (mock binding)', () => {
  it('publishes every polled signal with the car’s values, reads VIN and the fault’s DTCs, survives garbage', async () => {
    const path = `/dev/hil-elm-${process.pid}-1`;
    const emu = await startEmulatorOnMockPort(path, { spec: misfiringCar(), seed: 7, preDriveTrips: 1 });
    cleanups.push(() => emu.close());
    const { source, samples } = startSource(path, true);
    expect(await waitFor(() => signalsSeen(samples).has('CONTROL_MODULE_VOLTAGE') && samples.length >= 20, 20_000)).toBe(true);

    const supported = new Set(emu.emulator.supportedPids);
    const expected = [...DEFAULT_FAST_PIDS, ...DEFAULT_SLOW_PIDS].filter((name) => supported.has(pidEncoding(name)!.pid));
    expect([...signalsSeen(samples)].sort()).toEqual([...expected].sort());
    expect(expectSamplesMatchCar(samples, emu.emulator)).toBeGreaterThan(40);
    for (let i = 1; i < samples.length; i++) expect(samples[i]!.t).toBeGreaterThan(samples[i - 1]!.t);

    expect(await waitFor(() => source.status().vin !== undefined, 5000)).toBe(true);
    const status = source.status();
    expect(status.vin).toBe(emu.emulator.vin);
    expect(status.adapter).toBe('ELM327 v1.5');
    expect(status.protocol).toContain('ISO 15765-4 CAN (11 bit ID, 500 kbaud)');
    expect(status.pendingDtcs).toEqual(emu.emulator.vehicle.dtcs().pending);
    expect(status.pendingDtcs).toContain('P0302');
    expect(status.storedDtcs).toEqual(emu.emulator.vehicle.dtcs().stored);
    expect(status.poller.multiPidRequests).toBeGreaterThan(0);

    // Garbage on the line: noise between answers must never turn into values.
    const before = samples.length;
    for (let i = 0; i < 5; i++) {
      emu.emulator.injectGarbage();
      await new Promise((r) => setTimeout(r, 60));
    }
    expect(await waitFor(() => samples.length >= before + 10, 10_000)).toBe(true);
    expectSamplesMatchCar(samples, emu.emulator);
    const c = source.status().session;
    expect(c.unsolicitedBytes + c.garbageLines + c.timeouts + (c.replies.garbage ?? 0)).toBeGreaterThan(0);
    expect(source.session.state).toBe('ready');
  });
});

describe('OBD source against the emulated ELM327 on a real pty (socat)', () => {
  it('reports an unplugged adapter and resumes by itself when it is plugged back in', async () => {
    const emu = await startEmulatorOnPty({ seed: 3 });
    cleanups.push(() => emu.close());
    const { source, samples } = startSource(emu.path, false);
    const states: string[] = [];
    source.session.on('state', (s) => states.push(s));
    expect(await waitFor(() => samples.length >= 10, 20_000)).toBe(true);
    expect(source.session.generation).toBe(1);

    await emu.unplug();
    expect(await source.session.waitForState('disconnected', 10_000)).toBe(true);
    expect(source.session.counters.portLosses).toBe(1);
    const duringOutage = samples.length;
    // The port is gone: reconnect attempts fail until it is back.
    expect(await waitFor(() => source.session.counters.openFailures >= 2, 10_000)).toBe(true);
    expect(samples.length).toBe(duringOutage);

    await emu.replug();
    expect(await waitFor(() => samples.length >= duringOutage + 10, 20_000)).toBe(true);
    expect(source.session.generation).toBe(2);
    expect(states).toContain('disconnected');
    expect(states.at(-1)).toBe('ready');
    expectSamplesMatchCar(samples, emu.emulator);
  });

  it('reports ignition off as no-ecu and resumes when the ignition comes back', async () => {
    const emu = await startEmulatorOnPty({ seed: 4 });
    cleanups.push(() => emu.close());
    const { source, samples } = startSource(emu.path, false);
    expect(await waitFor(() => samples.length >= 5, 20_000)).toBe(true);

    emu.emulator.setIgnition(false);
    expect(await source.session.waitForState('no-ecu', 15_000)).toBe(true);
    expect(source.session.counters.ecuLost).toBe(1);
    const off = samples.length;
    emu.emulator.setIgnition(true);
    expect(await source.session.waitForState('ready', 15_000)).toBe(true);
    expect(await waitFor(() => samples.length >= off + 5, 15_000)).toBe(true);
    // The adapter stayed plugged in: no new initialisation, just the car coming back.
    expect(source.session.generation).toBe(1);
    expect(source.session.counters.ecuFound).toBe(2);
  });

  it('reports an ECU that stops answering and resumes when it answers again', async () => {
    const emu = await startEmulatorOnPty({ seed: 5 });
    cleanups.push(() => emu.close());
    const { source, samples } = startSource(emu.path, false);
    expect(await waitFor(() => samples.length >= 5, 20_000)).toBe(true);

    emu.emulator.setEcuResponding(false);
    expect(await source.session.waitForState('no-ecu', 15_000)).toBe(true);
    expect(source.session.counters.replies['no-data'] ?? 0).toBeGreaterThanOrEqual(3);
    const silent = samples.length;
    emu.emulator.setEcuResponding(true);
    expect(await waitFor(() => samples.length >= silent + 5, 15_000)).toBe(true);
    expect(source.session.state).toBe('ready');
    expectSamplesMatchCar(samples, emu.emulator);
  });
});
