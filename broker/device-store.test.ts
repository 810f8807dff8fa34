import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileDeviceStore, scryptHash, type PasswordHasher, type ScryptParams } from './device-store.ts';

describe('FileDeviceStore', () => {
  const dirs: string[] = [];
  const fresh = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'fp-devices-'));
    dirs.push(dir);
    return join(dir, 'broker', 'devices.json');
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('stores only an scrypt hash, in a private file, and verifies the password', async () => {
    const path = fresh();
    const store = new FileDeviceStore(path);
    const { password, identity } = await store.add({ username: 'car-1', role: 'vehicle' });
    expect(identity).toEqual({ username: 'car-1', role: 'vehicle', vehicleId: 'car-1', generation: 1 });
    expect(password.length).toBeGreaterThanOrEqual(32);
    const text = readFileSync(path, 'utf8');
    expect(text).not.toContain(password);
    expect(JSON.parse(text).devices[0].scrypt.N).toBe(16384);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await store.verify('car-1', Buffer.from(password))).toMatchObject({ ok: true, identity: { username: 'car-1' } });
    expect(await store.verify('car-1', Buffer.from(password))).toMatchObject({ ok: true, identity: { username: 'car-1' } }); // cached path
    expect(await store.verify('car-1', Buffer.from(`${password}x`))).toEqual({ ok: false, reason: 'bad_password' });
    expect(await store.verify('car-2', Buffer.from(password))).toEqual({ ok: false, reason: 'unknown_user' });
  });

  it('runs the same scrypt for an unknown user as for a wrong password, so the time tells nothing', async () => {
    const path = fresh();
    const { password } = await new FileDeviceStore(path).add({ username: 'car-1', role: 'vehicle' });
    const calls: ScryptParams[] = [];
    const countingHasher: PasswordHasher = (secret, salt, params) => {
      calls.push(params);
      return scryptHash(secret, salt, params);
    };
    const store = new FileDeviceStore(path, { hasher: countingHasher });
    expect(await store.verify('nobody', Buffer.from('guess'))).toEqual({ ok: false, reason: 'unknown_user' });
    expect(await store.verify('car-1', Buffer.from('guess'))).toEqual({ ok: false, reason: 'bad_password' });
    expect(calls).toEqual([JSON.parse(readFileSync(path, 'utf8')).devices[0].scrypt, JSON.parse(readFileSync(path, 'utf8')).devices[0].scrypt]);
    // A remembered success costs no scrypt; only a verified password is remembered.
    expect(store.verifyRemembered('car-1', Buffer.from(password))).toBeUndefined();
    expect((await store.verify('car-1', Buffer.from(password))).ok).toBe(true);
    expect(store.verifyRemembered('car-1', Buffer.from(password))).toMatchObject({ username: 'car-1' });
    expect(store.verifyRemembered('car-1', Buffer.from('guess'))).toBeUndefined();
    expect(calls).toHaveLength(3);
  });

  it('refuses duplicates and bad names', async () => {
    const store = new FileDeviceStore(fresh());
    await store.add({ username: 'ing', role: 'ingest' });
    await expect(store.add({ username: 'ing', role: 'ingest' })).rejects.toMatchObject({ code: 'FP_USAGE', message: expect.stringContaining("'ing'") });
    await expect(store.add({ username: 'a/b', role: 'vehicle' })).rejects.toMatchObject({ code: 'FP_USAGE', message: expect.stringContaining('"a/b"') });
  });

  it('rotation invalidates the old password (also one verified before), revocation removes the identity', async () => {
    const path = fresh();
    const store = new FileDeviceStore(path);
    const first = await store.add({ username: 'car-1', role: 'vehicle' });
    expect((await store.verify('car-1', Buffer.from(first.password))).ok).toBe(true);
    const second = await store.rotate('car-1');
    expect(second.identity.generation).toBe(2);
    expect((await store.verify('car-1', Buffer.from(first.password))).ok).toBe(false);
    expect(store.verifyRemembered('car-1', Buffer.from(first.password))).toBeUndefined();
    expect((await store.verify('car-1', Buffer.from(second.password))).ok).toBe(true);

    // Another process (here: another instance) revokes; this one notices on reload.
    await new FileDeviceStore(path).revoke('car-1');
    expect(store.reload()).toBe(true);
    expect(await store.verify('car-1', Buffer.from(second.password))).toEqual({ ok: false, reason: 'unknown_user' });
    expect(store.verifyRemembered('car-1', Buffer.from(second.password))).toBeUndefined();
    expect(store.list()).toEqual([]);
    await expect(store.revoke('car-1')).rejects.toMatchObject({ code: 'FP_USAGE', message: expect.stringContaining("'car-1'") });
  });

  it('keeps concurrent writers from losing each other\'s updates', async () => {
    const path = fresh();
    const a = new FileDeviceStore(path);
    const b = new FileDeviceStore(path);
    await Promise.all([a.add({ username: 'x1', role: 'viewer' }), b.add({ username: 'x2', role: 'viewer' }), a.add({ username: 'x3', role: 'logship' })]);
    expect(new FileDeviceStore(path).list().map((d) => d.username)).toEqual(['x1', 'x2', 'x3']);
  });
});
