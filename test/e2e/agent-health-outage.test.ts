/**
 * Vehicle health events survive an agent SIGKILL in the disk buffer and reach the broker exactly
 * once, on real processes: `fleetpulse agent --source serial` (its own credentials, disk buffer)
 * reads a misfiring car on the emulated ELM327 over a real pty → `fleetpulse broker` (a separate
 * process, LevelDB sessions) → a watcher with a persistent QoS 1 session.
 *
 * The broker is stopped; the car's diagnosis then changes three times (P0301 pending; confirmed
 * with the MIL and a freeze frame; cleared but permanent), each change an event in the agent's
 * disk buffer that no broker has seen. The agent is killed with SIGKILL and started again on the
 * same buffer, and the broker comes back. Every event either run logged as made must reach the
 * watcher exactly once, in seq and event-time order, with the content it was made with.
 */
import mqtt from 'mqtt';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionLocalCredentials } from '../../broker/local-credentials.ts';
import { freePort } from '../../common/net.ts';
import { topics } from '../../contracts/topics.ts';
import { decodeVehicleHealth, type VehicleHealthEvent } from '../../contracts/vehicle-health.ts';
import { defaultVehicleSpec } from '../../simulator/fleet-plan.ts';
import { PROFILES } from '../../simulator/profiles.ts';
import { heldFault, LiveVehicle } from '../../simulator/elm327/live-vehicle.ts';
import { startEmulatorOnPty, type PtyEmulator } from '../../simulator/elm327/test-support.ts';
import { startCli, stopCli } from '../support/cli.ts';
import { waitFor } from '../support/influx.ts';
import { logged, logRecords } from '../support/log-records.ts';

const VEHICLE = 'health-outage-1';

type Cli = ReturnType<typeof startCli>;

/** The health events an agent run logged as made (and stored), by seq. */
function made(cli: Cli): Array<{ seq: number; reason: string; confirmed: string[] | null; pending: string[] | null; permanent: string[] | null; mil: boolean | null }> {
  return logged(cli.output(), 'vehicle health changed').map((r) => r as never);
}

describe('vehicle health events through a broker outage and an agent SIGKILL', () => {
  let dir: string;
  let url: string;
  let broker: Cli | undefined;
  let emu: PtyEmulator;
  let car: LiveVehicle;
  const agents: Cli[] = [];
  let watcher: mqtt.MqttClient | undefined;
  const received: Array<{ event: VehicleHealthEvent; retain: boolean }> = [];
  let passwords: Map<string, string>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fleetpulse-health-outage-'));
    passwords = await provisionLocalCredentials(join(dir, 'broker', 'devices.json'), join(dir, 'broker', 'local-credentials.json'), [
      { username: VEHICLE, role: 'vehicle' },
      { username: 'health-watch', role: 'ingest' },
    ]);
    const port = await freePort();
    url = `mqtt://127.0.0.1:${port}`;
    const startBrokerProcess = async (): Promise<Cli> => {
      const cli = startCli(['broker', '--port', String(port), '--data-dir', dir, '--persistence', 'level'], { FLEETPULSE_LOG_FORMAT: 'json' });
      expect(await waitFor(() => /broker listening/.test(cli.output()), 30_000), cli.output()).toBe(true);
      return cli;
    };

    const start = Date.now();
    const spec = { ...defaultVehicleSpec('health-outage', 8, 'continuous'), profile: PROFILES['compact-2.0-maf'], fault: heldFault('misfire', 1, start, 1) };
    car = new LiveVehicle({ spec, seed: 8, speed: 0, startMs: start, preRollS: 5 });
    emu = await startEmulatorOnPty({ vehicle: car, seed: 8 });
    broker = await startBrokerProcess();

    watcher = await mqtt.connectAsync(url, { clientId: 'health-watch', username: 'health-watch', password: passwords.get('health-watch')!, clean: false, reconnectPeriod: 300 });
    watcher.on('message', (_topic, payload, packet) => {
      const decoded = decodeVehicleHealth(payload, VEHICLE);
      if (decoded.ok) received.push({ event: decoded.event, retain: packet.retain });
    });
    await watcher.subscribeAsync(topics.health(VEHICLE), { qos: 1 });

    const agentArgs = [
      'agent', '--vehicle-id', VEHICLE, '--mqtt-url', url, '--username', VEHICLE, '--data-dir', dir,
      '--source', 'serial', '--serial', emu.path, '--fast-hz', '2', '--slow-hz', '0.5', '--health-interval-s', '1',
      '--batch-interval-ms', '500', '--reconnect-min-ms', '200', '--reconnect-max-ms', '1000', '--no-remote-config',
    ];
    const agentEnv = { FLEETPULSE_LOG_FORMAT: 'json', FLEETPULSE_AGENT_PASSWORD: passwords.get(VEHICLE)! };

    // 1. Online: the first reading is the snapshot, delivered.
    agents.push(startCli(agentArgs, agentEnv));
    expect(await waitFor(() => received.some((r) => r.event.seq === 0), 30_000), agents[0]!.output()).toBe(true);

    // 2. The broker goes away. The diagnosis changes three times; each change waits in the disk buffer.
    await stopCli(broker);
    expect(await waitFor(() => logged(agents[0]!.output(), 'broker connection lost').length > 0, 10_000)).toBe(true);
    const changes = () => made(agents[0]!).length;
    const driveUntil = (until: () => boolean): void => {
      for (let i = 0; i < 200 && !until(); i++) car.advance(15);
      expect(until()).toBe(true);
    };
    driveUntil(() => car.dtcs().pending.includes('P0301'));
    expect(await waitFor(() => changes() >= 2, 15_000), agents[0]!.output()).toBe(true);
    // A second failing trip confirms it (the key off and on in between closes the first).
    emu.emulator.setIgnition(false);
    emu.emulator.setIgnition(true);
    driveUntil(() => car.dtcs().stored.includes('P0301'));
    expect(await waitFor(() => made(agents[0]!).some((m) => m.mil === true), 15_000), agents[0]!.output()).toBe(true);
    // A workshop clears the codes: P0301 stays permanent.
    car.clearDiagnostics();
    expect(await waitFor(() => made(agents[0]!).some((m) => m.mil === false && (m.permanent ?? []).includes('P0301') && (m.confirmed ?? []).length === 0), 15_000), agents[0]!.output()).toBe(true);

    // 3. Killed before any broker saw those events; the broker is back and the watcher has resumed
    // its session; then the agent starts again on the same buffer. Publishing while a persistent
    // subscriber is still resuming its session can reorder its messages (seen: 0 1 3 4 2 5) — an
    // open broker defect (docs/broker.md, "Known defects") this test does not cover.
    await stopCli(agents[0]!, 'SIGKILL');
    broker = await startBrokerProcess();
    expect(await waitFor(() => watcher!.connected, 20_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 1000)); // the session's resume (queued messages, subscriptions) done
    agents.push(startCli(agentArgs, agentEnv));
    expect(await waitFor(() => logged(agents[1]!.output(), 'health buffer open').length > 0, 20_000), agents[1]!.output()).toBe(true);
    // The second run's own snapshot comes after its first full read over the serial link, which on a
    // loaded machine takes seconds: wait for it to be made before waiting for delivery of everything.
    expect(await waitFor(() => made(agents[1]!).length > 0, 30_000), agents[1]!.output()).toBe(true);
    const allSeqs = () => [...made(agents[0]!), ...made(agents[1]!)].map((m) => m.seq);
    expect(
      await waitFor(() => {
        const want = allSeqs();
        return want.length > 0 && want.every((seq) => received.some((r) => r.event.seq === seq));
      }, 30_000),
      agents[1]!.output(),
    ).toBe(true);
    await new Promise((r) => setTimeout(r, 1000)); // room for a duplicate to show up
    await stopCli(agents[1]!, 'SIGTERM');
  }, 180_000);

  afterAll(async () => {
    for (const a of agents) await stopCli(a, 'SIGKILL');
    await watcher?.endAsync(true);
    if (broker) await stopCli(broker);
    await emu?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('made the changes while the broker was away, and the restarted agent found them on disk', () => {
    const first = made(agents[0]!);
    expect(first[0]).toMatchObject({ seq: 0, reason: 'snapshot', mil: false, confirmed: [], pending: [] });
    expect(first.slice(1).every((m) => m.reason === 'change')).toBe(true);
    // The steps, in order (a read spans several requests, so the car may change between them: a read
    // can also see a step half done, which the next read completes).
    const stepAt = (p: (m: (typeof first)[number]) => boolean) => first.findIndex(p);
    const pendingOnly = stepAt((m) => m.mil === false && (m.pending ?? []).includes('P0301') && (m.confirmed ?? []).length === 0);
    const lit = stepAt((m) => m.mil === true && (m.confirmed ?? []).includes('P0301') && (m.permanent ?? []).includes('P0301'));
    expect(pendingOnly).toBeGreaterThan(0);
    expect(lit).toBeGreaterThan(pendingOnly);
    expect(first.at(-1)).toMatchObject({ mil: false, confirmed: [], pending: [], permanent: ['P0301'] });
    const second = logRecords(agents[1]!.output());
    // Everything after the snapshot was made while the broker was away: all of it on disk at the restart.
    expect(second.find((l) => l.msg === 'health buffer open')?.events).toBe(first.length - 1);
    // The second run's first reading is its snapshot, numbered after the buffered ones.
    expect(made(agents[1]!).map((m) => [m.seq, m.reason])).toEqual([[first.length, 'snapshot']]);
    expect(second.find((l) => l.msg === 'agent stopped')).toMatchObject({ healthQueued: 0, healthInvalid: 0, healthStoreFailures: 0 });
  });

  it('delivers every event exactly once, in order, as it was made', () => {
    const logs = [...made(agents[0]!), ...made(agents[1]!)];
    const live = received.filter((r) => !r.retain).map((r) => r.event);
    expect(live.map((e) => e.seq)).toEqual(logs.map((m) => m.seq));
    for (let i = 1; i < live.length; i++) expect(live[i]!.t).toBeGreaterThan(live[i - 1]!.t);
    for (const [i, e] of live.entries()) expect([e.reason, e.mil, e.confirmed, e.pending, e.permanent], `seq ${e.seq}`).toEqual([logs[i]!.reason, logs[i]!.mil, logs[i]!.confirmed, logs[i]!.pending, logs[i]!.permanent]);
    const lit = live.find((e) => e.mil === true)!;
    expect(lit).toMatchObject({ dtcCount: 1, confirmed: ['P0301'], freezeFrame: { dtc: 'P0301', frame: 0 } });
    expect(Object.keys(lit.freezeFrame!.signals).length).toBeGreaterThanOrEqual(14);
    expect(live.at(-1)).toMatchObject({ reason: 'snapshot', mil: false, permanent: ['P0301'], freezeFrame: null, vin: emu.emulator.vin });
  });

  it('refuses a vehicle publishing another vehicle\'s health (the broker disconnects it)', async () => {
    const intruder = await mqtt.connectAsync(url, { clientId: `${VEHICLE}:probe`, username: VEHICLE, password: passwords.get(VEHICLE)!, reconnectPeriod: 0 });
    const closed = new Promise<void>((resolve) => intruder.once('close', () => resolve()));
    intruder.publish(topics.health('someone-else'), '{}', { qos: 1 }, () => undefined);
    await closed;
    await intruder.endAsync(true);
    expect(received.some((r) => r.event.vehicle !== VEHICLE)).toBe(false);
  });
});
