import { join } from 'node:path';
import { Level } from 'level';
import { afterEach, describe, expect, it } from 'vitest';
import { Backoff } from '../common/backoff.ts';
import { mountTmpfs, type Tmpfs } from '../test/broker/tmpfs.ts';
import { guardLevelWrites, SessionStoreUnavailable, type ReopenableLevel } from './guarded-level-writes.ts';

/** Keys in the database after it was closed and opened again (what a restart would find). */
async function keysAfterReopen(db: Level<string, string>): Promise<Set<string>> {
  await db.close();
  await db.open();
  return new Set(await db.keys().all());
}

describe('guardLevelWrites (LevelDB on a tmpfs filled to ENOSPC)', () => {
  let disk: Tmpfs | undefined;
  let db: Level<string, string> | undefined;
  afterEach(async () => {
    await db?.close();
    disk?.unmount();
    disk = undefined;
  });

  it('confirms only writes that survive a reopen, and accepts writes again once space is back', async () => {
    disk = mountTmpfs(4 * 1024 * 1024);
    db = new Level<string, string>(join(disk.dir, 'db'));
    await db.open();
    const events: string[] = [];
    const guard = guardLevelWrites(db as unknown as ReopenableLevel, {
      onWriteError: () => events.push('error'),
      onReopenFailed: () => events.push('reopen-failed'),
      onReopened: () => events.push('reopened'),
      backoff: new Backoff({ initialMs: 20, maxMs: 50, random: () => 1 }),
    });
    const confirmed = new Set<string>();
    const put = async (key: string): Promise<boolean> => {
      try {
        await db!.put(key, 'x'.repeat(300));
        confirmed.add(key);
        return true;
      } catch {
        return false;
      }
    };

    for (let i = 0; i < 10; i++) expect(await put(`before-${i}`)).toBe(true);
    disk.fill();
    const whileFull = await Promise.all(Array.from({ length: 50 }, (_, i) => put(`full-${i}`)));
    expect(whileFull.filter((ok) => !ok).length).toBeGreaterThan(0);
    expect(guard.writable).toBe(false);
    // Refused at once while the store is broken, without reaching LevelDB.
    await expect(db.put('refused', 'x')).rejects.toBeInstanceOf(SessionStoreUnavailable);

    disk.free();
    const deadline = Date.now() + 10_000;
    while (!guard.writable && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(guard.writable).toBe(true);
    expect(events[0]).toBe('error');
    expect(events.at(-1)).toBe('reopened');
    for (let i = 0; i < 300; i++) expect(await put(`after-${i}`)).toBe(true);

    // Unguarded, the 300 writes after the failure were confirmed and then lost here.
    const kept = await keysAfterReopen(db);
    expect([...confirmed].filter((key) => !kept.has(key))).toEqual([]);
    guard.stop();
  });
});
