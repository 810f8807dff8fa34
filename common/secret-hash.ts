/**
 * Hashing of generated secrets at rest (broker device passwords, query API tokens): scrypt on
 * libuv's thread pool with a random salt, compared in constant time, plus the exclusive lock file
 * that serialises writers of a credential file.
 *
 * Guarantees: a stored record holds salt, parameters and hash, never the secret; `verifySecret`
 * takes the same time whether the hashes differ early or late (timingSafeEqual).
 */
import { closeSync, openSync, rmSync, statSync } from 'node:fs';
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { UsageError } from './errors.ts';

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
  keylen: number;
}

/** scrypt cost. N = 2^14 (16 MiB, ~25 ms here): secrets are 192-bit random, not chosen by people,
 * so the hash guards against a leaked file without needing a cost that would slow down reconnects. */
export const SECRET_SCRYPT: Readonly<ScryptParams> = { N: 16_384, r: 8, p: 1, keylen: 32 };

/** Hashes a secret; injectable so that tests can count the work done. */
export type PasswordHasher = (password: Buffer | string, salt: Buffer, params: ScryptParams) => Promise<Buffer>;

export const scryptHash: PasswordHasher = (password, salt, params) => {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => scryptCb(password, salt, params.keylen, options, (error, key) => (error ? reject(error) : resolve(key))));
};

/** 24 random bytes, base64url: what `devices add` and `tokens add` hand out once. */
export function generateSecret(): string {
  return randomBytes(24).toString('base64url');
}

/** What a credential file stores for one secret. */
export interface StoredHash {
  scrypt: ScryptParams;
  salt: string;
  hash: string;
}

export async function hashSecret(secret: string, hasher: PasswordHasher = scryptHash): Promise<StoredHash> {
  const salt = randomBytes(16);
  const hash = await hasher(secret, salt, SECRET_SCRYPT);
  return { scrypt: { ...SECRET_SCRYPT }, salt: salt.toString('base64'), hash: hash.toString('base64') };
}

/** True when `secret` hashes to the stored hash. */
export async function verifySecret(stored: StoredHash, secret: Buffer | string, hasher: PasswordHasher = scryptHash): Promise<boolean> {
  const expected = Buffer.from(stored.hash, 'base64');
  const actual = await hasher(secret, Buffer.from(stored.salt, 'base64'), stored.scrypt);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** A cheap digest of a secret already verified by scrypt, to remember it in memory (never stored). */
export function rememberedDigest(salt: string, secret: Buffer | string): Buffer {
  return createHash('sha256').update(salt).update(secret).digest();
}

/** An exclusive lock file; one left behind by a crashed writer is taken over after 10 s. */
export async function acquireLock(path: string): Promise<() => void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      closeSync(openSync(path, 'wx', 0o600));
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      try {
        if (Date.now() - statSync(path).mtimeMs > 10_000) rmSync(path, { force: true });
      } catch {
        // gone meanwhile: retry at once
      }
      if (Date.now() > deadline) throw new UsageError(`${path} is locked; remove the file if no other fleetpulse is writing`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
