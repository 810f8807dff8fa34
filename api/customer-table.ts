/**
 * The customer dimension table: API key → customer and plan, kept in a JSON file
 *
 *   { "keys": [ { "key": "k_live_abc…", "customer": "acme", "plan": "pro" }, … ] }
 *
 * Read at start (a missing or invalid file at start is a config error); reloaded when the file's
 * mtime or size changes (polled, `reloadIntervalMs`). A reload that fails keeps the last good
 * table and is counted. Keys are looked up whole (the API) or by their first `KEY_PREFIX_LENGTH`
 * characters (ingest sees only the prefix nginx logs). Unknown keys map to `UNKNOWN_CUSTOMER`.
 */
import { readFileSync, statSync, writeFileSync, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ConfigError, errorMessage } from '../common/errors.ts';
import { type Logger, silentLogger } from '../common/logger.ts';

/** Characters of a key nginx logs and ingest enriches by (the rest never leaves the API host). */
export const KEY_PREFIX_LENGTH = 8;
export const UNKNOWN_CUSTOMER = '_unknown';
export const NO_KEY_CUSTOMER = '_none';

const tableSchema = z.object({
  keys: z
    .array(
      z.object({
        key: z.string().min(KEY_PREFIX_LENGTH + 8).max(128).regex(/^[A-Za-z0-9_-]+$/),
        customer: z.string().min(1).max(64).regex(/^[A-Za-z0-9_.-]+$/),
        plan: z.string().min(1).max(32).regex(/^[A-Za-z0-9_.-]+$/),
      }),
    )
    .max(1_000_000),
});
export type CustomerTableFile = z.infer<typeof tableSchema>;

export interface Customer {
  customer: string;
  plan: string;
}

export interface CustomerTableStats {
  keys: number;
  reloads: number;
  reloadFailures: number;
}

export class CustomerTable {
  private byKey = new Map<string, Customer>();
  private byPrefix = new Map<string, Customer>();
  private signature = '';
  private timer: NodeJS.Timeout | undefined;
  private counters = { reloads: 0, reloadFailures: 0 };
  private readonly log: Logger;

  constructor(
    private readonly file: string,
    options: { reloadIntervalMs?: number; logger?: Logger } = {},
  ) {
    this.log = options.logger ?? silentLogger;
    try {
      this.load();
    } catch (error) {
      throw new ConfigError('customer table', [{ field: 'customersFile', source: file, message: errorMessage(error) }]);
    }
    if (options.reloadIntervalMs) {
      this.timer = setInterval(() => this.reloadIfChanged(), options.reloadIntervalMs);
      this.timer.unref();
    }
  }

  lookupKey(key: string): Customer | undefined {
    return this.byKey.get(key);
  }

  /** The customer of a logged key prefix; `_none` without a key, `_unknown` for keys not in the table. */
  lookupPrefix(prefix: string): Customer {
    if (!prefix) return { customer: NO_KEY_CUSTOMER, plan: NO_KEY_CUSTOMER };
    return this.byPrefix.get(prefix) ?? { customer: UNKNOWN_CUSTOMER, plan: UNKNOWN_CUSTOMER };
  }

  stats(): CustomerTableStats {
    return { keys: this.byKey.size, ...this.counters };
  }

  /** Re-reads the file when it changed; keeps the last good table when the new one is invalid. */
  reloadIfChanged(): boolean {
    let signature: string;
    try {
      const st = statSync(this.file);
      signature = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      return false;
    }
    if (signature === this.signature) return false;
    try {
      this.load();
      this.counters.reloads += 1;
      this.log.info('customer table reloaded', { keys: this.byKey.size });
      return true;
    } catch (error) {
      this.signature = signature;
      this.counters.reloadFailures += 1;
      this.log.warn('customer table reload failed; keeping the previous one', { file: this.file, error: errorMessage(error) });
      return false;
    }
  }

  private load(): void {
    const st = statSync(this.file);
    const parsed = tableSchema.parse(JSON.parse(readFileSync(this.file, 'utf8')));
    const byKey = new Map<string, Customer>();
    const byPrefix = new Map<string, Customer>();
    for (const row of parsed.keys) {
      const customer = { customer: row.customer, plan: row.plan };
      byKey.set(row.key, customer);
      byPrefix.set(row.key.slice(0, KEY_PREFIX_LENGTH), customer);
    }
    this.byKey = byKey;
    this.byPrefix = byPrefix;
    this.signature = `${st.mtimeMs}:${st.size}:${st.ino}`;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** Writes a table atomically (rename), e.g. the demo's generated customers. */
export function writeCustomerTable(file: string, table: CustomerTableFile): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(table, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

/** A fresh random API key whose prefix is unique with overwhelming probability. */
export function generateApiKey(): string {
  return `k${randomBytes(15).toString('base64url').replace(/[^A-Za-z0-9]/g, 'x')}`;
}
