/**
 * Compact payloads end to end on real parts: agents encoding compact batches → Aedes → ingest →
 * a real influxd. Every acknowledged sample must be in InfluxDB exactly once with exactly the value
 * the JSON form carries; JSON and compact batches mix on one topic; malformed compact payloads
 * become dead letters with reason `malformed_compact` and ingest keeps going.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import { payloadEncoder } from '../../agent/payload-encoding.ts';
import { SimulatedSource } from '../../agent/simulated-source.ts';
import type { RunningBroker } from '../../broker/broker-server.ts';
import { SIGNAL_NAMES, signalField } from '../../contracts/signals.ts';
import { COMPACT_MARKER, encodeCompactTelemetry } from '../../contracts/telemetry-compact.ts';
import { encodeTelemetry, type Sample, type TelemetryBatch } from '../../contracts/telemetry.ts';
import { topics } from '../../contracts/topics.ts';
import type { IngestService } from '../../ingest/ingest-service.ts';
import { influxQuery, rowsOf, waitFor, type RestartableTestInfluxd } from '../support/influx.ts';
import { startTestPipeline, type TestPipelineWithIngest } from '../support/pipeline.ts';
import { RAW_TELEMETRY } from '../../ingest/influxdb/rollups.ts';

const DB = 'e2e_compact';
const VEHICLES = ['cp-1', 'cp-2'];
const RUN_MS = 6000;

describe('compact payloads: agent → broker → ingest → InfluxDB', () => {
  let pipeline: TestPipelineWithIngest;
  let influx: RestartableTestInfluxd;
  let broker: RunningBroker;
  let ingest: IngestService;
  const acked = new Map<string, TelemetryBatch[]>();
  const firstBytes = new Set<number>();

  beforeAll(async () => {
    pipeline = await startTestPipeline({ ingest: { influxDatabase: DB, clientId: 'e2e-compact-ingest', batchSize: 500, maxBufferedPoints: 5000 } });
    ({ influx, broker, ingest } = pipeline);

    const compact = payloadEncoder('compact');
    const agents = VEHICLES.map(
      (vehicleId, i) =>
        new Agent({
          vehicleId,
          mqttUrl: broker.url,
          source: new SimulatedSource({ vehicleId, seed: 11 + i, sampleRateHz: 5 }),
          batchIntervalMs: 1000,
          maxBatchSamples: 500,
          outboxSamples: 10_000,
          encode: (batch) => {
            const bytes = compact(batch);
            firstBytes.add(bytes[0]!);
            return bytes;
          },
        }),
    );
    for (const agent of agents) {
      agent.on('ack', (batch) => acked.set(batch.vehicle, [...(acked.get(batch.vehicle) ?? []), batch]));
      await agent.start();
    }
    await new Promise((r) => setTimeout(r, RUN_MS));
    for (const agent of agents) expect((await agent.stop()).queuedSamples).toBe(0);
    const total = [...acked.values()].flat().reduce((n, b) => n + b.samples.length, 0);
    expect(await waitFor(() => ingest.stats().samplesAccepted >= total, 15_000), JSON.stringify(ingest.stats())).toBe(true);
    await ingest.flush();
  }, 60_000);

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('stores every acknowledged compact sample exactly once, value for value as the JSON form', async () => {
    expect([...firstBytes]).toEqual([COMPACT_MARKER]);
    expect(ingest.stats().deadLetters).toBe(0);
    for (const vehicle of VEHICLES) {
      const sent: Sample[] = (acked.get(vehicle) ?? []).flatMap((b) => (JSON.parse(encodeTelemetry(b).toString()) as TelemetryBatch).samples).sort((a, b) => a.t - b.t);
      expect(sent.length, vehicle).toBeGreaterThan(15);
      const rows = rowsOf((await influxQuery(influx.url, DB, `SELECT * FROM ${RAW_TELEMETRY} WHERE vehicle = '${vehicle}' ORDER BY time`))[0]);
      expect(rows.length, vehicle).toBe(sent.length);
      rows.forEach((row, i) => {
        const sample = sent[i]! as Record<string, number>;
        expect(row.time).toBe(sample.t);
        for (const name of SIGNAL_NAMES) expect(row[signalField(name)] ?? undefined, `${vehicle} ${name} at ${sample.t}`).toBe(sample[name]);
      });
    }
  });

  it('accepts JSON and compact on one topic and dead-letters malformed compact payloads', async () => {
    const vehicle = 'cp-mixed';
    const t = Date.now();
    const batches: TelemetryBatch[] = [0, 1, 2, 3].map((seq) => ({ v: 1, vehicle, seq, samples: [{ t: t + seq * 10, RPM: 800 + seq * 0.25, SPEED: seq, MAF: 1 / 3 }] }));
    const good = encodeCompactTelemetry(batches[0]!);
    const bad = [Buffer.from([COMPACT_MARKER, 1]), good.subarray(0, good.length - 2), Buffer.from([COMPACT_MARKER, 7, 0, 0])];
    const before = ingest.stats();
    const client = await mqtt.connectAsync(broker.url, { clientId: 'e2e-compact-mixed' });
    await client.publishAsync(topics.telemetry(vehicle), good, { qos: 1 });
    for (const payload of bad) await client.publishAsync(topics.telemetry(vehicle), payload, { qos: 1 });
    await client.publishAsync(topics.telemetry(vehicle), encodeTelemetry(batches[1]!), { qos: 1 });
    await client.publishAsync(topics.telemetry(vehicle), encodeCompactTelemetry(batches[2]!, { compression: 'none' }), { qos: 1 });
    await client.publishAsync(topics.telemetry(vehicle), encodeCompactTelemetry(batches[3]!, { compression: 'deflate' }), { qos: 1 });
    await client.endAsync();
    expect(await waitFor(() => ingest.stats().batchesAccepted === before.batchesAccepted + 4, 10_000)).toBe(true);
    await ingest.flush();
    const after = ingest.stats();
    expect(after.deadLetters - before.deadLetters).toBe(bad.length);
    expect((after.deadLettersByReason.malformed_compact ?? 0) - (before.deadLettersByReason.malformed_compact ?? 0)).toBe(bad.length);
    const rows = rowsOf((await influxQuery(influx.url, DB, `SELECT rpm, speed, maf FROM ${RAW_TELEMETRY} WHERE vehicle = '${vehicle}' ORDER BY time`))[0]);
    expect(rows).toEqual(batches.map((b) => ({ time: b.samples[0]!.t, rpm: b.samples[0]!.RPM, speed: b.samples[0]!.SPEED, maf: 1 / 3 })));
    const letters = rowsOf((await influxQuery(influx.url, DB, `SELECT reason, detail FROM dead_letters WHERE topic = '${topics.telemetry(vehicle)}'`))[0]);
    expect(letters.map((l) => l.reason)).toEqual(bad.map(() => 'malformed_compact'));
  });
});
