/**
 * Vehicle health events survive an agent SIGKILL in the disk buffer and reach the broker exactly
 * once, on real processes: `fleetpulse agent --source serial` (its own credentials, disk buffer)
 * reads a misfiring car on the emulated ELM327 over a real pty → `fleetpulse broker` (a separate
 * process, LevelDB sessions) → a watcher with a persistent QoS 1 session, and ingest (persistent
 * session, its vehicle-health stream) → a real influxd, both connected through the outage.
 *
 * The broker is stopped; the car's diagnosis then changes three times (P0301 pending; confirmed
 * with the MIL and a freeze frame; cleared but permanent), each change an event in the agent's
 * disk buffer that no broker has seen. The agent is killed with SIGKILL and started again on the
 * same buffer, and the broker comes back. Every event either run logged as made must reach the
 * watcher exactly once, in seq and event-time order, with the content it was made with, and be
 * stored once in `vehicle_health`, with the `dtc` history and the alerts they imply.
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
import { IngestService } from '../../ingest/ingest-service.ts';
import { defaultVehicleSpec } from '../../simulator/fleet-plan.ts';
import { PROFILES } from '../../simulator/profiles.ts';
import { heldFault, LiveVehicle } from '../../simulator/elm327/live-vehicle.ts';
import { startEmulatorOnPty, type PtyEmulator } from '../../simulator/elm327/test-support.ts';
import { startCli, stopCli } from '../support/cli.ts';
import { influxQuery, rowsOf, startTestInfluxd, waitFor, type TestInfluxd } from '../support/influx.ts';
import { logged, logRecords } from '../support/log-records.ts';

const VEHICLE = 'health-outage-1';
const DB = 'e2e_health_outage';

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
  let influx: TestInfluxd;
  let ingest: IngestService;
  const rows = async (query: string) => rowsOf((await influxQuery(influx.url, DB, query))[0]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fleetpulse-health-outage-'));
    passwords = await provisionLocalCredentials(join(dir, 'broker', 'devices.json'), join(dir, 'broker', 'local-credentials.json'), [
      { username: VEHICLE, role: 'vehicle' },
      { username: 'health-watch', role: 'ingest' },
      { username: 'health-ingest', role: 'ingest' },
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
    influx = await startTestInfluxd();
    broker = await startBrokerProcess();
    ingest = new IngestService({
      mqttUrl: url, username: 'health-ingest', password: passwords.get('health-ingest')!, clientId: 'health-ingest',
      influxUrl: influx.url, influxDatabase: DB, shards: Array.from({ length: 64 }, (_, i) => i), flushIntervalMs: 100,
      spoolDir: join(dir, 'ingest-spool'),
    });
    await ingest.start();
    expect(await waitFor(() => ingest.stats().mqttConnected, 10_000)).toBe(true);

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

    // 3. Killed before any broker saw those events; the broker is back, and the agent starts again on
    // the same buffer at once, publishing while the watcher and ingest may still be resuming their
    // sessions (that reordered messages once: 0 1 3 4 2 5, broker/resume-order.ts).
    await stopCli(agents[0]!, 'SIGKILL');
    broker = await startBrokerProcess();
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
    const stored = async () => (await rows(`SELECT seq FROM vehicle_health WHERE vehicle = '${VEHICLE}'`)).length;
    expect(await waitFor(async () => (await stored()) >= allSeqs().length, 30_000), JSON.stringify(ingest.stats())).toBe(true);
    await new Promise((r) => setTimeout(r, 1000)); // room for a duplicate to show up
    await stopCli(agents[1]!, 'SIGTERM');
    await ingest.flush();
  }, 180_000);

  afterAll(async () => {
    for (const a of agents) await stopCli(a, 'SIGKILL');
    await watcher?.endAsync(true);
    await ingest?.stop();
    if (broker) await stopCli(broker);
    await influx?.dispose();
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

  it('stores every event once in vehicle_health, and the code history and alerts they imply', async () => {
    const logs = [...made(agents[0]!), ...made(agents[1]!)];
    const health = await rows(`SELECT seq, reason, mil, confirmed, pending, permanent FROM vehicle_health WHERE vehicle = '${VEHICLE}' ORDER BY time`);
    expect(health.map((r) => [r.seq, r.reason, r.mil])).toEqual(logs.map((m) => [m.seq, m.reason, m.mil]));
    const dtc = await rows(`SELECT code, kind, state, freeze_frame_dtc FROM dtc WHERE vehicle = '${VEHICLE}'`);
    const of = (kind: string) => dtc.filter((r) => r.code === 'P0301' && r.kind === kind);
    // Confirmed with the MIL and a freeze frame, then cleared by the workshop; still permanent.
    expect(of('confirmed')).toEqual([expect.objectContaining({ state: 'cleared', freeze_frame_dtc: 'P0301' })]);
    expect(of('permanent')).toEqual([expect.objectContaining({ state: 'active' })]);
    expect(of('pending').every((r) => r.state === 'cleared')).toBe(true);
    // One raise and one clear of each alert, however often the events came (the retained snapshot included).
    const alerts = await rows(`SELECT alert_id, state, kind, code FROM alerts WHERE vehicle = '${VEHICLE}'`);
    const count = (state: string, kind: string) => alerts.filter((a) => a.state === state && a.kind === kind).length;
    expect([count('raised', 'dtc'), count('cleared', 'dtc'), count('raised', 'mil'), count('cleared', 'mil')]).toEqual([1, 1, 1, 1]);
    expect(ingest.stats().health.deadLetters).toEqual({});
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
