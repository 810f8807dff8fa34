/**
 * Ingest on a full disk, on real parts: the spool lives on a size-limited tmpfs (mounted by the
 * test, which runs as root), telemetry goes through a real Aedes broker into a real influxd.
 *
 * - Below the low-disk watermark `/healthz` says `degraded` with the reason, before the wall.
 * - While the spool cannot append (ENOSPC) ingest does not acknowledge: the broker keeps the
 *   messages, `/healthz` answers 503 with the reason, the session stays up (no reconnect), and a
 *   malformed message's dead letter is kept in memory and counted.
 * - Once space returns ingest resumes by itself: every sample published is stored in InfluxDB
 *   exactly once, every window's features equal the offline computation, the dead letter is stored.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import type { Sample } from '../../contracts/telemetry.ts';
import { topics } from '../../contracts/topics.ts';
import { influxQuery, rowsOf, waitFor } from '../support/influx.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';
import { expectedFeatures, makeSamples, publishSamples, storedFeatures, storedTimes } from '../ingest/fixtures.ts';

const WINDOW_MS = 10_000;
const MiB = 1024 * 1024;
const isRoot = process.getuid?.() === 0;

/** Writes `file` until the file system has at most `leaveBytes` free (0: until ENOSPC). */
function fill(file: string, leaveBytes: number): void {
  const fd = openSync(file, 'a');
  try {
    for (const chunk of [64 * 1024, 4096, 512]) {
      const buffer = Buffer.alloc(chunk, 0x78);
      for (;;) {
        const { bavail, bsize } = statfsSync(file);
        if (bavail * bsize - chunk < leaveBytes) break;
        try {
          writeSync(fd, buffer);
        } catch {
          break; // ENOSPC: the next, smaller chunk may still fit
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

interface Health {
  code: number;
  body: { status: string; reason?: string };
}

async function health(url: string): Promise<Health> {
  const response = await fetch(`${url}/healthz`);
  return { code: response.status, body: (await response.json()) as Health['body'] };
}

describe.skipIf(!isRoot)('ingest spool on a full disk', () => {
  let pipeline: TestPipeline;
  let mountDir: string;
  let mounted = false;

  beforeAll(async () => {
    mountDir = mkdtempSync(join(tmpdir(), 'fleetpulse-diskfull-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'none', mountDir]);
    mounted = true;
    pipeline = await startTestPipeline();
  });
  afterAll(async () => {
    await pipeline?.stop();
    if (mounted) execFileSync('umount', ['-l', mountDir]);
    rmSync(mountDir, { recursive: true, force: true });
  });

  it('holds acknowledgements while the spool cannot append and stores every sample exactly once after space returns', async () => {
    const db = 'diskfull';
    const spoolDir = join(mountDir, 'spool');
    mkdirSync(spoolDir);
    const filler = join(mountDir, 'filler');
    const clientId = 'diskfull-ingest';
    let sessions = 0;
    pipeline.broker.aedes.on('client', (client) => {
      if (client.id === clientId) sessions += 1;
    });
    const { ingest, stop } = await pipeline.startIngest({
      influxDatabase: db, clientId, spoolDir, spoolSegmentBytes: 256 * 1024, spoolMaxBytes: 64 * MiB, spoolLowDiskBytes: 2 * MiB,
      windowMs: WINDOW_MS, allowedLatenessMs: 0, idleTimeoutMs: 3000, httpPort: 0, keepaliveS: 2,
    });
    const url = ingest.httpUrl!;
    const vehicles = ['full-1', 'full-2', 'full-3'];
    const sent = new Map<string, Sample[]>(vehicles.map((v) => [v, []]));
    const base = Math.floor((Date.now() - 3_600_000) / WINDOW_MS) * WINDOW_MS;
    const publisher = await mqtt.connectAsync(pipeline.broker.url, { clientId: 'diskfull-publisher' });
    const state = { paused: false, done: false };
    const publishing = (async () => {
      const seqs = new Map<string, number>();
      for (let round = 0; !state.done; round++) {
        while (state.paused && !state.done) await new Promise((r) => setTimeout(r, 50));
        for (const [i, vehicle] of vehicles.entries()) {
          const samples = makeSamples(base + round * 5000, 5, 1000, i);
          seqs.set(vehicle, await publishSamples(publisher, vehicle, samples, 5, seqs.get(vehicle) ?? 0));
          sent.get(vehicle)!.push(...samples);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, 1500));
      const before = await health(url);

      // Below the watermark, not yet at the wall.
      fill(filler, 1 * MiB);
      expect(await waitFor(async () => (await health(url)).body.status === 'degraded', 5000)).toBe(true);
      const low = await health(url);

      // The wall: the first record that does not fit is a malformed message's dead letter (its
      // 4 KiB payload needs a page the disk no longer has); then telemetry again.
      state.paused = true;
      await new Promise((r) => setTimeout(r, 300));
      fill(filler, 0);
      await publisher.publishAsync(topics.telemetry('full-1'), Buffer.alloc(5000, 0x7a), { qos: 1 });
      const deadLetterKept = await waitFor(async () => /^fleetpulse_ingest_dead_letters_unstored 1$/m.test(await (await fetch(`${url}/metrics`)).text()), 5000);
      const acceptedAtFull = ingest.stats().samplesAccepted;
      state.paused = false;
      expect(await waitFor(async () => (await health(url)).code === 503, 5000)).toBe(true);
      const full = await health(url);
      await new Promise((r) => setTimeout(r, 8000)); // four keep-alive periods
      const fullLater = await health(url);
      const metricsFull = await (await fetch(`${url}/metrics`)).text();
      const acceptedWhileFull = ingest.stats().samplesAccepted - acceptedAtFull;

      rmSync(filler);
      expect(await waitFor(async () => (await health(url)).code === 200, 20_000, 250)).toBe(true);
      await new Promise((r) => setTimeout(r, 1500));
      state.done = true;
      await publishing;

      // Every sample, exactly once, and the windows they make.
      const allStored = async () => {
        for (const [vehicle, samples] of sent) if ((await storedTimes(pipeline.influx.url, db, vehicle)).length < samples.length) return false;
        return true;
      };
      expect(await waitFor(allStored, 30_000, 500)).toBe(true);
      await ingest.flush();
      for (const [vehicle, samples] of sent) {
        expect(await storedTimes(pipeline.influx.url, db, vehicle), vehicle).toEqual(samples.map((s) => s.t));
        const expected = expectedFeatures(samples, WINDOW_MS);
        // The last window closes on idle after the publisher stopped.
        expect(await waitFor(async () => (await storedFeatures(pipeline.influx.url, db, vehicle)).size >= expected.size, 10_000, 250)).toBe(true);
        const stored = await storedFeatures(pipeline.influx.url, db, vehicle);
        expect([...stored.keys()], `${vehicle} windows`).toEqual([...expected.keys()]);
        for (const [start, features] of expected) expect(stored.get(start), `${vehicle} window ${start}`).toEqual(features);
      }
      const deadLetters = rowsOf((await influxQuery(pipeline.influx.url, db, `SELECT * FROM dead_letters WHERE "reason"='not_json'`))[0]);
      expect(deadLetters).toHaveLength(1);

      expect(before.code).toBe(200);
      expect(low.code).toBe(200);
      expect(low.body.reason).toMatch(/disk low/);
      expect(full.body.status).toBe('unavailable');
      expect(full.body.reason).toMatch(/ENOSPC|no space/i);
      expect(fullLater.code).toBe(503);
      // Nothing accepted at the wall but what the kernel still had room for (a partly written page).
      expect(acceptedWhileFull).toBeLessThan(60);
      expect(deadLetterKept, 'the dead letter waited in memory').toBe(true);
      expect(metricsFull).toMatch(/^fleetpulse_ingest_spool_write_errors_total [1-9]/m);
      expect(metricsFull).toMatch(/^fleetpulse_ingest_spool_disk_low 1$/m);
      expect(metricsFull).toMatch(/^fleetpulse_ingest_dead_letters_lost_total 0$/m);
      expect((await health(url)).body.status).toBe('ok');
      expect(sessions, 'ingest kept its one broker session through the stall').toBe(1);
    } finally {
      state.done = true;
      await publishing.catch(() => undefined);
      await publisher.endAsync();
      await stop();
    }
  });
});
