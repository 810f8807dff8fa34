/**
 * Credentials for the identities `fleetpulse up` runs itself (its ingest worker and simulated
 * vehicles), so that the laptop demo works out of the box with authentication on.
 *
 * The passwords must be known in clear to the processes that use them, so they are kept in
 * `<dataDir>/broker/local-credentials.json` (mode 0600) beside the store, which holds only hashes.
 * Only missing or unknown identities are (re)created, so a restart with the same fleet costs no scrypt.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { FileDeviceStore, type DeviceRole } from './device-store.ts';

const secretsSchema = z.record(z.string(), z.object({ role: z.string(), password: z.string(), generation: z.number() }));

export interface LocalIdentity {
  username: string;
  role: DeviceRole;
}

export async function provisionLocalCredentials(devicesFile: string, secretsFile: string, wanted: readonly LocalIdentity[]): Promise<Map<string, string>> {
  let secrets: z.infer<typeof secretsSchema> = {};
  if (existsSync(secretsFile)) {
    const parsed = secretsSchema.safeParse(JSON.parse(readFileSync(secretsFile, 'utf8')));
    if (parsed.success) secrets = parsed.data;
  }
  const store = new FileDeviceStore(devicesFile);
  const missing = wanted.filter((w) => {
    const known = secrets[w.username];
    const current = store.get(w.username);
    return !known || !current || current.role !== w.role || current.generation !== known.generation || known.role !== w.role;
  });
  if (missing.length > 0) {
    const created = await store.addMany(missing, { replace: true });
    for (const { identity, password } of created) secrets[identity.username] = { role: identity.role, password, generation: identity.generation };
    mkdirSync(dirname(secretsFile), { recursive: true, mode: 0o700 });
    const tmp = `${secretsFile}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, secretsFile);
  }
  return new Map(wanted.map((w) => [w.username, secrets[w.username]!.password]));
}
