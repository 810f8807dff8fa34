/**
 * Where the shipper is in the access log: the file's identity (device + inode, plus a fingerprint
 * of its first bytes, because a copy-truncate keeps the inode and an inode number can be reused
 * after a delete) and the byte offset just past the last line that is safe in the batch buffer.
 * Saved atomically (write + rename) after every batch is in the buffer.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname } from 'node:path';
import { z } from 'zod';

/** Bytes of the file's beginning that identify it (fewer while the file is shorter). */
export const FINGERPRINT_BYTES = 256;

const checkpointSchema = z.object({
  v: z.literal(1),
  path: z.string(),
  dev: z.number(),
  ino: z.number(),
  offset: z.number().int().nonnegative(),
  fpLen: z.number().int().nonnegative(),
  fp: z.string(),
  nextSeq: z.number().int().nonnegative(),
});
export type FileCheckpoint = z.infer<typeof checkpointSchema>;

export function loadCheckpoint(file: string): FileCheckpoint | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const parsed = checkpointSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export function saveCheckpoint(file: string, checkpoint: FileCheckpoint, fsync: boolean): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(checkpoint));
  if (fsync) {
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** sha256 (hex) of the first `length` bytes of an open file; undefined when it is shorter now. */
export function fingerprint(fd: number, length: number): string | undefined {
  const buf = Buffer.alloc(length);
  const n = length === 0 ? 0 : readSync(fd, buf, 0, length, 0);
  if (n < length) return undefined;
  return createHash('sha256').update(buf).digest('hex');
}
