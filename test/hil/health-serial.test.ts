/**
 * Hardware-in-the-loop, the car's diagnosis end to end at the edge: the emulated ELM327 on a real
 * pty (socat) with a misfiring car, read by the agent's OBD source inside an Agent that publishes
 * to an Aedes broker. The diagnosis is read only when the car answers again after the ignition was
 * off (`--health-interval-s 0`), so every step below is also a read at ignition on:
 * P0301 pending → confirmed with the MIL and a freeze frame → `04` sent through the agent's own
 * session: cleared, yet still permanent, readiness incomplete. Each step must arrive as one health
 * event, equal to what the emulated ECU holds.
 */
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import { DEFAULT_FAST_PIDS, DEFAULT_SLOW_PIDS, ObdSource } from '../../agent/obd/obd-source.ts';
import { startBroker } from '../../broker/broker-server.ts';
import { createLogger } from '../../common/logger.ts';
import { topics } from '../../contracts/topics.ts';
import { decodeVehicleHealth, type VehicleHealthEvent } from '../../contracts/vehicle-health.ts';
import { defaultVehicleSpec } from '../../simulator/fleet-plan.ts';
import { PROFILES } from '../../simulator/profiles.ts';
import { heldFault, LiveVehicle } from '../../simulator/elm327/live-vehicle.ts';
import { startEmulatorOnPty } from '../../simulator/elm327/test-support.ts';
import { waitFor } from '../support/influx.ts';
import { driveUntil, ignitionCycle } from '../support/ignition-cycle.ts';

const VEHICLE = 'hil-health-1';
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('vehicle health over a real pty: agent → broker', () => {
  it('a misfire: P0301 pending, then confirmed with the MIL and a freeze frame, then cleared with 04 but permanent', async () => {
    const start = Date.now();
    // Cylinder 1 misfires at full severity; simulated time is frozen and moved by the test.
    const spec = { ...defaultVehicleSpec('hil-health', 5, 'continuous'), profile: PROFILES['compact-2.0-maf'], fault: heldFault('misfire', 1, start, 1) };
    const car = new LiveVehicle({ spec, seed: 5, speed: 0, startMs: start, preRollS: 5 });
    const emu = await startEmulatorOnPty({ vehicle: car, seed: 5 });
    cleanups.push(() => emu.close());
    const broker = await startBroker({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => broker.close());

    const events: VehicleHealthEvent[] = [];
    const watcher = await mqtt.connectAsync(broker.url, { clientId: 'hil-health-watcher' });
    cleanups.push(() => watcher.endAsync(true));
    watcher.on('message', (_topic, payload) => {
      const decoded = decodeVehicleHealth(payload, VEHICLE);
      if (!decoded.ok) throw new Error(decoded.detail);
      events.push(decoded.event);
    });
    await watcher.subscribeAsync(topics.health(VEHICLE), { qos: 1 });

    const source = new ObdSource({
      path: emu.path,
      fastPids: DEFAULT_FAST_PIDS,
      slowPids: DEFAULT_SLOW_PIDS,
      fastHz: 10,
      slowHz: 2,
      healthIntervalMs: 0,
      commandTimeoutMs: 1000,
      searchTimeoutMs: 3000,
      reconnectBackoff: { initialMs: 50, maxMs: 300 },
      ecuProbeBackoff: { initialMs: 50, maxMs: 200 },
      ...(process.env.HIL_DEBUG ? { logger: createLogger('hil', { level: 'debug' }) } : {}),
    });
    const agent = new Agent({ vehicleId: VEHICLE, mqttUrl: broker.url, source, batchIntervalMs: 500, maxBatchSamples: 500, reconnectMinMs: 50, reconnectMaxMs: 200, drainTimeoutMs: 2000, clock: false });
    cleanups.push(async () => void (await agent.stop()));
    await agent.start();

    // Read, acknowledged by the broker, and delivered to the watcher.
    const cycle = () => ignitionCycle(emu.emulator, source, () => agent.stats().healthQueued === 0 && events.length === agent.stats().healthEvents);
    const drive = (until: () => boolean) => driveUntil(car, until);

    // 1. Connected: the first reading is the snapshot. Nothing set yet; the VIN read once.
    expect(await waitFor(() => events.length >= 1, 20_000)).toBe(true);
    expect(events[0]).toMatchObject({ seq: 0, reason: 'snapshot', source: 'obd', mil: false, dtcCount: 0, confirmed: [], pending: [], permanent: [], freezeFrame: null, vin: emu.emulator.vin });
    expect(events[0]!.readiness!.monitors.MISFIRE).toEqual({ supported: true, complete: false });

    // 2. One failing trip: pending.
    drive(() => car.dtcs().pending.includes('P0301'));
    await cycle();
    expect(events.at(-1)).toMatchObject({ reason: 'change', mil: false, confirmed: [], pending: ['P0301'], permanent: [], freezeFrame: null });
    expect(events.at(-1)!.readiness!.monitors.MISFIRE).toEqual({ supported: true, complete: true });

    // 3. The second failing trip confirms it: MIL, count, permanent, and the freeze frame of that moment.
    drive(() => car.dtcs().stored.includes('P0301'));
    await cycle();
    const lit = events.at(-1)!;
    expect(lit).toMatchObject({ mil: true, dtcCount: 1, confirmed: ['P0301'], pending: ['P0301'], permanent: ['P0301'] });
    const frame = car.freezeFrame()!;
    expect(frame.code).toBe('P0301');
    expect(lit.freezeFrame!.dtc).toBe('P0301');
    expect(Object.keys(lit.freezeFrame!.signals).length).toBeGreaterThanOrEqual(14);
    for (const [name, value] of Object.entries(lit.freezeFrame!.signals)) expect(value, name).toBe(frame.signals[name as keyof typeof frame.signals]);
    expect(lit.freezeFrame!.signals.RPM).toBeGreaterThan(500);

    // 4. A scan tool's 04, sent over the same line: codes, MIL, frame and readiness go; P0301 stays permanent.
    const cleared = await source.session.request('04');
    expect(cleared.status).toBe('data');
    await cycle();
    expect(events.at(-1)).toMatchObject({ mil: false, dtcCount: 0, confirmed: [], pending: [], permanent: ['P0301'], freezeFrame: null });
    expect(events.at(-1)!.readiness!.monitors.MISFIRE).toEqual({ supported: true, complete: false });

    // One event per step, in order, each later than the last; nothing else.
    expect(events.map((e) => e.seq)).toEqual([0, 1, 2, 3]);
    for (let i = 1; i < events.length; i++) expect(events[i]!.t).toBeGreaterThan(events[i - 1]!.t);
    expect(source.status().healthReads).toBeGreaterThanOrEqual(4);
    expect(agent.stats()).toMatchObject({ healthEvents: 4, healthEventsAcked: 4, healthInvalid: 0 });
  });
});
