/**
 * The agent's disk buffer on a really full disk: a small tmpfs (we run as root) filled by a filler
 * file, the agent on its SQLite buffer there.
 *
 * - Link up (real broker + ingest + influxd): a low-disk warning comes first, then the disk refuses
 *   writes and the newest batches are held in memory and published from there; once space is freed
 *   the agent writes to disk again. Every sample produced is in InfluxDB exactly once.
 * - Link down: the memory bound is reached, the oldest held batches are dropped and counted; what
 *   is held goes to disk once there is room, survives a restart, and is what arrives.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import type { DropReport } from '../../agent/batch-store.ts';
import { SimulatedSource } from '../../agent/simulated-source.ts';
import { SqliteBatchStore } from '../../agent/sqlite-batch-store.ts';
import { startBroker } from '../../broker/broker-server.ts';
import { createLogger } from '../../common/logger.ts';
import { freePort } from '../../common/net.ts';
import { influxQuery, rowsOf, waitFor } from '../support/influx.ts';
import { startTestPipeline, type TestPipelineWithIngest } from '../support/pipeline.ts';
import { ScriptedSource } from '../support/scripted-source.ts';
import { watchTelemetry } from '../support/telemetry-watcher.ts';
import { canMount, smallDisk } from '../support/small-disk.ts';
import { RAW_TELEMETRY } from '../../ingest/influxdb/rollups.ts';

type Log = { msg: string; level: string } & Record<string, unknown>;

function jsonLogger(into: Log[]) {
  return createLogger('test', { level: 'debug', format: 'json', write: (line: string) => into.push(JSON.parse(line) as Log) });
}

describe.skipIf(!canMount)('agent disk buffer on a full disk', () => {
  const disks: Array<ReturnType<typeof smallDisk>> = [];
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  afterAll(() => {
    for (const d of disks) d.dispose();
  });
  const disk = (sizeMb: number) => {
    const d = smallDisk(sizeMb);
    disks.push(d);
    return d;
  };

  describe('with the link up', () => {
    let pipeline: TestPipelineWithIngest;
    beforeAll(async () => {
      pipeline = await startTestPipeline({ ingest: { clientId: 'ingest-disk-full', influxDatabase: 'agent_disk_full' } });
    });
    afterAll(async () => {
      await pipeline?.stop();
    });

    it('warns at the low-disk watermark, publishes the batches the disk refuses from memory, writes to disk again once it can: every sample stored once', async () => {
      const vehicle = 'full-disk-1';
      const d = disk(8);
      const logs: Log[] = [];
      const logger = jsonLogger(logs);
      const store = new SqliteBatchStore({ file: join(d.dir, 'buffer.sqlite'), vehicleId: vehicle, maxBytes: 64 << 20, memoryHoldSamples: 5000, lowDiskBytes: 512 * 1024, diskCheckIntervalMs: 0, logger });
      const source = new SimulatedSource({ vehicleId: vehicle, seed: 7, sampleRateHz: 50 });
      const agent = new Agent({ vehicleId: vehicle, mqttUrl: pipeline.broker.url, source, store, batchIntervalMs: 100, maxBatchSamples: 20, statsIntervalMs: 0, reconnectMinMs: 50, reconnectMaxMs: 200, logger });
      cleanups.push(() => agent.stop());
      await agent.start();
      expect(await waitFor(() => agent.stats().samplesAcked >= 50, 10_000)).toBe(true);

      // Below the watermark but not yet full: a warning, and the disk still takes batches.
      d.fill(256 * 1024);
      expect(await waitFor(() => logs.some((l) => l.msg.startsWith('disk space low')), 5000)).toBe(true);
      expect(agent.stats()).toMatchObject({ diskLow: true, diskFull: false });
      expect(logs.some((l) => l.msg.startsWith('disk full'))).toBe(false);

      // The wall: the disk refuses; the newest batches go to memory and are published from there.
      d.fill(0);
      expect(await waitFor(() => agent.stats().diskFull, 10_000)).toBe(true);
      const ackedAtFull = agent.stats().samplesAcked;
      expect(await waitFor(() => agent.stats().samplesAcked >= ackedAtFull + 100 && agent.stats().batchesHeldInMemoryTotal >= 5, 10_000)).toBe(true);
      expect(agent.stats()).toMatchObject({ diskFull: true, storeFailures: 0, samplesDropped: 0 });

      d.free();
      expect(await waitFor(() => !agent.stats().diskFull && !agent.stats().diskLow, 10_000)).toBe(true);
      const heldTotal = agent.stats().batchesHeldInMemoryTotal;
      await new Promise((r) => setTimeout(r, 500));
      const stats = await agent.stop();
      // Back on disk: nothing more was held in memory after the space came back.
      expect(stats.batchesHeldInMemoryTotal).toBe(heldTotal);
      expect(stats).toMatchObject({ storeFailures: 0, samplesDropped: 0, queuedBatches: 0, samplesHeldInMemory: 0 });
      expect(logs.some((l) => l.msg.startsWith('disk writable again'))).toBe(true);

      const count = async () => {
        await pipeline.ingest.flush();
        return Number(rowsOf((await influxQuery(pipeline.influx.url, 'agent_disk_full', `SELECT count(rpm) FROM ${RAW_TELEMETRY} WHERE vehicle = '${vehicle}'`))[0])[0]?.count ?? 0);
      };
      await waitFor(async () => (await count()) >= stats.samplesProduced, 15_000, 250);
      expect(await count()).toBe(stats.samplesProduced);
      expect(stats.samplesAcked).toBe(stats.samplesProduced);
    });
  });

  it('with the link down drops the oldest held batches at the memory bound, counted; writes the rest to disk when it can', async () => {
    const vehicle = 'full-disk-2';
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`; // nothing listens there yet
    const d = disk(4);
    const file = join(d.dir, 'buffer.sqlite');
    const logs: Log[] = [];
    const open = () => new SqliteBatchStore({ file, vehicleId: vehicle, maxBytes: 1 << 20, memoryHoldSamples: 50, lowDiskBytes: 64 * 1024, diskCheckIntervalMs: 0, logger: jsonLogger(logs) });
    const source = new ScriptedSource();
    const agent = new Agent({ vehicleId: vehicle, mqttUrl: url, source, store: open(), batchIntervalMs: 600_000, maxBatchSamples: 10, statsIntervalMs: 0, reconnectMinMs: 50, reconnectMaxMs: 200, drainTimeoutMs: 0, logger: jsonLogger(logs) });
    cleanups.push(() => agent.stop());
    const dropped: DropReport[] = [];
    agent.on('dropped', (r) => dropped.push(r));
    await agent.start();
    source.push(30); // seqs 0-2 on disk
    d.fill(0);
    source.push(120); // seqs 3-14: the disk refuses them; memory holds 50 samples
    expect(agent.stats()).toMatchObject({ diskFull: true, batchesHeldInMemory: 5, samplesHeldInMemory: 50, batchesDropped: 7, samplesDropped: 70, queuedBatches: 8, storeFailures: 0 });
    expect(dropped.flatMap((r) => r.seqs)).toEqual([3, 4, 5, 6, 7, 8, 9]);
    const warned = logs.filter((l) => l.msg === 'buffer full: dropped oldest batches');
    expect(warned.reduce((n, l) => n + (l.samples as number), 0)).toBe(70);

    d.free();
    source.push(10); // seq 15: the held batches go to disk first, then this one
    expect(agent.stats()).toMatchObject({ diskFull: false, batchesHeldInMemory: 0, queuedBatches: 9, batchesDropped: 7 });
    await agent.stop();

    // On disk across a restart, the memory drops counted with the disk's.
    const reopened = open();
    expect(reopened.stats()).toMatchObject({ queuedBatches: 9, queuedSamples: 90, droppedBatches: 7, droppedSamples: 70 });
    reopened.close();

    const broker = await startBroker({ host: '127.0.0.1', port });
    cleanups.push(() => broker.close());
    const watcher = await watchTelemetry(broker.url, vehicle);
    cleanups.push(() => watcher.close());
    const arrivals = watcher.seqs;
    const again = new Agent({ vehicleId: vehicle, mqttUrl: url, source: new ScriptedSource(), store: open(), batchIntervalMs: 600_000, maxBatchSamples: 10, statsIntervalMs: 0, reconnectMinMs: 50, reconnectMaxMs: 200 });
    cleanups.push(() => again.stop());
    await again.start();
    expect(await waitFor(() => arrivals.length >= 9, 10_000)).toBe(true);
    expect(arrivals).toEqual([0, 1, 2, 10, 11, 12, 13, 14, 15]);
  });

  it('store: an acknowledgement the full disk cannot delete is not handed out again, and is deleted once the disk has room', () => {
    const d = disk(2);
    const file = join(d.dir, 'buffer.sqlite');
    const logs: Log[] = [];
    const open = () => new SqliteBatchStore({ file, vehicleId: 'full-disk-3', maxBytes: 1 << 20, memoryHoldSamples: 100, diskCheckIntervalMs: 0, logger: jsonLogger(logs) });
    const batch = (seq: number) => ({ v: 1 as const, vehicle: 'full-disk-3', seq, samples: [{ t: 1_763_900_000_000 + seq, RPM: 900 }] });
    const store = open();
    for (let seq = 0; seq < 4; seq++) store.append(batch(seq));
    d.fill(0);
    // The DELETE's commit is refused too: acknowledged all the same, deleted with a later write.
    expect(store.acknowledge(0)).toBe(1);
    expect(logs.some((l) => l.msg.startsWith('disk refused deleting acknowledged batches'))).toBe(true);
    expect(store.acknowledge(0)).toBeUndefined();
    expect(store.next(-1)?.seq).toBe(1);
    expect(store.stats()).toMatchObject({ queuedBatches: 3, queuedSamples: 3 });
    store.append(batch(4));
    expect(store.stats().disk).toMatchObject({ full: true, heldInMemoryBatches: 1 });
    const seqs = (s: SqliteBatchStore) => {
      const out: number[] = [];
      for (let e = s.next(-1); e; e = s.next(e.seq)) out.push(e.seq);
      return out;
    };
    expect(seqs(store)).toEqual([1, 2, 3, 4]);

    d.free();
    store.append(batch(5));
    expect(store.stats().disk).toMatchObject({ full: false, heldInMemoryBatches: 0 });
    store.close();
    const reopened = open();
    expect(seqs(reopened)).toEqual([1, 2, 3, 4, 5]);
    expect(reopened.nextSeq).toBe(6);
    reopened.close();
  });
});
