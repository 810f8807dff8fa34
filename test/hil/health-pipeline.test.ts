/**
 * Done-when of issue 18, end to end on a real pty: the emulated ELM327 (socat) with a misfiring car →
 * the agent's serial OBD source in an Agent (what `fleetpulse agent --source serial` runs) → Aedes →
 * ingest with its vehicle-health stream → a real influxd. P0301 is pending, then confirmed with the
 * MIL and a freeze frame and an alert is raised; a scan tool's `04` sent over the same line clears
 * it: the confirmed episode is cleared in the `dtc` history, the alerts clear, and the code is still
 * listed as permanent until its monitor passes.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import { DEFAULT_FAST_PIDS, DEFAULT_SLOW_PIDS, ObdSource } from '../../agent/obd/obd-source.ts';
import { decodeAlert, type AlertMessage } from '../../contracts/alerts.ts';
import { topics } from '../../contracts/topics.ts';
import { defaultVehicleSpec } from '../../simulator/fleet-plan.ts';
import { PROFILES } from '../../simulator/profiles.ts';
import { heldFault, LiveVehicle } from '../../simulator/elm327/live-vehicle.ts';
import { startEmulatorOnPty, type PtyEmulator } from '../../simulator/elm327/test-support.ts';
import { influxQuery, rowsOf, waitFor } from '../support/influx.ts';
import { driveUntil, ignitionCycle } from '../support/ignition-cycle.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';

const VEHICLE = 'hil-health-pipe-1';
const DB = 'health_pipeline';

describe('a misfire read over a real pty, through the broker and ingest into InfluxDB', () => {
  let pipeline: TestPipeline;
  let emu: PtyEmulator;
  let car: LiveVehicle;
  let source: ObdSource;
  let agent: Agent;
  let watcher: mqtt.MqttClient;
  const alerts: AlertMessage[] = [];
  const rows = async (query: string) => rowsOf((await influxQuery(pipeline.influx.url, DB, query))[0]);
  const dtcRows = () => rows(`SELECT code, kind, state, first_seen_ms, cleared_ms, freeze_frame FROM dtc WHERE vehicle = '${VEHICLE}'`);
  const episode = async (kind: string) => (await dtcRows()).filter((r) => r.kind === kind && r.code === 'P0301');

  const cycle = () => ignitionCycle(emu.emulator, source, () => agent.stats().healthQueued === 0);
  const drive = (until: () => boolean) => driveUntil(car, until);

  beforeAll(async () => {
    pipeline = await startTestPipeline();
    await pipeline.startIngest({ influxDatabase: DB, clientId: 'health-pipe-ingest', spoolDir: pipeline.tempDir() });
    watcher = await mqtt.connectAsync(pipeline.broker.url, { clientId: 'health-pipe-alerts' });
    watcher.on('message', (_t, payload) => {
      const alert = decodeAlert(payload);
      if (alert) alerts.push(alert);
    });
    await watcher.subscribeAsync(topics.alerts(VEHICLE), { qos: 1 });

    const start = Date.now();
    const spec = { ...defaultVehicleSpec('hil-health-pipe', 6, 'continuous'), profile: PROFILES['compact-2.0-maf'], fault: heldFault('misfire', 1, start, 1) };
    car = new LiveVehicle({ spec, seed: 6, speed: 0, startMs: start, preRollS: 5 });
    emu = await startEmulatorOnPty({ vehicle: car, seed: 6 });
    source = new ObdSource({
      path: emu.path, fastPids: DEFAULT_FAST_PIDS, slowPids: DEFAULT_SLOW_PIDS, fastHz: 10, slowHz: 2, healthIntervalMs: 0,
      commandTimeoutMs: 1000, searchTimeoutMs: 3000, reconnectBackoff: { initialMs: 50, maxMs: 300 }, ecuProbeBackoff: { initialMs: 50, maxMs: 200 },
    });
    agent = new Agent({ vehicleId: VEHICLE, mqttUrl: pipeline.broker.url, source, batchIntervalMs: 500, maxBatchSamples: 500, reconnectMinMs: 50, reconnectMaxMs: 200, drainTimeoutMs: 2000, clock: false });
    await agent.start();
    expect(await waitFor(async () => (await rows(`SELECT mil FROM vehicle_health WHERE vehicle = '${VEHICLE}'`)).length === 1, 30_000)).toBe(true);
  }, 90_000);

  afterAll(async () => {
    await agent?.stop();
    await emu?.close();
    await watcher?.endAsync(true);
    await pipeline?.stop();
  });

  it('P0301 pending, then confirmed with the MIL and a freeze frame and an alert; 04 clears it, still permanent', async () => {
    // 1. One failing trip: pending, no alert.
    drive(() => car.dtcs().pending.includes('P0301'));
    await cycle();
    expect(await waitFor(async () => (await episode('pending')).length === 1, 20_000)).toBe(true);
    expect((await episode('pending'))[0]).toMatchObject({ state: 'active' });
    expect(await episode('confirmed')).toEqual([]);
    expect(alerts).toEqual([]);

    // 2. The second failing trip confirms it: MIL, freeze frame, the alerts raised (stored and on MQTT).
    drive(() => car.dtcs().stored.includes('P0301'));
    await cycle();
    expect(await waitFor(async () => (await episode('confirmed')).length === 1 && alerts.length === 2, 20_000), JSON.stringify(alerts)).toBe(true);
    const confirmed = (await episode('confirmed'))[0]!;
    expect(confirmed).toMatchObject({ state: 'active' });
    const frame = JSON.parse(confirmed.freeze_frame as string) as Record<string, number>;
    for (const [name, value] of Object.entries(car.freezeFrame()!.signals)) expect(frame[name], name).toBe(value);
    expect((await rows(`SELECT mil, confirmed FROM vehicle_health WHERE vehicle = '${VEHICLE}' ORDER BY time DESC LIMIT 1`))[0]).toMatchObject({ mil: true, confirmed: 'P0301' });
    expect(alerts.map((a) => `${a.kind} ${a.state}`).sort()).toEqual(['dtc raised', 'mil raised']);
    const raised = alerts.find((a) => a.kind === 'dtc')!;
    expect(raised.diagnosis).toMatchObject({ codes: ['P0301'], mil: true, freezeFrame: { dtc: 'P0301' } });
    expect(raised.explanation?.text).toMatch(/P0301.*misfire/i);

    // 3. A scan tool's 04 over the same line: cleared in the history, the alerts cleared, still permanent.
    expect((await source.session.request('04')).status).toBe('data');
    await cycle();
    expect(await waitFor(async () => (await episode('confirmed'))[0]?.state === 'cleared' && alerts.length === 4, 20_000), JSON.stringify(alerts)).toBe(true);
    expect((await episode('confirmed'))[0]).toMatchObject({ first_seen_ms: confirmed.first_seen_ms, cleared_ms: expect.any(Number) });
    expect((await episode('pending'))[0]).toMatchObject({ state: 'cleared' });
    expect(await episode('permanent')).toEqual([expect.objectContaining({ state: 'active' })]);
    const cleared = alerts.filter((a) => a.state === 'cleared');
    expect(cleared.map((a) => a.alertId).sort()).toEqual(alerts.filter((a) => a.state === 'raised').map((a) => a.alertId).sort());
    expect(cleared.find((a) => a.kind === 'dtc')!.explanation?.text).toMatch(/still stored as permanent/);
    const stored = await rows(`SELECT alert_id, kind, state FROM alerts WHERE vehicle = '${VEHICLE}'`);
    expect(stored.map((a) => `${a.kind} ${a.state}`).sort()).toEqual(['dtc cleared', 'dtc raised', 'mil cleared', 'mil raised']);
    expect((await rows(`SELECT mil, permanent, confirmed_count FROM vehicle_health WHERE vehicle = '${VEHICLE}' ORDER BY time DESC LIMIT 1`))[0]).toMatchObject({ mil: false, permanent: 'P0301', confirmed_count: 0 });
  }, 120_000);
});
