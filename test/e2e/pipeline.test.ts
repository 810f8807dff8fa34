/**
 * End to end on real parts: simulated vehicles → agents → Aedes (TCP, ephemeral port) → ingest →
 * a real influxd. What the agents had acknowledged by the broker must be exactly what InfluxDB
 * holds, sample by sample; a redelivered batch must not add rows; malformed messages must become
 * dead letters without stopping ingest.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import type { RunningBroker } from '../../broker/broker-server.ts';
import type { IngestService } from '../../ingest/ingest-service.ts';
import { SimulatedFleet } from '../../agent/simulated-fleet.ts';
import { encodeTelemetry, type Sample, type TelemetryBatch } from '../../contracts/telemetry.ts';
import { topics } from '../../contracts/topics.ts';
import { SIGNAL_NAMES, signalField } from '../../contracts/signals.ts';
import { influxQuery, rowsOf, waitFor, type RestartableTestInfluxd } from '../support/influx.ts';
import { startTestPipeline, type TestPipelineWithIngest } from '../support/pipeline.ts';
import { RAW_TELEMETRY } from '../../ingest/influxdb/rollups.ts';

const DB = 'e2e_pipeline';
const VEHICLES = 3;
const RUN_MS = 10_000;

describe('pipeline: simulated fleet → broker → ingest → InfluxDB', () => {
  let pipeline: TestPipelineWithIngest;
  let influx: RestartableTestInfluxd;
  let broker: RunningBroker;
  let ingest: IngestService;
  const acked = new Map<string, TelemetryBatch[]>();

  beforeAll(async () => {
    // Resolves once the persistent subscription exists: before the first vehicle publishes.
    pipeline = await startTestPipeline({ ingest: { influxDatabase: DB, clientId: 'e2e-ingest', batchSize: 500, maxBufferedPoints: 5000 } });
    ({ influx, broker, ingest } = pipeline);

    const fleet = new SimulatedFleet({
      vehicles: VEHICLES,
      idPrefix: 'e2e-',
      seed: 7,
      mqttUrl: broker.url,
      sampleRateHz: 5,
      batchIntervalMs: 500,
      maxBatchSamples: 500,
      outboxSamples: 10_000,
    });
    for (const agent of fleet.agents) {
      agent.on('ack', (batch) => {
        const list = acked.get(batch.vehicle) ?? [];
        list.push(batch);
        acked.set(batch.vehicle, list);
      });
    }
    await fleet.start();
    await new Promise((r) => setTimeout(r, RUN_MS));
    const stats = await fleet.stop();
    for (const s of stats) expect(s.queuedSamples, `${s.vehicleId} left samples unacknowledged`).toBe(0);

    const total = [...acked.values()].flat().reduce((n, b) => n + b.samples.length, 0);
    const arrived = await waitFor(() => ingest.stats().samplesAccepted >= total, 15_000);
    expect(arrived, `ingest accepted ${JSON.stringify(ingest.stats())} of ${total} samples`).toBe(true);
    await ingest.flush();
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('stores exactly the samples each agent published, per vehicle', async () => {
    expect(acked.size).toBe(VEHICLES);
    const series = await influxQuery(influx.url, DB, `SELECT count(rpm) AS n FROM ${RAW_TELEMETRY} GROUP BY vehicle`);
    const stored = new Map(series.map((s) => [s.tags!.vehicle!, rowsOf(s)[0]!.n as number]));
    for (const [vehicle, batches] of acked) {
      const sent = batches.reduce((n, b) => n + b.samples.length, 0);
      // ~10 s at 5 Hz per vehicle: the run really produced data.
      expect(sent).toBeGreaterThan(30);
      expect(stored.get(vehicle), vehicle).toBe(sent);
    }
    expect(stored.size).toBe(VEHICLES);
  });

  it('stores every value exactly as sent, at its event time', async () => {
    const [vehicle, batches] = [...acked.entries()][0]!;
    // Compare with what went over the wire (JSON), not with the objects in memory.
    const sent: Sample[] = batches.flatMap((b) => (JSON.parse(encodeTelemetry(b).toString()) as TelemetryBatch).samples).sort((a, b) => a.t - b.t);
    const rows = rowsOf((await influxQuery(influx.url, DB, `SELECT * FROM ${RAW_TELEMETRY} WHERE vehicle = '${vehicle}' ORDER BY time`))[0]);
    expect(rows.length).toBe(sent.length);
    rows.forEach((row, i) => {
      const sample = sent[i]! as Record<string, number>;
      expect(row.time).toBe(sample.t);
      for (const name of SIGNAL_NAMES) {
        // A signal the sample did not carry must not appear in the row either.
        const stored = row[signalField(name)] ?? undefined;
        expect(stored, `${name} at ${sample.t}`).toBe(sample[name]);
      }
    });
  });

  it('does not add rows when a batch is delivered again', async () => {
    const [vehicle, batches] = [...acked.entries()][1]!;
    const countRows = async () =>
      rowsOf((await influxQuery(influx.url, DB, `SELECT count(rpm) AS n FROM ${RAW_TELEMETRY} WHERE vehicle = '${vehicle}'`))[0])[0]!.n;
    const before = await countRows();
    const duplicatesBefore = ingest.stats().duplicateBatches;
    const client = await mqtt.connectAsync(broker.url, { clientId: 'e2e-redeliver' });
    await client.publishAsync(topics.telemetry(vehicle), encodeTelemetry(batches[0]!), { qos: 1 });
    await client.publishAsync(topics.telemetry(vehicle), encodeTelemetry(batches[batches.length - 1]!), { qos: 1 });
    await client.endAsync();
    expect(await waitFor(() => ingest.stats().duplicateBatches === duplicatesBefore + 2, 10_000)).toBe(true);
    await ingest.flush();
    expect(await countRows()).toBe(before);
  });

  it('dead-letters malformed messages with their reason and keeps running', async () => {
    const vehicle = 'e2e-bad';
    const valid: TelemetryBatch = { v: 1, vehicle, seq: 0, samples: [{ t: Date.now(), RPM: 900, SPEED: 12 }] };
    const bad: Array<[string, string | Buffer]> = [
      ['not_json', 'this is not json'],
      ['not_json', Buffer.from([0xff, 0x00, 0x13, 0x37])],
      ['schema', JSON.stringify({ v: 1 })],
      ['schema', JSON.stringify({ ...valid, samples: [{ t: Date.now(), RPM: 'fast' }] })],
      ['schema', JSON.stringify({ ...valid, samples: [{ t: Date.now(), TURBO_BOOST: 1.2 }] })],
      ['schema', JSON.stringify({ ...valid, v: 2 })],
      ['topic_mismatch', JSON.stringify({ ...valid, vehicle: 'someone-else' })],
    ];
    const before = ingest.stats();
    const client = await mqtt.connectAsync(broker.url, { clientId: 'e2e-bad-publisher' });
    for (const [, payload] of bad) await client.publishAsync(topics.telemetry(vehicle), payload, { qos: 1 });
    // After the garbage, a good batch must still be stored.
    await client.publishAsync(topics.telemetry(vehicle), encodeTelemetry(valid), { qos: 1 });
    await client.endAsync();

    expect(await waitFor(() => ingest.stats().batchesAccepted === before.batchesAccepted + 1, 10_000)).toBe(true);
    await ingest.flush();
    const after = ingest.stats();
    expect(after.deadLetters - before.deadLetters).toBe(bad.length);
    for (const reason of ['not_json', 'schema', 'topic_mismatch'] as const) {
      const expected = bad.filter(([r]) => r === reason).length;
      expect((after.deadLettersByReason[reason] ?? 0) - (before.deadLettersByReason[reason] ?? 0), reason).toBe(expected);
    }

    const letters = rowsOf((await influxQuery(influx.url, DB, `SELECT * FROM dead_letters WHERE topic = '${topics.telemetry(vehicle)}'`))[0]);
    expect(letters.map((l) => l.reason).sort()).toEqual(bad.map(([r]) => r).sort());
    expect(letters.every((l) => typeof l.detail === 'string' && (l.detail as string).length > 0)).toBe(true);
    expect(letters.some((l) => String(l.payload).startsWith('base64:'))).toBe(true);

    const good = rowsOf((await influxQuery(influx.url, DB, `SELECT rpm, speed FROM ${RAW_TELEMETRY} WHERE vehicle = '${vehicle}'`))[0]);
    expect(good).toEqual([{ time: valid.samples[0]!.t, rpm: 900, speed: 12 }]);
  });
});
