import { execFileSync } from 'node:child_process';
import { appendFileSync, closeSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DiskSpool } from './disk-spool.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-spool-test-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function drain(spool: DiskSpool): string {
  let out = '';
  for (let chunk = spool.read(64); chunk; chunk = spool.read(64)) {
    out += chunk.data.toString();
    spool.commit(chunk.end);
  }
  return out;
}

describe('DiskSpool', () => {
  it('returns appended lines in order, in chunks of whole lines, and frees committed segments', () => {
    const spool = new DiskSpool({ dir: tempDir(), maxBytes: 4096, segmentBytes: 200, fsync: 'never' });
    const lines = Array.from({ length: 20 }, (_, i) => `m,vehicle=v f=${i} ${i}\n`);
    for (const line of lines) expect(spool.append('t', line, 'v', 0)).toBeUndefined();
    expect(spool.stats().segments).toBeGreaterThan(3);
    const out = drain(spool);
    expect(out.split('\n').filter((l) => l && !l.startsWith('#'))).toEqual(lines.map((l) => l.trim()));
    expect(spool.stats().pendingBytes).toBe(0);
    expect(spool.stats().segments).toBe(1); // only the active one is left
    spool.close();
  });

  it('replays records not yet freed after a restart, and cuts a torn last record', () => {
    const dir = tempDir();
    const first = new DiskSpool({ dir, maxBytes: 4096, segmentBytes: 1024, fsync: 'always' });
    first.append('t', 'a 1\n', 'car-1', 5000);
    first.append('f', 'b 2\n', 'car-1', 10_000);
    first.close();
    const segment = readdirSync(dir).find((n) => n.startsWith('wal-'))!;
    appendFileSync(join(dir, segment), '#fp t 100 car-1 -\npartial'); // a crash mid-write
    const second = new DiskSpool({ dir, maxBytes: 4096, segmentBytes: 1024, fsync: 'never' });
    expect([...second.records()].map((r) => [r.type, r.vehicle, r.closedUpTo, r.body])).toEqual([
      ['t', 'car-1', 5000, 'a 1\n'],
      ['f', 'car-1', 10_000, 'b 2\n'],
    ]);
    expect(second.stats().tornBytesDropped).toBe('#fp t 100 car-1 -\npartial'.length);
    expect(drain(second)).toContain('a 1\n');
    second.close();
  });

  it('makes appends wait at the bound until the reader commits, and counts it', async () => {
    const spool = new DiskSpool({ dir: tempDir(), maxBytes: 400, segmentBytes: 100, fsync: 'never' });
    const body = `${'x'.repeat(70)}\n`;
    let waited: Promise<void> | undefined;
    for (let i = 0; i < 10 && !waited; i++) waited = spool.append('t', body);
    expect(waited).toBeDefined();
    expect(spool.stats().fullWaits).toBe(1);
    let done = false;
    void waited!.then(() => (done = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false);
    drain(spool);
    await waited;
    expect(done).toBe(true);
    expect(spool.stats().bytes).toBeLessThanOrEqual(400);
    spool.close();
  });

  it('keeps segments that open windows still need unless the spool is full', () => {
    const spool = new DiskSpool({ dir: tempDir(), maxBytes: 10_000, segmentBytes: 100, fsync: 'never' });
    spool.retentionFloor = () => 1;
    for (let i = 0; i < 10; i++) spool.append('t', `${'y'.repeat(60)}\n`);
    drain(spool);
    expect(spool.stats().segments).toBe(10); // the window needing segment 1 pins them all
    spool.retentionFloor = () => Infinity;
    spool.releaseSegments(false);
    expect(spool.stats().segments).toBe(1);
    spool.close();
  });
});

describe.skipIf(process.getuid?.() !== 0)('DiskSpool on a full file system', () => {
  it('holds an append that the disk refuses, keeps no partial record, reports it, and writes it once space returns', async () => {
    const dir = tempDir();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'none', dir]);
    try {
      const spool = new DiskSpool({ dir: join(dir), maxBytes: 1024 * 1024, segmentBytes: 512 * 1024, fsync: 'never', retryInitialMs: 10, retryMaxMs: 50, lowDiskBytes: 64 * 1024, diskCheckIntervalMs: 20 });
      expect(spool.append('t', 'm,vehicle=v f=1 1\n')).toBeUndefined();
      // Fill the file system to the last byte.
      const fd = openSync(join(dir, 'filler'), 'w');
      for (const chunk of [64 * 1024, 4096, 1]) {
        const buffer = Buffer.alloc(chunk);
        for (;;) {
          try {
            writeSync(fd, buffer);
          } catch {
            break;
          }
        }
      }
      closeSync(fd);
      const big = `m,vehicle=v f="${'x'.repeat(20_000)}" 2\n`;
      const waiting = spool.append('t', big);
      expect(waiting).toBeDefined();
      const after = spool.append('t', 'm,vehicle=v f=3 3\n'); // queued behind it, never before it
      expect(after).toBeDefined();
      let done = false;
      void Promise.all([waiting, after]).then(() => (done = true));
      await new Promise((r) => setTimeout(r, 200));
      expect(done).toBe(false);
      const stats = spool.stats();
      expect(stats.writeError).toMatch(/ENOSPC/);
      expect(stats.writeErrors).toBeGreaterThan(1); // retried
      expect(stats.blockedAppends).toBe(2);
      expect(stats.lowDisk).toBe(true);
      const segment = readdirSync(dir).find((n) => n.startsWith('wal-'))!;
      expect(statSync(join(dir, segment)).size, 'no partial record left in the segment').toBe(stats.bytes);

      rmSync(join(dir, 'filler'));
      await Promise.all([waiting, after]);
      expect(spool.stats().writeError).toBeUndefined();
      expect(spool.stats().blockedAppends).toBe(0);
      const lines = drain(spool).split('\n').filter((l) => l && !l.startsWith('#'));
      expect(lines.map((l) => l.slice(-1))).toEqual(['1', '2', '3']);
      await new Promise((r) => setTimeout(r, 100));
      expect(spool.stats().lowDisk).toBe(false);
      spool.close();
    } finally {
      execFileSync('umount', ['-l', dir]);
    }
  });
});
