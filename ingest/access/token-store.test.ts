/**
 * The token file: a page's many requests cost one scrypt per token (remembered), a revocation by
 * another process (another store on the same file) holds from the next check on, an unknown id
 * costs a hash like a wrong secret, and a malformed token none.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { scryptHash, type PasswordHasher } from '../../common/secret-hash.ts';
import { FileTokenStore, roleAllows, vehicleScope } from './token-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-token-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('FileTokenStore', () => {
  it('runs scrypt once per token for repeated checks, and again after nothing', async () => {
    let hashes = 0;
    const counting: PasswordHasher = (secret, salt, params) => {
      hashes += 1;
      return scryptHash(secret, salt, params);
    };
    const file = join(dir, 'a.json');
    const { token } = await new FileTokenStore(file).add({ name: 'wallboard', role: 'viewer' });
    const reader = new FileTokenStore(file, { hasher: counting });
    for (let i = 0; i < 5; i++) expect((await reader.verify(token)).ok).toBe(true);
    expect(hashes).toBe(1);
    expect(await reader.verify(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`)).toEqual({ ok: false, reason: 'bad_secret' });
    expect(await reader.verify(`fpt_ffffffffffff_${'a'.repeat(32)}`)).toEqual({ ok: false, reason: 'unknown_token' });
    expect(hashes).toBe(3);
    expect(await reader.verify('Bearer nonsense')).toEqual({ ok: false, reason: 'malformed' });
    expect(hashes).toBe(3);
  });

  it('refuses a token revoked through another store from the next check on', async () => {
    const file = join(dir, 'b.json');
    const writer = new FileTokenStore(file);
    const { token } = await writer.add({ name: 'old', role: 'admin' });
    const reader = new FileTokenStore(file);
    expect((await reader.verify(token)).ok).toBe(true);
    await new FileTokenStore(file).revoke('old');
    expect(await reader.verify(token)).toEqual({ ok: false, reason: 'unknown_token' });
  });

  it('orders roles and scopes vehicles by id or glob', () => {
    expect([roleAllows('viewer', 'admin'), roleAllows('operator', 'viewer'), roleAllows('admin', 'operator'), roleAllows('operator', 'admin')]).toEqual([false, true, true, false]);
    const visible = vehicleScope({ vehicles: ['van-*', 'car-7'] });
    expect(['van-1', 'car-7', 'car-70', 'xvan-1'].filter(visible)).toEqual(['van-1', 'car-7']);
    expect(vehicleScope({})('anything')).toBe(true);
  });
});
