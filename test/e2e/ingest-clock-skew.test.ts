/**
 * Clock sanity on real parts (Aedes, influxd, onnxruntime with the shipped model): one sample
 * dated 2099 — inside the schema's range, far ahead of the receive time — is dead-lettered as
 * `clock_skew` with its offset instead of moving the vehicle's watermark, so the live samples
 * after it still make windows that close and are scored; and a spool left with such a sample (by
 * an earlier version) does not do it through replay either.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { encodeTelemetry, type Sample } from '../../contracts/telemetry.ts';
import { topics } from '../../contracts/topics.ts';
import { telemetryLines } from '../../ingest/influxdb/line-protocol.ts';
import { ModelProvider } from '../../ingest/scoring/model-provider.ts';
import { DEFAULT_MODEL_PATH } from '../../ingest/scoring/scoring-options.ts';
import { DiskSpool } from '../../ingest/spool/disk-spool.ts';
import { influxQuery, rowsOf, waitFor } from '../support/influx.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';
import { expectedFeatures, publishSamples, storedFeatures } from '../ingest/fixtures.ts';
import { layOut, simulatedWindows, WINDOW_MS } from '../ingest/scoring-fixtures.ts';
import { RAW_TELEMETRY } from '../../ingest/influxdb/rollups.ts';

const YEAR_2099 = Date.UTC(2099, 0, 1);

async function scoredWindows(url: string, db: string, vehicle: string): Promise<number[]> {
  return rowsOf((await influxQuery(url, db, `SELECT score FROM anomaly WHERE vehicle = '${vehicle}' ORDER BY time`))[0]).map((r) => r.time as number);
}

describe('ingest clock sanity', () => {
  let pipeline: TestPipeline;
  let publisher: MqttClient;
  const windows = simulatedWindows(undefined, 0, 12);

  beforeAll(async () => {
    pipeline = await startTestPipeline();
    publisher = await mqtt.connectAsync(pipeline.broker.url, { clientId: 'clock-publisher' });
  });
  afterAll(async () => {
    await publisher?.endAsync();
    await pipeline?.stop();
  });

  it('dead-letters a sample dated 2099 with its offset; the live samples after it still make windows that close and score, also after a replay', async () => {
    const db = 'clock';
    const vehicle = 'clock-car';
    const spoolDir = join(pipeline.tempDir('fleetpulse-clock-'), 'spool');
    const start = async () =>
      pipeline.startIngest({
        influxDatabase: db, clientId: 'clock-ingest', spoolDir, windowMs: WINDOW_MS, allowedLatenessMs: 2000, idleTimeoutMs: 1500, httpPort: 0,
        scoring: { provider: await ModelProvider.load(DEFAULT_MODEL_PATH), modelPollMs: 0, maxDelayMs: 50, batchSize: 8, alertStatePath: join(spoolDir, '..', 'alerts.json') },
      });
    // Twelve windows of recent driving: 2 before the bad sample, 4 after it, 6 after the restart.
    const base = Math.floor((Date.now() - 10 * 60_000) / WINDOW_MS) * WINDOW_MS;
    const live = layOut(windows, base);
    const part = (from: number, to: number): Sample[] => live.filter((s) => s.t >= base + from * WINDOW_MS && s.t < base + to * WINDOW_MS);

    let worker = await start();
    let seq = await publishSamples(publisher, vehicle, part(0, 2), 7);
    await publisher.publishAsync(topics.telemetry(vehicle), encodeTelemetry({ v: 1, vehicle, seq: seq++, samples: [{ t: YEAR_2099, RPM: 900 }] }), { qos: 1 });
    seq = await publishSamples(publisher, vehicle, part(2, 6), 7, seq);
    const expectedSix = expectedFeatures(part(0, 6), WINDOW_MS);
    const firstSix = [...expectedSix.keys()];
    expect(firstSix).toHaveLength(6);
    expect(await waitFor(async () => (await scoredWindows(pipeline.influx.url, db, vehicle)).length >= 6, 20_000, 250)).toBe(true);
    await worker.ingest.flush();
    expect(worker.ingest.stats().windows.lateSamples, 'no live sample is late').toBe(0);
    const storedSix = await storedFeatures(pipeline.influx.url, db, vehicle);
    expect([...storedSix.keys()]).toEqual(firstSix);
    for (const [startMs, features] of expectedSix) expect(storedSix.get(startMs), `window ${startMs}`).toEqual(features);
    expect(await scoredWindows(pipeline.influx.url, db, vehicle)).toEqual(firstSix);
    const letters = rowsOf((await influxQuery(pipeline.influx.url, db, `SELECT * FROM dead_letters WHERE "reason"='clock_skew'`))[0]);
    expect(letters).toHaveLength(1);
    expect(String(letters[0]!.detail)).toMatch(/1 of 1 samples? .*\+2[0-9,]{9,} s/);
    const metrics = await (await fetch(`${worker.ingest.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^fleetpulse_ingest_dead_letters_total\{reason="clock_skew"\} 1$/m);
    const raw = await influxQuery(pipeline.influx.url, db, `SELECT count(rpm) FROM ${RAW_TELEMETRY} WHERE vehicle = '${vehicle}' AND time > '2098-01-01T00:00:00Z'`);
    expect(raw, 'the 2099 sample is not stored as telemetry').toEqual([]);
    await worker.stop();

    // What an earlier version left in the spool: a telemetry record holding a 2099 sample, the
    // first record replayed (everything before it was written to InfluxDB and freed).
    for (const name of readdirSync(spoolDir)) rmSync(join(spoolDir, name));
    const spool = new DiskSpool({ dir: spoolDir, maxBytes: 64 * 1024 * 1024, segmentBytes: 8 * 1024 * 1024, fsync: 'always' });
    spool.append('t', telemetryLines({ v: 1, vehicle, seq: 0, samples: [{ t: YEAR_2099 + 1000, RPM: 900 }] }), vehicle, undefined);
    spool.close();
    worker = await start();
    expect(worker.ingest.stats().replayedRecords).toBe(1);
    await publishSamples(publisher, vehicle, part(6, 12), 7, seq);
    const all = [...expectedFeatures(live, WINDOW_MS).keys()];
    expect(all).toHaveLength(12);
    expect(await waitFor(async () => (await scoredWindows(pipeline.influx.url, db, vehicle)).length >= 12, 20_000, 250)).toBe(true);
    await worker.ingest.flush();
    expect(worker.ingest.stats().windows.lateSamples, 'no live sample is late after the replay').toBe(0);
    const storedAll = await storedFeatures(pipeline.influx.url, db, vehicle);
    for (const [startMs, features] of expectedFeatures(live, WINDOW_MS)) expect(storedAll.get(startMs), `window ${startMs}`).toEqual(features);
    expect(await scoredWindows(pipeline.influx.url, db, vehicle)).toEqual(all);
    await worker.stop();
  });
});
