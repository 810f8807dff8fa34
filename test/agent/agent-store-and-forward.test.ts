/**
 * The agent with its disk buffer, in process, against a real Aedes broker: the bound's
 * drop-oldest policy (counted, logged, persisted), and the drain policy after an outage
 * (backlog oldest first at a limited rate; batches built meanwhile behind it, or overtaking it).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import type { DropReport } from '../../agent/batch-store.ts';
import { SqliteBatchStore } from '../../agent/sqlite-batch-store.ts';
import { startBroker } from '../../broker/broker-server.ts';
import { createLogger } from '../../common/logger.ts';
import { freePort } from '../../common/net.ts';
import { waitFor } from '../support/influx.ts';
import { watchTelemetry } from '../support/telemetry-watcher.ts';
import { SCRIPTED_T0, ScriptedSource } from '../support/scripted-source.ts';

const T0 = SCRIPTED_T0;
const VEHICLE = 'buffer-1';


const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempBufferFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-agent-buffer-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'buffer.sqlite');
}

const BATCH = 10;
// Every batch of BATCH samples from ScriptedSource serialises to the same size.
const BATCH_BYTES = Buffer.byteLength(JSON.stringify(Array.from({ length: BATCH }, (_, i) => ({ t: T0 + i, RPM: 800, SPEED: 10 })))) + 32;

function agentOn(url: string, file: string, source: ScriptedSource, extra: { drainSamplesPerS?: number; drainOrder?: 'in-order' | 'live-first'; maxBytes?: number; logs?: string[] } = {}) {
  const store = new SqliteBatchStore({ file, vehicleId: VEHICLE, maxBytes: extra.maxBytes ?? 1 << 20 });
  const logger = createLogger('test', { level: 'info', format: 'json', write: (line: string) => extra.logs?.push(line) });
  const agent = new Agent({ vehicleId: VEHICLE, mqttUrl: url, source, store, batchIntervalMs: 600_000, maxBatchSamples: BATCH, drainSamplesPerS: extra.drainSamplesPerS ?? 1000, ...(extra.drainOrder ? { drainOrder: extra.drainOrder } : {}), reconnectMinMs: 50, reconnectMaxMs: 200, drainTimeoutMs: 5000, logger });
  return agent;
}

describe('agent disk buffer', () => {
  it('drops exactly the oldest batches past its byte bound while the broker is unreachable, and counts them', async () => {
    const url = `mqtt://127.0.0.1:${await freePort()}`; // nothing listens there
    const file = tempBufferFile();
    const source = new ScriptedSource();
    const logs: string[] = [];
    const agent = agentOn(url, file, source, { maxBytes: BATCH_BYTES * 5 + 10, logs });
    const dropped: DropReport[] = [];
    agent.on('dropped', (r) => dropped.push(r));
    await agent.start();
    source.push(BATCH * 12);
    const stats = await agent.stop();

    // 12 batches into room for 5: batches 0-6 dropped, oldest first; 7-11 kept.
    expect(dropped.flatMap((d) => d.seqs)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(stats).toMatchObject({ batchesBuilt: 12, samplesBuffered: 120, batchesDropped: 7, samplesDropped: 70, queuedBatches: 5, queuedSamples: 50, connected: false });
    const warned = logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'buffer full: dropped oldest batches');
    expect(warned.reduce((n, l) => n + l.samples, 0)).toBe(70);
    expect(warned.at(-1).droppedSamplesTotal).toBe(70);

    // The buffer and its counters survive the process: the kept batches are the newest, in order.
    const store = new SqliteBatchStore({ file, vehicleId: VEHICLE, maxBytes: BATCH_BYTES * 5 + 10 });
    cleanups.push(() => store.close());
    const kept: number[] = [];
    const firstTimes: number[] = [];
    for (let e = store.next(-1); e; e = store.next(e.seq)) {
      kept.push(e.seq);
      firstTimes.push(e.batch.samples[0]!.t);
    }
    expect(kept).toEqual([7, 8, 9, 10, 11]);
    expect(firstTimes).toEqual([7, 8, 9, 10, 11].map((seq) => T0 + seq * BATCH));
    expect(store.stats()).toMatchObject({ droppedBatches: 7, droppedSamples: 70 });
  });

  it.each(['live-first', 'in-order'] as const)('after an outage drains the backlog oldest first at its rate while the source keeps sampling (%s)', async (drainOrder) => {
    const file = tempBufferFile();
    const source = new ScriptedSource();
    // Outage: 30 batches accumulate with no broker.
    const offline = agentOn(`mqtt://127.0.0.1:${await freePort()}`, file, source);
    await offline.start();
    source.push(BATCH * 30);
    await offline.stop();

    const broker = await startBroker({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => broker.close());
    const watcher = await watchTelemetry(broker.url, VEHICLE);
    cleanups.push(() => watcher.close());
    const arrivals = watcher.seqs;

    const logs: string[] = [];
    // Live samples continue after the backlog's event times.
    const live = new ScriptedSource(T0 + BATCH * 30);
    const agent = agentOn(broker.url, file, live, { drainSamplesPerS: 100, drainOrder, logs });
    await agent.start();
    const pusher = setInterval(() => live.push(BATCH), 100);
    cleanups.push(() => clearInterval(pusher));
    expect(await waitFor(() => logs.some((l) => l.includes('backlog drained: all sent')), 20_000), logs.join('\n')).toBe(true);
    clearInterval(pusher);
    const stats = await agent.stop();

    const backlog = arrivals.filter((seq) => seq < 30);
    const liveSeqs = arrivals.filter((seq) => seq >= 30);
    expect(backlog).toEqual(Array.from({ length: 30 }, (_, i) => i));
    const lastBacklogAt = arrivals.indexOf(29);
    if (drainOrder === 'live-first') {
      // Live batches did not wait: several arrived before the last backlog batch.
      expect(arrivals.slice(0, lastBacklogAt).filter((seq) => seq >= 30).length).toBeGreaterThanOrEqual(3);
    } else {
      // Everything in event-time order, the batches built during the drain right behind the backlog.
      expect(arrivals).toEqual([...arrivals].sort((a, b) => a - b));
      expect(lastBacklogAt).toBe(29);
    }
    // The drain took ≥ 2 s at 100 samples/s, so the source built batches meanwhile; none was lost.
    expect(liveSeqs.length).toBeGreaterThanOrEqual(3);
    expect(liveSeqs).toEqual(Array.from({ length: liveSeqs.length }, (_, i) => 30 + i));
    expect(stats.queuedBatches).toBe(0);
    expect(stats.samplesAcked).toBe(300 + liveSeqs.length * BATCH);
    expect(logs.some((l) => l.includes('"msg":"draining backlog"') && l.includes('"samples":300'))).toBe(true);
  });
});
