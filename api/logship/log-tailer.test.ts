import { appendFileSync, copyFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogTailer } from './log-tailer.ts';

const line = (n: number) => `{"id":"r${n}"}`;
const write = (file: string, from: number, to: number) => appendFileSync(file, Array.from({ length: to - from }, (_, i) => `${line(from + i)}\n`).join(''));

describe('LogTailer', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fp-tail-'));
    file = join(dir, 'access.log');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const drain = (t: LogTailer, now: number): string[] => {
    const out: string[] = [];
    for (let i = 0; i < 20; i++) out.push(...t.read(1000, 1 << 20, now));
    return out;
  };

  it('returns only complete lines and waits for the rest of a partial one', () => {
    const t = new LogTailer(file, { rotateGraceMs: 0, maxLineBytes: 1024 });
    expect(t.read(10, 1 << 20)).toEqual([]);
    writeFileSync(file, `${line(0)}\n{"id":"r`);
    expect(t.read(10, 1 << 20)).toEqual([line(0)]);
    appendFileSync(file, '1"}\n');
    expect(t.read(10, 1 << 20)).toEqual([line(1)]);
  });

  it('follows a rename rotation, reading what the writer appended to the old file before reopening', () => {
    const t = new LogTailer(file, { rotateGraceMs: 500, maxLineBytes: 1024 });
    write(file, 0, 5);
    expect(drain(t, 0)).toHaveLength(5);
    renameSync(file, `${file}.1`);
    write(`${file}.1`, 5, 8); // the writer still has the old file open
    write(file, 8, 10); // ... and after reopening writes the new one
    expect(drain(t, 100)).toEqual([5, 6, 7].map(line)); // old file first; grace not over
    expect(drain(t, 700)).toEqual([8, 9].map(line));
    expect(t.stats().rotations).toBe(1);
  });

  it('starts over after a copy-truncate, also when the file grew past the old offset meanwhile', () => {
    const t = new LogTailer(file, { rotateGraceMs: 0, maxLineBytes: 1024 });
    write(file, 0, 3);
    expect(drain(t, 0)).toHaveLength(3);
    copyFileSync(file, `${file}.1`);
    truncateSync(file, 0);
    write(file, 100, 110);
    expect(drain(t, 0)).toEqual(Array.from({ length: 10 }, (_, i) => line(100 + i)));
    expect(t.stats().truncations).toBe(1);
  });

  it('resumes from a checkpoint without repeating or losing lines, also when the file was rotated meanwhile', () => {
    const t1 = new LogTailer(file, { rotateGraceMs: 0, maxLineBytes: 1024 });
    write(file, 0, 4);
    expect(drain(t1, 0)).toHaveLength(4);
    const checkpoint = { v: 1 as const, ...t1.position()!, nextSeq: 0 };
    t1.close();
    write(file, 4, 6);
    renameSync(file, `${file}.1`);
    write(file, 6, 9);
    const t2 = new LogTailer(file, { rotateGraceMs: 0, maxLineBytes: 1024 });
    t2.resume(checkpoint);
    expect(t2.stats().resumedInRotatedFile).toBe(1);
    expect(drain(t2, 10_000)).toEqual([4, 5, 6, 7, 8].map(line));
  });

  it('does not trust a checkpoint whose file was replaced by another with the same inode', () => {
    const t1 = new LogTailer(file, { rotateGraceMs: 0, maxLineBytes: 1024 });
    write(file, 0, 4);
    drain(t1, 0);
    const checkpoint = { v: 1 as const, ...t1.position()!, nextSeq: 0 };
    t1.close();
    writeFileSync(file, ''); // same inode, new content
    write(file, 50, 56);
    const t2 = new LogTailer(file, { rotateGraceMs: 0, maxLineBytes: 1024 });
    t2.resume(checkpoint);
    expect(t2.stats().checkpointFileLost).toBe(1);
    expect(drain(t2, 0)).toEqual([50, 51, 52, 53, 54, 55].map(line));
  });
});
