/**
 * Delivery on real parts (Aedes in this process, a real influxd, ingest in this process or as a
 * `fleetpulse ingest` child): every sample published with QoS 1 is stored exactly once and every
 * window's features equal the offline computation, across an InfluxDB outage and across a
 * SIGKILL of ingest — and every window is scored exactly once, also those closed but not yet
 * scored when ingest was killed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import type { RunningBroker } from '../../broker/broker-server.ts';
import type { Sample } from '../../contracts/telemetry.ts';
import { startCli } from '../support/cli.ts';
import { influxQuery, rowsOf, waitFor, type RestartableTestInfluxd } from '../support/influx.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';
import { expectedFeatures, makeSamples, publishSamples, storedFeatures, storedTimes } from '../ingest/fixtures.ts';

const WINDOW_MS = 10_000;

/** Publishes `vehicles` vehicles' data in rounds until `until()` is true; returns what was acknowledged. */
async function publishWhile(url: string, vehicles: string[], baseMs: number, until: () => boolean): Promise<Map<string, Sample[]>> {
  const client = await mqtt.connectAsync(url, { clientId: `pub-${Math.random().toString(36).slice(2)}` });
  const sent = new Map<string, Sample[]>(vehicles.map((v) => [v, []]));
  const seqs = new Map<string, number>();
  for (let round = 0; round < 100_000 && !until(); round++) {
    for (const [i, vehicle] of vehicles.entries()) {
      const samples = makeSamples(baseMs + round * 5000, 5, 1000, i);
      seqs.set(vehicle, await publishSamples(client, vehicle, samples, 5, seqs.get(vehicle) ?? 0));
      sent.get(vehicle)!.push(...samples);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await client.endAsync();
  return sent;
}

async function expectExactlyOnce(url: string, db: string, sent: Map<string, Sample[]>): Promise<void> {
  for (const [vehicle, samples] of sent) {
    expect(samples.length).toBeGreaterThan(20);
    expect(await storedTimes(url, db, vehicle), vehicle).toEqual(samples.map((s) => s.t));
    const expected = expectedFeatures(samples, WINDOW_MS);
    const stored = await storedFeatures(url, db, vehicle);
    expect([...stored.keys()], `${vehicle} windows`).toEqual([...expected.keys()]);
    for (const [start, features] of expected) expect(stored.get(start), `${vehicle} window ${start}`).toEqual(features);
  }
}

/** Window start times with an `anomaly` point (one per window and model version). */
async function scoredWindows(url: string, db: string, vehicle: string): Promise<number[]> {
  const rows = rowsOf((await influxQuery(url, db, `SELECT score FROM anomaly WHERE vehicle = '${vehicle}' ORDER BY time`))[0]);
  return rows.map((r) => r.time as number);
}

async function allStored(url: string, db: string, sent: Map<string, Sample[]>): Promise<boolean> {
  for (const [vehicle, samples] of sent) {
    if ((await storedTimes(url, db, vehicle)).length !== samples.length) return false;
    if ((await storedFeatures(url, db, vehicle)).size !== expectedFeatures(samples, WINDOW_MS).size) return false;
  }
  return true;
}

describe('ingest delivery', () => {
  let pipeline: TestPipeline;
  let influx: RestartableTestInfluxd;
  let broker: RunningBroker;
  const tempDir = (): string => pipeline.tempDir('fleetpulse-ingest-e2e-');
  // Event times start an hour ago, aligned to the window, so windows are comparable offline.
  const base = Math.floor((Date.now() - 3_600_000) / WINDOW_MS) * WINDOW_MS;

  beforeAll(async () => {
    pipeline = await startTestPipeline();
    ({ influx, broker } = pipeline);
  });
  afterAll(async () => {
    await pipeline?.stop();
  });

  it('stores every sample exactly once when InfluxDB is down for 30 s mid-stream', async () => {
    const db = 'outage';
    // Resolves with the subscription in place.
    const { ingest, stop } = await pipeline.startIngest({
      influxDatabase: db, clientId: 'outage-ingest', spoolDir: tempDir(), windowMs: WINDOW_MS, allowedLatenessMs: 0, idleTimeoutMs: 1000, httpPort: 0,
    });
    try {
      const started = Date.now();
      let phase = 'before';
      let sawDegraded = false;
      let spooledWhileDown = 0;
      const publishing = publishWhile(broker.url, ['out-1', 'out-2', 'out-3'], base, () => phase === 'done');
      await new Promise((r) => setTimeout(r, 3000));
      await influx.stop();
      phase = 'down';
      const downSince = Date.now();
      while (Date.now() - downSince < 30_000) {
        await new Promise((r) => setTimeout(r, 1000));
        const health = (await (await fetch(`${ingest.httpUrl}/healthz`)).json()) as { status: string };
        sawDegraded ||= health.status === 'degraded';
        spooledWhileDown = Math.max(spooledWhileDown, ingest.stats().spool.pendingBytes);
      }
      await influx.start();
      await new Promise((r) => setTimeout(r, 3000));
      phase = 'done';
      const sent = await publishing;
      expect(Date.now() - started).toBeGreaterThan(35_000);
      expect(sawDegraded).toBe(true);
      expect(spooledWhileDown).toBeGreaterThan(10_000);
      expect(ingest.stats().writer.writeFailures).toBeGreaterThan(0);
      expect(await waitFor(() => allStored(influx.url, db, sent), 30_000, 500)).toBe(true);
      await expectExactlyOnce(influx.url, db, sent);
      const metrics = await (await fetch(`${ingest.httpUrl}/metrics`)).text();
      expect(metrics).toMatch(/^fleetpulse_ingest_influx_write_failures_total [1-9]/m);
      expect(metrics).toMatch(/^fleetpulse_ingest_spool_bytes \d+/m);
      expect(metrics).toMatch(/^fleetpulse_ingest_windows_closed_total\{reason="idle"\} [1-9]/m);
    } finally {
      await stop();
    }
  });

  it('loses and duplicates nothing when ingest is SIGKILLed mid-stream and restarted; windows closed but not scored are scored after the restart', async () => {
    const db = 'sigkill';
    const dataDir = tempDir();
    const args = [
      'ingest', '--mqtt-url', broker.url, '--influx-url', influx.url, '--influx-database', db, '--data-dir', dataDir,
      '--client-id', 'killed-ingest', '--http-port', '0', '--window-s', String(WINDOW_MS / 1000), '--allowed-lateness-s', '0',
      // Idle close only for the last windows; 5 s so that a publisher stalled by a busy machine is not taken for idle.
      '--idle-timeout-s', '5', '--flush-interval-ms', '100', '--stats-interval-s', '0',
    ];
    // First run: scoring waits (a batch only after 60 s or 65,536 windows), so every window closed
    // before the kill has its features spooled and no score yet.
    let worker = startCli([...args, '--score-max-delay-ms', '60000', '--score-batch-size', '65536']);
    try {
      expect(await waitFor(() => worker.output().includes('subscribed'), 20_000), worker.output()).toBe(true);
      let done = false;
      const publishing = publishWhile(broker.url, ['kill-1', 'kill-2', 'kill-3'], base, () => done);
      await new Promise((r) => setTimeout(r, 4000));
      worker.child.kill('SIGKILL');
      await worker.exited;
      await new Promise((r) => setTimeout(r, 2000)); // the broker queues for the persistent session meanwhile
      worker = startCli(args);
      expect(await waitFor(() => worker.output().includes('connected to broker'), 20_000), worker.output()).toBe(true);
      expect(worker.output()).toMatch(/replayed spool/);
      expect(worker.output()).toMatch(/windows closed before the restart handed to scoring again/);
      await new Promise((r) => setTimeout(r, 3000));
      done = true;
      const sent = await publishing;
      expect(await waitFor(() => allStored(influx.url, db, sent), 30_000, 500), worker.output()).toBe(true);
      await expectExactlyOnce(influx.url, db, sent);
      for (const vehicle of sent.keys()) {
        const windows = [...(await storedFeatures(influx.url, db, vehicle)).keys()];
        expect(await waitFor(async () => (await scoredWindows(influx.url, db, vehicle)).length >= windows.length, 10_000, 250)).toBe(true);
        expect(await scoredWindows(influx.url, db, vehicle), `${vehicle}: one score per window`).toEqual(windows);
      }
    } finally {
      worker.child.kill('SIGTERM');
      await Promise.race([worker.exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
    }
  });
});
