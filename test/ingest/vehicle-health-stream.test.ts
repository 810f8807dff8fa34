/**
 * The vehicle-health stream (ingest/streams/vehicle-health-stream.ts) in an unchanged IngestService
 * on a real broker, spool and influxd: a misfire's health events published on MQTT become `dtc`
 * episodes, `vehicle_health` points and `dtc` / `mil` alerts in InfluxDB, AlertEvents and
 * HealthEvents for the observers, and alerts on MQTT `topics.alerts(vehicle)`; a bad payload is a
 * dead letter of kind `health`, a redelivery stores nothing. A crash between the spool and the state
 * file (the file as it was one event earlier, the event redelivered) writes the same points with
 * the same alert ids.
 */
import mqtt from 'mqtt';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeAlert, type AlertMessage } from '../../contracts/alerts.ts';
import { topics } from '../../contracts/topics.ts';
import { encodeVehicleHealth, VEHICLE_HEALTH_SCHEMA, type VehicleHealthEvent } from '../../contracts/vehicle-health.ts';
import type { IngestEvent } from '../../ingest/ingest-events.ts';
import { influxQuery, rowsOf, waitFor } from '../support/influx.ts';
import { startTestPipeline, type TestIngest, type TestPipeline } from '../support/pipeline.ts';

const VEHICLE = 'health-car-1';
const T0 = Date.now() - 3_600_000;
const MIN = 60_000;
const frame = { dtc: 'P0301', frame: 0, signals: { RPM: 812.25, COOLANT_TEMP: 88, SPEED: 0 } };

function event(seq: number, fields: Partial<VehicleHealthEvent>): VehicleHealthEvent {
  return {
    schema: VEHICLE_HEALTH_SCHEMA, vehicle: VEHICLE, seq, t: T0 + seq * MIN, reason: seq === 0 ? 'snapshot' : 'change', source: 'obd',
    mil: false, dtcCount: 0, readiness: { ignition: 'spark', monitors: { MISFIRE: { supported: true, complete: true } } },
    confirmed: [], pending: [], permanent: [], freezeFrame: null, vin: null, counters: {},
    ...fields,
  };
}
const story = [
  event(0, {}),
  event(1, { pending: ['P0301'] }),
  event(2, { mil: true, dtcCount: 1, confirmed: ['P0301'], pending: ['P0301'], permanent: ['P0301'], freezeFrame: frame }),
  event(3, { confirmed: [], pending: [], permanent: ['P0301'] }),
];

describe('the vehicle-health stream', () => {
  let pipeline: TestPipeline;
  let worker: TestIngest;
  let spoolDir: string;
  let watcher: mqtt.MqttClient;
  let publisher: mqtt.MqttClient;
  const alertsOnMqtt: AlertMessage[] = [];
  const events: IngestEvent[] = [];
  const db = 'health_stream';
  const rows = async (query: string) => rowsOf((await influxQuery(pipeline.influx.url, db, query))[0]);
  const publish = (e: VehicleHealthEvent | string) => publisher.publishAsync(topics.health(VEHICLE), typeof e === 'string' ? e : encodeVehicleHealth(e), { qos: 1 });

  beforeAll(async () => {
    pipeline = await startTestPipeline();
    spoolDir = pipeline.tempDir();
    worker = await pipeline.startIngest({ influxDatabase: db, clientId: 'health-ingest', spoolDir, httpPort: 0 });
    worker.ingest.addEventListener((e) => events.push(e));
    watcher = await mqtt.connectAsync(pipeline.broker.url, { clientId: 'health-alert-watcher' });
    watcher.on('message', (_t, payload) => {
      const alert = decodeAlert(payload);
      if (alert) alertsOnMqtt.push(alert);
    });
    await watcher.subscribeAsync(topics.alerts(VEHICLE), { qos: 1 });
    publisher = await mqtt.connectAsync(pipeline.broker.url, { clientId: 'health-publisher' });
  }, 60_000);
  afterAll(async () => {
    await watcher?.endAsync(true);
    await publisher?.endAsync(true);
    await pipeline?.stop();
  });

  it('stores a misfire\'s episodes, raises and clears its alerts, and refuses what is not an event', async () => {
    for (const e of story.slice(0, 3)) await publish(e);
    await publish(story[2]!); // the retained snapshot seen again / a redelivery
    await publish('{"schema":"nope"}');
    await publish(story[3]!);
    expect(await waitFor(async () => (await rows(`SELECT * FROM vehicle_health`)).length === 4 && alertsOnMqtt.length === 4, 20_000), JSON.stringify(alertsOnMqtt)).toBe(true);

    const dtc = await rows(`SELECT code, kind, state, first_seen_ms, cleared_ms, description, freeze_frame FROM dtc WHERE vehicle = '${VEHICLE}'`);
    const byKind = Object.fromEntries(dtc.map((r) => [r.kind, r]));
    expect(Object.keys(byKind).sort()).toEqual(['confirmed', 'pending', 'permanent']);
    expect(byKind.pending).toMatchObject({ code: 'P0301', state: 'cleared', first_seen_ms: story[1]!.t, cleared_ms: story[3]!.t });
    expect(byKind.confirmed).toMatchObject({ code: 'P0301', state: 'cleared', first_seen_ms: story[2]!.t, cleared_ms: story[3]!.t, description: expect.stringMatching(/cylinder 1 misfire/i) });
    expect(JSON.parse(byKind.confirmed!.freeze_frame as string)).toEqual(frame.signals);
    expect(byKind.permanent).toMatchObject({ code: 'P0301', state: 'active', first_seen_ms: story[2]!.t });

    const alerts = await rows(`SELECT alert_id, kind, state, code FROM alerts WHERE vehicle = '${VEHICLE}'`);
    expect(alerts.map((a) => `${a.state} ${a.kind}`).sort()).toEqual(['cleared dtc', 'cleared mil', 'raised dtc', 'raised mil']);
    expect(alertsOnMqtt.map((a) => `${a.state} ${a.kind} ${a.alertId}`).sort()).toEqual(alerts.map((a) => `${a.state} ${a.kind} ${a.alert_id}`).sort());
    expect(alertsOnMqtt.find((a) => a.kind === 'dtc' && a.state === 'raised')!.diagnosis).toMatchObject({ codes: ['P0301'], mil: true, freezeFrame: frame });

    // Observers: the alerts, and the vehicle's diagnosis after each event.
    expect(events.filter((e) => e.type === 'alert').length).toBe(4);
    const health = events.filter((e) => e.type === 'health');
    expect(health.length).toBe(4);
    expect(health[2]).toMatchObject({ vehicle: VEHICLE, mil: true, milOnSinceMs: story[2]!.t, codes: expect.arrayContaining([expect.objectContaining({ code: 'P0301', kind: 'confirmed', firstSeenMs: story[2]!.t, freezeFrame: frame.signals })]) });
    expect(health[3]).toMatchObject({ mil: false, codes: [expect.objectContaining({ code: 'P0301', kind: 'permanent' })] });

    expect(await waitFor(async () => (await rows(`SELECT detail, reason FROM dead_letters WHERE kind = 'health'`)).length === 1, 20_000)).toBe(true);
    const metrics = await (await fetch(`${worker.ingest.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^fleetpulse_ingest_health_reports_total 4$/m);
    expect(metrics).toMatch(/^fleetpulse_ingest_health_duplicates_total 1$/m);
    expect(metrics).toMatch(/^fleetpulse_ingest_health_dead_letters_total\{reason="schema"\} 1$/m);
    expect(metrics).toMatch(/^fleetpulse_ingest_health_vehicles_mil_on 0$/m);
    expect(metrics).toMatch(/^fleetpulse_ingest_health_alerts_published_total 4$/m);
    expect(existsSync(join(spoolDir, 'health-state.json'))).toBe(true);
  }, 60_000);

  it('after a crash between the spool and the state file, the redelivered event writes the same points and alert ids', async () => {
    const confirmedBefore = await rows(`SELECT * FROM dtc WHERE vehicle = '${VEHICLE}'`);
    const alertsBefore = await rows(`SELECT alert_id, state FROM alerts WHERE vehicle = '${VEHICLE}'`);
    // The state as it was before event 3 (saved by a run that stopped then), the event redelivered.
    const state = join(spoolDir, 'health-state.json');
    await worker.stop();
    const earlier = join(spoolDir, 'earlier.json');
    copyFileSync(state, earlier);
    // Rebuild the earlier state: a fresh run on an empty state that sees events 0-2 only.
    const replayDir = pipeline.tempDir();
    const first = await pipeline.startIngest({ influxDatabase: `${db}_scratch`, clientId: 'health-ingest-scratch', spoolDir: replayDir });
    for (const e of story.slice(0, 3)) await publish(e);
    expect(await waitFor(() => first.ingest.stats().health.reports === 3, 20_000)).toBe(true);
    await first.stop();
    copyFileSync(join(replayDir, 'health-state.json'), state);

    alertsOnMqtt.length = 0;
    const again = await pipeline.startIngest({ influxDatabase: db, clientId: 'health-ingest', spoolDir, httpPort: 0 });
    await publish(story[3]!);
    expect(await waitFor(() => again.ingest.stats().health.reports === 1 && alertsOnMqtt.length === 2, 20_000)).toBe(true);
    await again.ingest.flush();
    expect(await rows(`SELECT * FROM dtc WHERE vehicle = '${VEHICLE}'`)).toEqual(confirmedBefore);
    expect(await rows(`SELECT alert_id, state FROM alerts WHERE vehicle = '${VEHICLE}'`)).toEqual(alertsBefore);
    expect(alertsOnMqtt.map((a) => a.alertId).sort()).toEqual(alertsBefore.filter((a) => a.state === 'cleared').map((a) => a.alert_id).sort());
    await again.stop();
  }, 60_000);
});
