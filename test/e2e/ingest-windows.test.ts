/**
 * Windows and scale-out on real parts: a vehicle replaying a 2-hour backlog gets exactly the
 * features it would have got online (and that the trainer computes offline), and two workers
 * with split shards store the same telemetry and features as one worker.
 */
import { RAW_TELEMETRY } from '../../ingest/influxdb/rollups.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import type { RunningBroker } from '../../broker/broker-server.ts';
import type { IngestService } from '../../ingest/ingest-service.ts';
import { shardOf } from '../../contracts/topics.ts';
import { influxQuery, rowsOf, waitFor, type RestartableTestInfluxd } from '../support/influx.ts';
import { ALL_SHARDS, startTestPipeline, type TestPipeline } from '../support/pipeline.ts';
import { countRows, expectedFeatures, makeSamples, publishSamples, storedFeatures, storedTimes } from '../ingest/fixtures.ts';

const WINDOW_MS = 30_000;
const HOUR = 3_600_000;

describe('ingest windows', () => {
  let pipeline: TestPipeline;
  let influx: RestartableTestInfluxd;
  let broker: RunningBroker;
  const workers: IngestService[] = [];
  /** Resolves once the worker is connected and subscribed to its shards. */
  const worker = async (db: string, clientId: string, shards: readonly number[]): Promise<IngestService> => {
    const { ingest } = await pipeline.startIngest({ influxDatabase: db, clientId, shards, windowMs: WINDOW_MS, allowedLatenessMs: 2000, idleTimeoutMs: 1500 });
    workers.push(ingest);
    return ingest;
  };

  beforeAll(async () => {
    pipeline = await startTestPipeline();
    ({ influx, broker } = pipeline);
  });
  afterAll(async () => {
    await pipeline?.stop();
  });

  it('gives a vehicle replaying a 2-hour backlog the same features as a vehicle that was online', async () => {
    const db = 'backlog';
    const ingest = await worker(db, 'backlog-ingest', ALL_SHARDS);
    const now = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS;
    // The same two hours of driving, once as it happens (recent, 3-sample batches) and once as a
    // backlog from 4 to 2 hours ago arriving after it, in 500-sample batches.
    const online = makeSamples(now - 2 * HOUR, 7200, 1000, 3);
    const backlog = online.map((s) => ({ ...s, t: s.t - 2 * HOUR }));
    const client = await mqtt.connectAsync(broker.url, { clientId: 'backlog-publisher' });
    await publishSamples(client, 'online-car', online, 3);
    await publishSamples(client, 'backlog-car', backlog, 500);
    await client.endAsync();
    const expected = expectedFeatures(online, WINDOW_MS);
    expect(expected.size).toBe(240);
    expect(await waitFor(async () => (await storedFeatures(influx.url, db, 'backlog-car')).size === 240 && (await storedFeatures(influx.url, db, 'online-car')).size === 240, 30_000, 500)).toBe(true);
    await ingest.flush();
    const onlineStored = await storedFeatures(influx.url, db, 'online-car');
    const backlogStored = await storedFeatures(influx.url, db, 'backlog-car');
    expect([...onlineStored.keys()]).toEqual([...expected.keys()]);
    for (const [start, features] of expected) {
      expect(onlineStored.get(start), `online window ${start}`).toEqual(features);
      expect(backlogStored.get(start - 2 * HOUR), `backlog window ${start - 2 * HOUR}`).toEqual(features);
    }
    expect(ingest.stats().windows.lateSamples).toBe(0);
    expect((await storedTimes(influx.url, db, 'backlog-car')).length).toBe(7200);
    const windowS = rowsOf((await influxQuery(influx.url, db, `SELECT window_s, feature_version FROM features WHERE vehicle = 'backlog-car' LIMIT 1`))[0])[0];
    expect(windowS).toMatchObject({ window_s: 30, feature_version: 2 });
  });

  it('stores the same telemetry and features with two workers on split shards as with one', async () => {
    await worker('one', 'single-worker', ALL_SHARDS);
    await worker('two', 'half-a', ALL_SHARDS.slice(0, 32));
    await worker('two', 'half-b', ALL_SHARDS.slice(32));
    const vehicles = Array.from({ length: 24 }, (_, i) => `split-${i}`);
    expect(new Set(vehicles.map((v) => shardOf(v) < 32)).size).toBe(2); // both halves get vehicles
    const base = Math.floor((Date.now() - HOUR) / WINDOW_MS) * WINDOW_MS + 7_000; // windows not aligned to the data
    const client = await mqtt.connectAsync(broker.url, { clientId: 'split-publisher' });
    const seqs = new Map<string, number>();
    // Interleaved rounds, as a live fleet would publish: 10 samples per vehicle per round.
    for (let round = 0; round < 30; round++) {
      for (const [i, v] of vehicles.entries()) seqs.set(v, await publishSamples(client, v, makeSamples(base + round * 10_000, 10, 1000, i), 10, seqs.get(v) ?? 0));
    }
    await client.endAsync();
    const total = vehicles.length * 300;
    const windows = vehicles.length * expectedFeatures(makeSamples(base, 300, 1000, 0), WINDOW_MS).size;
    for (const db of ['one', 'two']) {
      expect(await waitFor(async () => (await countRows(influx.url, db, RAW_TELEMETRY, 'rpm')) === total && (await countRows(influx.url, db, 'features', 'running_s')) === windows, 30_000, 500), db).toBe(true);
    }
    const dump = async (db: string, m: string) => JSON.stringify(await influxQuery(influx.url, db, `SELECT * FROM ${m} GROUP BY vehicle`));
    expect(await dump('two', RAW_TELEMETRY)).toEqual(await dump('one', RAW_TELEMETRY));
    expect(await dump('two', 'features')).toEqual(await dump('one', 'features'));
    const [a, b] = [workers[workers.length - 2]!.stats(), workers[workers.length - 1]!.stats()];
    expect(a.samplesAccepted).toBeGreaterThan(0);
    expect(b.samplesAccepted).toBeGreaterThan(0);
    expect(a.samplesAccepted + b.samplesAccepted).toBe(total);
  });
});
