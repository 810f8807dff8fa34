/**
 * The query API's and the dashboard's access tokens: one JSON file (default
 * `<dataDir>/ingest/tokens.json`, mode 0600) holding, per token, its name, role, optional vehicle
 * scope and an scrypt hash of its secret — never the token itself (common/secret-hash.ts, as the
 * broker's device store).
 *
 * A token reads `fpt_<id>_<secret>`: the id (12 hex digits) finds the record without trying every
 * hash; the secret (24 random bytes) is what scrypt checks. It is returned once, by `add`.
 *
 * Guarantees:
 * - Writes are atomic (temporary file + rename) under an exclusive lock file; `tokens add` and
 *   `tokens revoke` may run while ingest reads the file.
 * - `verify` re-reads the file when its modification time changed, so a revocation holds from the
 *   next request on; a success is remembered in memory (bounded by `VERIFIED_CACHE_MAX`, keyed by
 *   id) so a page's many requests cost one scrypt, not one each.
 * - An unknown id costs the same scrypt as a wrong secret: a refusal's time does not tell which
 *   ids exist.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../../common/atomic-file.ts';
import { UsageError } from '../../common/errors.ts';
import { acquireLock, generateSecret, hashSecret, rememberedDigest, scryptHash, SECRET_SCRYPT, verifySecret, type PasswordHasher } from '../../common/secret-hash.ts';
import { globToRegExp } from '../../common/glob.ts';

/** viewer reads; operator reads and acts on vehicles (baseline reset); admin also manages tokens. */
export const TOKEN_ROLES = ['viewer', 'operator', 'admin'] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

const RANK: Record<TokenRole, number> = { viewer: 0, operator: 1, admin: 2 };

/** Whether `role` may do what `needed` may. */
export function roleAllows(role: TokenRole, needed: TokenRole): boolean {
  return RANK[role] >= RANK[needed];
}

export const TOKEN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const TOKEN_PATTERN = /^fpt_([0-9a-f]{12})_([A-Za-z0-9_-]{32})$/;

/** Who a verified token is: what the API and the dashboard authorise against. */
export interface TokenIdentity {
  id: string;
  name: string;
  role: TokenRole;
  /** Vehicle ids or globs (`van-*`) a viewer is limited to; absent = every vehicle. */
  vehicles?: string[];
}

export interface TokenInfo extends TokenIdentity {
  createdAt: string;
}

export type TokenVerifyResult = { ok: true; identity: TokenIdentity } | { ok: false; reason: 'malformed' | 'unknown_token' | 'bad_secret' };

const recordSchema = z.object({
  id: z.string().regex(/^[0-9a-f]{12}$/),
  name: z.string().regex(TOKEN_NAME_PATTERN),
  role: z.enum(TOKEN_ROLES),
  vehicles: z.array(z.string().min(1)).min(1).optional(),
  createdAt: z.string(),
  scrypt: z.object({ N: z.number().int(), r: z.number().int(), p: z.number().int(), keylen: z.number().int() }),
  salt: z.string(),
  hash: z.string(),
});
type TokenRecord = z.infer<typeof recordSchema>;
const fileSchema = z.object({ version: z.literal(1), tokens: z.array(recordSchema) });

/** Most tokens remembered as verified; past it the oldest is forgotten (it costs one scrypt again). */
const VERIFIED_CACHE_MAX = 10_000;

function identityOf(record: TokenRecord): TokenIdentity {
  return { id: record.id, name: record.name, role: record.role, ...(record.vehicles ? { vehicles: [...record.vehicles] } : {}) };
}

/** A predicate for the vehicles an identity may see (every vehicle when it has no scope). */
export function vehicleScope(identity: Pick<TokenIdentity, 'vehicles'>): (vehicle: string) => boolean {
  if (!identity.vehicles) return () => true;
  const patterns = identity.vehicles.map(globToRegExp);
  return (vehicle) => patterns.some((p) => p.test(vehicle));
}

export interface NewToken {
  name: string;
  role: TokenRole;
  vehicles?: readonly string[];
}

export class FileTokenStore {
  private records = new Map<string, TokenRecord>();
  private loadedMtimeMs = -1;
  private readonly verified = new Map<string, Buffer>();
  private readonly hasher: PasswordHasher;

  constructor(
    readonly path: string,
    options: { hasher?: PasswordHasher } = {},
  ) {
    this.hasher = options.hasher ?? scryptHash;
    this.reload();
  }

  /** Re-reads the file if its modification time changed; a missing file is an empty store. */
  reload(): void {
    let mtimeMs = 0;
    try {
      mtimeMs = statSync(this.path).mtimeMs;
    } catch {
      mtimeMs = 0;
    }
    if (mtimeMs === this.loadedMtimeMs) return;
    this.records = this.readFile();
    this.loadedMtimeMs = mtimeMs;
    for (const id of this.verified.keys()) if (!this.records.has(id)) this.verified.delete(id);
  }

  private readFile(): Map<string, TokenRecord> {
    if (!existsSync(this.path)) return new Map();
    let parsed: z.infer<typeof fileSchema>;
    try {
      parsed = fileSchema.parse(JSON.parse(readFileSync(this.path, 'utf8')));
    } catch (error) {
      throw new UsageError(`token file ${this.path} is not valid: ${error instanceof Error ? error.message : String(error)}`);
    }
    return new Map(parsed.tokens.map((t) => [t.id, t]));
  }

  list(): TokenInfo[] {
    return [...this.records.values()].map((r) => ({ ...identityOf(r), createdAt: r.createdAt })).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Whether a token with this id is in the file (as last read). */
  hasId(id: string): boolean {
    return this.records.has(id);
  }

  get size(): number {
    return this.records.size;
  }

  /** Adds a token; the token text is returned once and only its hash is stored. Throws UsageError for a name in use. */
  async add(token: NewToken): Promise<{ identity: TokenIdentity; token: string }> {
    if (!TOKEN_NAME_PATTERN.test(token.name)) throw new UsageError(`invalid token name ${JSON.stringify(token.name)}: letters, digits, '.', '_' or '-', at most 64`);
    if (token.vehicles && token.vehicles.length === 0) throw new UsageError('a vehicle scope must list at least one vehicle or glob');
    const id = randomBytes(6).toString('hex');
    const secret = generateSecret();
    const stored = await hashSecret(secret, this.hasher);
    return this.update((records) => {
      if ([...records.values()].some((r) => r.name === token.name)) throw new UsageError(`token '${token.name}' already exists (revoke it first)`);
      const record: TokenRecord = { id, name: token.name, role: token.role, ...(token.vehicles ? { vehicles: [...token.vehicles] } : {}), createdAt: new Date().toISOString(), ...stored };
      records.set(id, record);
      return { identity: identityOf(record), token: `fpt_${id}_${secret}` };
    });
  }

  /** Removes a token by name; requests carrying it are refused from then on. */
  async revoke(name: string): Promise<TokenIdentity> {
    return this.update((records) => {
      const record = [...records.values()].find((r) => r.name === name);
      if (!record) throw new UsageError(`no token '${name}'`);
      records.delete(record.id);
      return identityOf(record);
    });
  }

  /** Checks a token (scrypt, unless this token was verified before and is still in the file). */
  async verify(token: string): Promise<TokenVerifyResult> {
    const match = TOKEN_PATTERN.exec(token);
    if (!match) return { ok: false, reason: 'malformed' };
    const [, id, secret] = match as unknown as [string, string, string];
    this.reload();
    const record = this.records.get(id);
    if (!record) {
      await this.hasher(secret, randomBytes(16), SECRET_SCRYPT); // as slow as a wrong secret
      return { ok: false, reason: 'unknown_token' };
    }
    const digest = rememberedDigest(record.salt, secret);
    const remembered = this.verified.get(id);
    if (remembered?.equals(digest)) return { ok: true, identity: identityOf(record) };
    if (!(await verifySecret(record, secret, this.hasher))) return { ok: false, reason: 'bad_secret' };
    if (this.records.get(id) !== record) return { ok: false, reason: 'unknown_token' }; // revoked while scrypt ran
    if (this.verified.size >= VERIFIED_CACHE_MAX) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(id, digest);
    return { ok: true, identity: identityOf(record) };
  }

  /** Read-modify-write under the lock, from the file's current content (another process may have written). */
  private async update<T>(change: (records: Map<string, TokenRecord>) => T): Promise<T> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const release = await acquireLock(`${this.path}.lock`);
    try {
      const records = this.readFile();
      const result = change(records);
      writeFileAtomic(this.path, `${JSON.stringify({ version: 1, tokens: [...records.values()] }, null, 2)}\n`, 0o600);
      chmodSync(this.path, 0o600);
      this.loadedMtimeMs = -1;
      this.reload();
      return result;
    } finally {
      release();
    }
  }
}
