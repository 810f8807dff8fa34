import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Sample } from '../../contracts/telemetry.ts';
import { ArchiveSink } from './archive-sink.ts';
import { archiveFiles, readArchive, readArchiveSamples } from '../../models/archive-reader.ts';

const DAY = 86_400_000;
// 30 minutes before midnight UTC, so a vehicle's samples cross into the next day's partition.
const START = Date.UTC(2025, 2, 10) - 30 * 60_000;

function samples(vehicle: number, count: number, stepMs: number): Sample[] {
  return Array.from({ length: count }, (_, i) => ({
    t: START + i * stepMs + vehicle,
    RPM: 800 + i + vehicle,
    SPEED: (i * 7) % 120,
    ...(i % 3 === 0 ? { CONTROL_MODULE_VOLTAGE: 13.5 + (i % 10) / 100 } : {}),
  }));
}

describe('archive sink and reader', () => {
  const dirs: string[] = [];
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'fleetpulse-archive-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('reads back each vehicle in time order, once, across files, row groups and days', async () => {
    const dir = tempDir();
    const sink = new ArchiveSink({ dir, worker: 'w0', maxRowsPerFile: 700, rowGroupRows: 128 });
    const sent = new Map<string, Sample[]>();
    for (let v = 0; v < 4; v++) sent.set(`car-${v}`, samples(v, 1200, 3000));
    // Interleaved batches of 10 per vehicle, as ingest sees them; then a repeat (redelivery/replay).
    for (let at = 0; at < 1200; at += 10) for (const [vehicle, list] of sent) sink.add(vehicle, list.slice(at, at + 10), 1 + Math.floor(at / 100));
    expect(sink.retentionFloor()).toBeLessThan(Infinity);
    sink.add('car-2', sent.get('car-2')!.slice(500, 540), 99);
    sink.close();
    expect(sink.retentionFloor()).toBe(Infinity);
    const s = sink.stats();
    expect(s.rowsWritten).toBe(4 * 1200 + 40);
    expect(s.rowsBuffered).toBe(0);
    expect(s.filesWritten).toBeGreaterThan(6); // 700-row bound, two days

    const days = readdirSync(dir).sort();
    expect(days).toEqual(['date=2025-03-09', 'date=2025-03-10']);
    // A half-written file under its temporary name is never read.
    writeFileSync(join(dir, days[0]!, '.part-w9-0000000000000-000000.parquet.tmp'), 'PAR1 torn');
    expect(archiveFiles({ dir }).every((f) => !f.endsWith('.tmp'))).toBe(true);

    const stats = { files: 0, rows: 0, duplicates: 0 };
    const chunks: { vehicle: string; n: number; last: boolean }[] = [];
    const got = new Map<string, Sample[]>();
    for await (const c of readArchive({ dir, maxChunkSamples: 500 }, stats)) {
      chunks.push({ vehicle: c.vehicle, n: c.samples.length, last: c.last });
      got.set(c.vehicle, [...(got.get(c.vehicle) ?? []), ...c.samples]);
    }
    expect(stats.duplicates).toBe(40);
    expect(got).toEqual(sent);
    expect(chunks.filter((c) => c.last).map((c) => c.vehicle)).toEqual(['car-0', 'car-1', 'car-2', 'car-3']);
    expect(Math.max(...chunks.map((c) => c.n))).toBeLessThanOrEqual(500);

    // Partitioned by event-time day: the first day holds exactly the samples before midnight.
    const firstDay = await readArchiveSamples({ dir, to: '2025-03-09' });
    const midnight = START + 30 * 60_000;
    for (const [vehicle, list] of sent) expect(firstDay.get(vehicle)).toEqual(list.filter((x) => x.t < midnight));
    const secondDay = await readArchiveSamples({ dir, from: '2025-03-10', to: '2025-03-10' });
    for (const [vehicle, list] of sent) expect(secondDay.get(vehicle)).toEqual(list.filter((x) => x.t >= midnight && x.t < midnight + DAY));
  });

  it('keeps rows and their spool segments after a failed write, and writes them on a retry', async () => {
    const dir = tempDir();
    // A plain file where the day's directory must go: the write fails as on a full disk.
    writeFileSync(join(dir, 'date=2025-03-09'), 'in the way');
    const sink = new ArchiveSink({ dir, worker: 'w2', maxFileAgeMs: 1000 });
    sink.add('car-1', samples(1, 5, 1000), 7);
    expect(sink.flush()).toBe(false);
    expect(sink.stats()).toMatchObject({ writeFailures: 1, rowsBuffered: 5, rowsWritten: 0 });
    expect(sink.retentionFloor()).toBe(7);
    rmSync(join(dir, 'date=2025-03-09'));
    sink.tick(Date.now() + 10_000);
    expect(sink.stats()).toMatchObject({ writeFailures: 1, rowsBuffered: 0, rowsWritten: 5 });
    expect(sink.retentionFloor()).toBe(Infinity);
    expect((await readArchiveSamples({ dir })).get('car-1')).toEqual(samples(1, 5, 1000));
  });

  it('cuts a file when its oldest row is older than the age bound', () => {
    const dir = tempDir();
    const sink = new ArchiveSink({ dir, worker: 'w1', maxFileAgeMs: 1000 });
    sink.add('car-1', samples(1, 5, 1000), 3);
    sink.tick(Date.now());
    expect(sink.stats().filesWritten).toBe(0);
    sink.tick(Date.now() + 1000);
    expect(sink.stats()).toMatchObject({ filesWritten: 1, rowsWritten: 5, rowsBuffered: 0 });
    expect(existsSync(join(dir, 'date=2025-03-09'))).toBe(true);
  });

  it('deletes day directories past retentionDays with the sink\'s own files, keeps younger days and anything else, and counts it', () => {
    const dir = tempDir();
    const now = Date.UTC(2025, 5, 20, 12);
    const sink = new ArchiveSink({ dir, worker: 'w1', retentionDays: 10 });
    // Real files written by the sink: 2025-06-09 ends 10.5 days before `now` (deleted), 2025-06-10 ends 9.5 days before (kept).
    sink.add('car-1', [{ t: Date.UTC(2025, 5, 9, 6), RPM: 900 }, { t: Date.UTC(2025, 5, 10, 6), RPM: 950 }], 0);
    expect(sink.flush()).toBe(true);
    writeFileSync(join(dir, 'notes.txt'), 'operator notes');
    const oldFiles = readdirSync(join(dir, 'date=2025-06-09')).length;
    expect(oldFiles).toBe(1);
    sink.prune(now);
    expect(readdirSync(dir).sort()).toEqual(['date=2025-06-10', 'notes.txt']);
    const stats = sink.stats();
    expect(stats).toMatchObject({ daysPruned: 1, filesPruned: 1 });
    expect(stats.bytesPruned).toBeGreaterThan(100);
    sink.prune(now);
    expect(sink.stats().daysPruned).toBe(1);
    // Without retentionDays nothing is deleted.
    new ArchiveSink({ dir, worker: 'w2' }).prune(now + 365 * DAY);
    expect(existsSync(join(dir, 'date=2025-06-10'))).toBe(true);
    sink.close();
  });
});
