/**
 * The agent's vehicle health channel, in process, with its disk store, against a real Aedes broker:
 * a snapshot first, then only changes, retained; readings that say nothing new make no event;
 * events made while the broker is away wait on disk and go in order when it is back; a broker that
 * lost its retained messages gets the newest event again, under the same seq.
 */
import mqtt from 'mqtt';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import { SqliteBatchStore } from '../../agent/sqlite-batch-store.ts';
import { startBroker, type RunningBroker } from '../../broker/broker-server.ts';
import { freePort } from '../../common/net.ts';
import { topics } from '../../contracts/topics.ts';
import { decodeVehicleHealth, type VehicleHealthEvent, type VehicleHealthState } from '../../contracts/vehicle-health.ts';
import { waitFor } from '../support/influx.ts';
import { ScriptedSource } from '../support/scripted-source.ts';

const VEHICLE = 'health-1';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const healthy: VehicleHealthState = {
  source: 'obd', mil: false, dtcCount: 0, readiness: { ignition: 'spark', monitors: { MISFIRE: { supported: true, complete: true } } },
  confirmed: [], pending: [], permanent: [], freezeFrame: null, vin: 'FPEEMU2700S087109', counters: { distanceSinceClearKm: 100 },
};
const pendingMisfire: VehicleHealthState = { ...healthy, pending: ['P0301'] };
const confirmedMisfire: VehicleHealthState = {
  ...healthy, mil: true, dtcCount: 1, confirmed: ['P0301'], pending: ['P0301'], permanent: ['P0301'],
  freezeFrame: { dtc: 'P0301', frame: 0, signals: { RPM: 812.25, COOLANT_TEMP: 88 } }, counters: { distanceWithMilKm: 0 },
};

interface Received {
  event: VehicleHealthEvent;
  retain: boolean;
}

/** A client that records every health message of the vehicle (live and retained). */
async function watch(url: string, clientId: string): Promise<{ received: Received[]; client: mqtt.MqttClient }> {
  const received: Received[] = [];
  const client = await mqtt.connectAsync(url, { clientId, reconnectPeriod: 100 });
  cleanups.push(() => client.endAsync(true));
  client.on('message', (_topic, payload, packet) => {
    const decoded = decodeVehicleHealth(payload, VEHICLE);
    if (!decoded.ok) throw new Error(`invalid health event: ${decoded.detail}`);
    received.push({ event: decoded.event, retain: packet.retain });
  });
  await client.subscribeAsync(topics.health(VEHICLE), { qos: 1 });
  return { received, client };
}

describe('agent health channel', () => {
  it('sends a snapshot, then changes only, retained; keeps what the broker missed on disk; repeats the newest for a broker that lost it', async () => {
    const port = await freePort();
    let broker: RunningBroker = await startBroker({ host: '127.0.0.1', port });
    cleanups.push(() => broker.close());
    const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-agent-health-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const healthFile = join(dir, 'car.health.sqlite');
    const source = new ScriptedSource();
    const agent = new Agent({
      vehicleId: VEHICLE, mqttUrl: broker.url, source, batchIntervalMs: 600_000, maxBatchSamples: 10,
      healthStore: new SqliteBatchStore<VehicleHealthEvent>({ file: healthFile, vehicleId: VEHICLE, maxBytes: 1 << 20 }),
      reconnectMinMs: 50, reconnectMaxMs: 200, drainTimeoutMs: 3000, clock: false,
    });
    cleanups.push(async () => void (await agent.stop()));
    const live = await watch(broker.url, 'watcher-live');
    await agent.start();
    expect(await waitFor(() => agent.stats().connected, 5000)).toBe(true);

    source.health(healthy);
    source.health({ ...healthy, counters: { distanceSinceClearKm: 101 } }); // counters only: no event
    source.health(pendingMisfire);
    source.health(pendingMisfire);
    source.health(confirmedMisfire);
    expect(await waitFor(() => live.received.length >= 3 && agent.stats().healthQueued === 0, 5000)).toBe(true);
    expect(live.received.map((r) => [r.event.seq, r.event.reason, r.event.confirmed, r.event.pending])).toEqual([
      [0, 'snapshot', [], []],
      [1, 'change', [], ['P0301']],
      [2, 'change', ['P0301'], ['P0301']],
    ]);
    expect(live.received[2]!.event.freezeFrame).toEqual(confirmedMisfire.freezeFrame);
    for (let i = 1; i < 3; i++) expect(live.received[i]!.event.t).toBeGreaterThan(live.received[i - 1]!.event.t);
    expect(agent.stats()).toMatchObject({ healthReadings: 5, healthEvents: 3, healthEventsAcked: 3, healthQueued: 0 });

    // Whoever subscribes later gets the newest event, retained.
    const late = await watch(broker.url, 'watcher-late');
    expect(await waitFor(() => late.received.length === 1, 5000)).toBe(true);
    expect(late.received[0]).toMatchObject({ retain: true, event: { seq: 2 } });

    // The broker goes away: changes wait on disk, in order.
    await broker.close();
    expect(await waitFor(() => !agent.stats().connected, 5000)).toBe(true);
    source.health({ ...confirmedMisfire, confirmed: [], pending: [], mil: false, dtcCount: 0, freezeFrame: null }); // cleared with 04: permanent only
    source.health({ ...healthy, permanent: [] });
    expect(agent.stats()).toMatchObject({ healthEvents: 5, healthQueued: 2 });

    // Back (an in-memory broker: its retained copy is gone): the two changes arrive, in order, once.
    broker = await startBroker({ host: '127.0.0.1', port });
    const after = await watch(broker.url, 'watcher-after');
    expect(await waitFor(() => agent.stats().connected && agent.stats().healthQueued === 0, 10_000)).toBe(true);
    expect(await waitFor(() => after.received.length >= 2, 5000)).toBe(true);
    expect(after.received.map((r) => [r.event.seq, r.event.permanent])).toEqual([
      [3, ['P0301']],
      [4, []],
    ]);

    // A broker restart with nothing left to send: the newest event is published again, same seq, retained.
    await broker.close();
    expect(await waitFor(() => !agent.stats().connected, 5000)).toBe(true);
    broker = await startBroker({ host: '127.0.0.1', port });
    expect(await waitFor(() => agent.stats().connected && agent.stats().healthSnapshotsRepublished >= 1, 10_000)).toBe(true);
    const fresh = await watch(broker.url, 'watcher-fresh');
    expect(await waitFor(() => fresh.received.length === 1, 5000)).toBe(true);
    expect(fresh.received[0]).toMatchObject({ retain: true, event: { seq: 4, reason: 'change', permanent: [] } });
    expect(agent.stats()).toMatchObject({ healthEvents: 5, healthInvalid: 0, healthStoreFailures: 0 });
  });

  it('refuses a reading the wire contract would refuse, counts it, and keeps going', async () => {
    const url = `mqtt://127.0.0.1:${await freePort()}`; // nothing listens: everything stays queued
    const source = new ScriptedSource();
    const agent = new Agent({ vehicleId: VEHICLE, mqttUrl: url, source, batchIntervalMs: 600_000, maxBatchSamples: 10, reconnectMinMs: 50, reconnectMaxMs: 200, drainTimeoutMs: 10, clock: false });
    await agent.start();
    source.health({ ...healthy, confirmed: ['not a code'] });
    source.health(healthy);
    const stats = await agent.stop();
    expect(stats).toMatchObject({ healthReadings: 2, healthInvalid: 1, healthEvents: 1, healthQueued: 1 });
  });
});
