/**
 * Keeps the LevelDB session store from confirming writes that a restart would take back.
 *
 * When LevelDB cannot append a record to its log (ENOSPC, EIO), that write fails, but the log is
 * left with a torn record behind which LevelDB keeps appending: later writes succeed in memory and
 * are reported done, yet recovery stops at the tear and never sees them. Measured on a 4 MiB tmpfs
 * filled to ENOSPC and then emptied: 300 puts after the failure all succeeded, and all 300 were
 * gone after a reopen. LevelDB starts a clean log only when it is reopened.
 *
 * So after the first write error:
 * - every further write fails at once with `SessionStoreUnavailable`, and a write that was in
 *   flight when the error was seen fails too, even if LevelDB said yes (where it landed relative to
 *   the tear is unknown) — callers never get a success that a restart would undo;
 * - the database is closed and reopened (recovery keeps everything before the tear and starts a new
 *   log), retried with backoff while the disk is still full; then writes are accepted again.
 * Reads are passed through; while the database is closed for the reopen they fail.
 */
import { Backoff } from '../common/backoff.ts';
import { ERRORS } from '../common/error-codes.ts';
import { FleetpulseError } from '../common/errors.ts';

export interface ReopenableLevel {
  put(...args: unknown[]): Promise<unknown>;
  del(...args: unknown[]): Promise<unknown>;
  batch(...args: unknown[]): unknown;
  clear(...args: unknown[]): Promise<unknown>;
  open(): Promise<void>;
  close(): Promise<void>;
}

export class SessionStoreUnavailable extends FleetpulseError {
  constructor(options?: { cause?: unknown }) {
    super('FP_STORE_UNAVAILABLE', ERRORS.FP_STORE_UNAVAILABLE.message(), options);
    this.name = 'SessionStoreUnavailable';
  }
}

export interface WriteGuardOptions {
  /** A write failed in LevelDB; called once per episode (until the store is writable again). */
  onWriteError(error: unknown): void;
  /** A reopen attempt failed (typically: the disk is still full). */
  onReopenFailed(error: unknown, attempt: number): void;
  /** The store was reopened and accepts writes again. */
  onReopened(attempts: number): void;
  /** Delay between reopen attempts. Default 100 ms doubling to 5 s. */
  backoff?: Backoff;
}

export interface WriteGuard {
  /** False from a write error until the store has been reopened. */
  readonly writable: boolean;
  /** Stops reopening (the broker is closing). */
  stop(): void;
}

export function guardLevelWrites(db: ReopenableLevel, options: WriteGuardOptions): WriteGuard {
  let writable = true;
  // Increases with every write error: a write that started in an earlier epoch cannot be trusted.
  let epoch = 0;
  let stopped = false;
  const backoff = options.backoff ?? new Backoff({ initialMs: 100, maxMs: 5000 });

  const reopen = async (): Promise<void> => {
    let attempts = 0;
    backoff.reset();
    for (;;) {
      if (stopped) return;
      attempts += 1;
      try {
        await db.close();
        if (stopped) return;
        await db.open();
        epoch += 1;
        writable = true;
        options.onReopened(attempts);
        return;
      } catch (error) {
        options.onReopenFailed(error, attempts);
      }
      await new Promise((resolve) => setTimeout(resolve, backoff.next()).unref());
    }
  };

  const failed = (error: unknown): void => {
    epoch += 1;
    if (!writable) return;
    writable = false;
    options.onWriteError(error);
    void reopen();
  };

  const unavailable = (cause?: unknown): SessionStoreUnavailable =>
    new SessionStoreUnavailable(cause === undefined ? undefined : { cause });

  const guarded = async <T>(write: () => Promise<T>): Promise<T> => {
    if (!writable) throw unavailable();
    const started = epoch;
    let result: T;
    try {
      result = await write();
    } catch (error) {
      // Writes refused while the store closes for its reopen are part of the same episode.
      if (started === epoch && writable) failed(error);
      throw error instanceof SessionStoreUnavailable ? error : unavailable(error);
    }
    if (started !== epoch) throw unavailable();
    return result;
  };

  const put = db.put.bind(db);
  const del = db.del.bind(db);
  const clear = db.clear.bind(db);
  const batch = db.batch.bind(db);
  db.put = (...args) => guarded(() => put(...args));
  db.del = (...args) => guarded(() => del(...args));
  db.clear = (...args) => guarded(() => clear(...args));
  db.batch = (...args) => {
    if (args.length > 0) return guarded(() => batch(...args) as Promise<unknown>);
    // A chained batch writes once, on write().
    const chained = batch() as { write: (...a: unknown[]) => Promise<unknown> };
    const write = chained.write.bind(chained);
    chained.write = (...a) => guarded(() => write(...a));
    return chained;
  };

  return {
    get writable() {
      return writable;
    },
    stop() {
      stopped = true;
    },
  };
}
