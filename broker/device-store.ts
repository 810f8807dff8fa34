/**
 * The broker's credential store: one JSON file (default `<dataDir>/broker/devices.json`) holding, per
 * identity, its role and an scrypt hash of its password — never the password itself.
 *
 * Guarantees:
 * - Writes are atomic (temporary file + rename in the same directory), so a broker reading the file
 *   never sees half of it; concurrent writers are serialised with an exclusive lock file.
 * - Passwords are generated here (24 random bytes, base64url) and returned once by `add`/`rotate`.
 * - `verify` runs scrypt on libuv's thread pool; a success is remembered in memory (bounded, keyed by
 *   identity and credential generation) so that a reconnect storm does not repeat scrypt for every
 *   vehicle. Any change of the record (rotate, revoke) invalidates what was remembered.
 * - `verify` costs the same scrypt for a name that does not exist as for a wrong password (a dummy
 *   hash with the parameters `add` uses), so the time of a refusal does not tell which names exist.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unwatchFile, watchFile, writeFileSync, fsyncSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { UsageError } from '../common/errors.ts';
import { acquireLock, generateSecret, rememberedDigest as secretDigest, SECRET_SCRYPT as SCRYPT, type PasswordHasher, type ScryptParams, scryptHash } from '../common/secret-hash.ts';
import { isValidVehicleId } from '../contracts/topics.ts';
import { collidingNames } from './client-id-binding.ts';

export const DEVICE_ROLES = ['vehicle', 'ingest', 'logship', 'viewer', 'operator'] as const;
export type DeviceRole = (typeof DEVICE_ROLES)[number];

/** What the broker knows about a connected client once its password checked out. */
export interface DeviceIdentity {
  username: string;
  role: DeviceRole;
  /** Set for role `vehicle`: the only vehicle whose topics this identity may use (= username). */
  vehicleId?: string;
  /** Increases on every rotation: a session authenticated with an older generation is stale. */
  generation: number;
}

export interface DeviceInfo extends DeviceIdentity {
  createdAt: string;
  rotatedAt?: string;
}

export { scryptHash, type PasswordHasher, type ScryptParams } from '../common/secret-hash.ts';

/** The outcome of a password check; a refusal says why (for counters and logs, never for the client). */
export type VerifyResult = { ok: true; identity: DeviceIdentity } | { ok: false; reason: 'unknown_user' | 'bad_password' };

const recordSchema = z.object({
  username: z.string(),
  role: z.enum(DEVICE_ROLES),
  vehicleId: z.string().optional(),
  generation: z.number().int().min(1),
  createdAt: z.string(),
  rotatedAt: z.string().optional(),
  scrypt: z.object({ N: z.number().int(), r: z.number().int(), p: z.number().int(), keylen: z.number().int() }),
  salt: z.string(),
  hash: z.string(),
});
type DeviceRecord = z.infer<typeof recordSchema>;

const fileSchema = z.object({ version: z.literal(1), devices: z.array(recordSchema) });

/** Usernames: the vehicle id pattern (so a vehicle's username is its id) for every role. */
export function isValidUsername(name: string): boolean {
  return isValidVehicleId(name);
}

export function generatePassword(): string {
  return generateSecret();
}

function toIdentity(record: DeviceRecord): DeviceIdentity {
  return { username: record.username, role: record.role, generation: record.generation, ...(record.vehicleId ? { vehicleId: record.vehicleId } : {}) };
}

export interface NewDevice {
  username: string;
  role: DeviceRole;
}

/** Most identities remembered as verified; past it the oldest entry is forgotten (it costs one scrypt). */
const VERIFIED_CACHE_MAX = 100_000;

export class FileDeviceStore {
  private records = new Map<string, DeviceRecord>();
  private loadedMtimeMs = -1;
  private readonly verified = new Map<string, { generation: number; digest: Buffer }>();
  private readonly hasher: PasswordHasher;
  private hashMsAverage = 0;

  constructor(
    readonly path: string,
    options: { hasher?: PasswordHasher } = {},
  ) {
    this.hasher = options.hasher ?? scryptHash;
    this.reload();
  }

  /** Typical time of one password hash here (moving average), for refusals that skip the hash but must not look faster. */
  get typicalHashMs(): number {
    return this.hashMsAverage;
  }

  private async hash(password: Buffer | string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
    const started = performance.now();
    try {
      return await this.hasher(password, salt, params);
    } finally {
      const ms = performance.now() - started;
      this.hashMsAverage = this.hashMsAverage === 0 ? ms : this.hashMsAverage * 0.9 + ms * 0.1;
    }
  }

  /** Re-reads the file if it changed; a missing file is an empty store. Returns true when it changed. */
  reload(): boolean {
    let mtimeMs = 0;
    try {
      mtimeMs = statSync(this.path).mtimeMs;
    } catch {
      mtimeMs = 0;
    }
    if (mtimeMs === this.loadedMtimeMs && mtimeMs !== 0) return false;
    const next = this.readFile();
    this.loadedMtimeMs = mtimeMs;
    const before = JSON.stringify([...this.records.values()].map((r) => [r.username, r.generation, r.role]));
    this.records = next;
    for (const [username, entry] of this.verified) {
      if (this.records.get(username)?.generation !== entry.generation) this.verified.delete(username);
    }
    return before !== JSON.stringify([...next.values()].map((r) => [r.username, r.generation, r.role]));
  }

  private readFile(): Map<string, DeviceRecord> {
    if (!existsSync(this.path)) return new Map();
    const text = readFileSync(this.path, 'utf8');
    let parsed: z.infer<typeof fileSchema>;
    try {
      parsed = fileSchema.parse(JSON.parse(text));
    } catch (error) {
      throw new UsageError(`device store ${this.path} is not valid: ${error instanceof Error ? error.message : String(error)}`);
    }
    return new Map(parsed.devices.map((d) => [d.username, d]));
  }

  list(): DeviceInfo[] {
    return [...this.records.values()]
      .map((r) => ({ ...toIdentity(r), createdAt: r.createdAt, ...(r.rotatedAt ? { rotatedAt: r.rotatedAt } : {}) }))
      .sort((a, b) => a.username.localeCompare(b.username));
  }

  get(username: string): DeviceIdentity | undefined {
    const record = this.records.get(username);
    return record ? toIdentity(record) : undefined;
  }

  get size(): number {
    return this.records.size;
  }

  has(username: string): boolean {
    return this.records.has(username);
  }

  /** When the identity was created (ISO time), or undefined if it does not exist. */
  createdAt(username: string): string | undefined {
    return this.records.get(username)?.createdAt;
  }

  /** Adds an identity with a fresh password, returned once. Throws UsageError if it exists. */
  async add(device: NewDevice): Promise<{ identity: DeviceIdentity; password: string }> {
    const [result] = await this.addMany([device]);
    return result!;
  }

  /**
   * Adds several identities in one write; with `replace`, existing ones get a new password (rotation).
   * Passwords may be supplied (e.g. `fleetpulse up` keeps them for its simulated vehicles).
   */
  async addMany(devices: ReadonlyArray<NewDevice & { password?: string }>, options: { replace?: boolean } = {}): Promise<Array<{ identity: DeviceIdentity; password: string }>> {
    for (const d of devices) {
      if (!isValidUsername(d.username)) throw new UsageError(`invalid device name ${JSON.stringify(d.username)}: letters, digits, '.', '_' or '-', at most 64`);
    }
    const prepared = await Promise.all(
      devices.map(async (d) => {
        const password = d.password ?? generatePassword();
        const salt = randomBytes(16);
        const hash = await this.hash(password, salt, SCRYPT);
        return { d, password, salt, hash };
      }),
    );
    return this.update((records) => {
      const now = new Date().toISOString();
      return prepared.map(({ d, password, salt, hash }) => {
        const existing = records.get(d.username);
        if (existing && !options.replace) throw new UsageError(`device '${d.username}' already exists (use rotate for a new password)`);
        if (!existing) refuseSharedClientIds(d.username, records);
        const record: DeviceRecord = {
          username: d.username,
          role: d.role,
          ...(d.role === 'vehicle' ? { vehicleId: d.username } : {}),
          generation: (existing?.generation ?? 0) + 1,
          createdAt: existing?.createdAt ?? now,
          ...(existing ? { rotatedAt: now } : {}),
          scrypt: { ...SCRYPT },
          salt: salt.toString('base64'),
          hash: hash.toString('base64'),
        };
        records.set(d.username, record);
        return { identity: toIdentity(record), password };
      });
    });
  }

  /** Gives an identity a new password (returned once); sessions using the old one become stale. */
  async rotate(username: string): Promise<{ identity: DeviceIdentity; password: string }> {
    const existing = this.records.get(username) ?? this.readFile().get(username);
    if (!existing) throw new UsageError(`no device '${username}'`);
    const [result] = await this.addMany([{ username, role: existing.role }], { replace: true });
    return result!;
  }

  /** Removes an identity; a running broker disconnects it when it notices the change. */
  async revoke(username: string): Promise<DeviceIdentity> {
    return this.update((records) => {
      const existing = records.get(username);
      if (!existing) throw new UsageError(`no device '${username}'`);
      records.delete(username);
      return toIdentity(existing);
    });
  }

  /** Checks a password with scrypt (unless this password was verified before). */
  async verify(username: string, password: Buffer): Promise<VerifyResult> {
    const record = this.records.get(username);
    if (!record) {
      // The same work as for a wrong password: a refusal must not be faster for a name that does not exist.
      await this.hash(password, randomBytes(16), SCRYPT);
      return { ok: false, reason: 'unknown_user' };
    }
    const remembered = this.verifyRemembered(username, password);
    if (remembered) return { ok: true, identity: remembered };
    const expected = Buffer.from(record.hash, 'base64');
    const actual = await this.hash(password, Buffer.from(record.salt, 'base64'), record.scrypt);
    if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) return { ok: false, reason: 'bad_password' };
    // The record may have been rotated while scrypt ran.
    if (this.records.get(username) !== record) return { ok: false, reason: 'bad_password' };
    if (this.verified.size >= VERIFIED_CACHE_MAX) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(username, { generation: record.generation, digest: rememberedDigest(record, password) });
    return { ok: true, identity: toIdentity(record) };
  }

  /**
   * Checks a password only against the passwords verified before (no scrypt): the identity if this
   * password of its current generation checked out earlier, otherwise `undefined`.
   */
  verifyRemembered(username: string, password: Buffer): DeviceIdentity | undefined {
    const record = this.records.get(username);
    const cached = this.verified.get(username);
    if (!record || !cached || cached.generation !== record.generation) return undefined;
    return timingSafeEqual(cached.digest, rememberedDigest(record, password)) ? toIdentity(record) : undefined;
  }

  /**
   * Polls the file (every `intervalMs`) and calls `onChange` after a reload that changed something.
   * Polling rather than fs.watch: it survives the rename of an atomic write and works on every
   * file system. Returns a function that stops watching.
   */
  watch(onChange: () => void, intervalMs = 500, onError: (error: unknown) => void = () => {}): () => void {
    const listener = (): void => {
      try {
        if (this.reload()) onChange();
      } catch (error) {
        onError(error); // a broken file keeps the last good state
      }
    };
    watchFile(this.path, { interval: intervalMs, persistent: false }, listener);
    return () => unwatchFile(this.path, listener);
  }

  /** Read-modify-write under the lock, from the file's current content (another process may have written). */
  private async update<T>(change: (records: Map<string, DeviceRecord>) => T): Promise<T> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const release = await acquireLock(`${this.path}.lock`);
    try {
      const records = this.readFile();
      const result = change(records);
      const body = JSON.stringify({ version: 1, devices: [...records.values()] }, null, 2);
      const tmp = join(dirname(this.path), `.devices-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
      const fd = openSync(tmp, 'w', 0o600);
      try {
        writeFileSync(fd, `${body}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.path);
      this.loadedMtimeMs = -1;
      this.reload();
      return result;
    } finally {
      release();
    }
  }
}

/** A new name must not match a client id of an existing identity (client-id-binding.ts). */
function refuseSharedClientIds(username: string, records: ReadonlyMap<string, DeviceRecord>): void {
  const clash = collidingNames(username).find(({ name }) => records.has(name));
  if (clash) {
    throw new UsageError(
      `device name '${username}' would share client id '${clash.clientId}' with device '${clash.name}', and each would evict the other's session: choose another name`,
    );
  }
}

function rememberedDigest(record: DeviceRecord, password: Buffer): Buffer {
  return secretDigest(record.salt, password);
}
