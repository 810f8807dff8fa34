/**
 * A service worker's own SQLite file (better-sqlite3): WAL journal, `locking_mode=EXCLUSIVE` (a
 * second process on the same file fails at start instead of interleaving writes; the lock dies
 * with the process), `synchronous=NORMAL` (a process crash, SIGKILL included, loses nothing
 * committed; a power loss may lose the last commits) or `FULL` (fsync per commit), and its
 * schema created. A file that cannot be opened is a ConfigError naming the option that chose it.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ConfigError, errorMessage } from './errors.ts';

export interface WorkerDatabaseOptions {
  file: string;
  synchronous?: 'FULL' | 'NORMAL';
  /** `CREATE … IF NOT EXISTS` statements. */
  schema: string;
  /** The option that chose `file`, named in the error; and what the file is, for its context. */
  field: string;
  what: string;
}

export function openWorkerDatabase(options: WorkerDatabaseOptions): Database.Database {
  mkdirSync(dirname(options.file), { recursive: true });
  try {
    const db = new Database(options.file, { timeout: 500 });
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous ?? 'NORMAL'}`);
    db.exec(options.schema);
    return db;
  } catch (error) {
    throw new ConfigError(options.what, [{ field: options.field, message: `cannot open ${options.file}: ${errorMessage(error)} (another ingest worker with the same data directory and client id?)` }]);
  }
}
