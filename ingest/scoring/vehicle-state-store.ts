/**
 * Ingest's durable copy of every vehicle's feature path state (models/vehicle-feature-path.ts:
 * recent evidence + learned baseline, `encode()`d, ≈ 0.3–1 KB), one SQLite database per worker
 * (better-sqlite3).
 *
 * Guarantees:
 * - `commit` writes the states (and the model inputs of the windows just scored, see
 *   `PendingInputs`) of one scored batch in **one transaction**; it returns once SQLite has
 *   committed. WAL journal; `synchronous=NORMAL` (a process crash loses nothing committed, a power
 *   loss may lose the last commits, as the spool's default fsync policy) or `FULL` (fsync per
 *   commit, for `--spool-fsync always`).
 * - `locking_mode=EXCLUSIVE`: a second worker on the same file fails at start instead of
 *   interleaving states; the lock dies with the process.
 * - Bounded by the fleet: one row per vehicle (state + the inputs of its last scored batch); reset
 *   events are kept for the last `maxEvents` (oldest deleted).
 * - A state of another format (an older feature list) decodes as a fresh vehicle (the path
 *   decides, `VehicleFeaturePath.decode`): the worker re-learns rather than fail.
 */
import type Database from 'better-sqlite3';
import { openWorkerDatabase } from '../../common/worker-database.ts';

export interface StoredVehicleState {
  state: Buffer;
  /** Model inputs of the windows of the vehicle's last scored batch (window-inputs.ts), or null. */
  pending: Buffer | null;
}

export interface VehicleStateRow extends StoredVehicleState {
  vehicle: string;
  /** 'learning' | 'learned', for operators reading the file. */
  status: string;
  /** Start of the last window the state has seen (ms). */
  lastWindowMs: number;
}

export interface BaselineEvent {
  vehicle: string;
  kind: 'reset';
  reason: string;
  atMs: number;
}

export interface VehicleStateStoreOptions {
  file: string;
  /** fsync every commit (FULL) or leave it to checkpoints (NORMAL). Default NORMAL. */
  synchronous?: 'FULL' | 'NORMAL';
  maxEvents?: number;
}

export class VehicleStateStore {
  private readonly db: Database.Database;
  private readonly sql;
  private readonly maxEvents: number;
  private readonly transaction: (rows: readonly VehicleStateRow[], events: readonly BaselineEvent[]) => void;
  private counters = { commits: 0, rowsWritten: 0, bytesWritten: 0, reads: 0 };

  constructor(readonly options: VehicleStateStoreOptions) {
    this.maxEvents = options.maxEvents ?? 100_000;
    this.db = openWorkerDatabase({
      file: options.file,
      ...(options.synchronous ? { synchronous: options.synchronous } : {}),
      field: 'vehicleStateFile',
      what: 'vehicle state',
      schema: `
        CREATE TABLE IF NOT EXISTS vehicle_state (
          vehicle TEXT PRIMARY KEY, state BLOB NOT NULL, pending BLOB, status TEXT NOT NULL, last_window_ms INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS baseline_events (
          id INTEGER PRIMARY KEY, vehicle TEXT NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL, at_ms INTEGER NOT NULL);`,
    });
    this.sql = {
      get: this.db.prepare<[string], StoredVehicleState>('SELECT state, pending FROM vehicle_state WHERE vehicle = ?'),
      put: this.db.prepare<[string, Buffer, Buffer | null, string, number]>(
        'INSERT INTO vehicle_state(vehicle, state, pending, status, last_window_ms) VALUES (?, ?, ?, ?, ?) ' +
          'ON CONFLICT(vehicle) DO UPDATE SET state = excluded.state, pending = excluded.pending, status = excluded.status, last_window_ms = excluded.last_window_ms',
      ),
      vehicles: this.db.prepare<[], { vehicle: string }>('SELECT vehicle FROM vehicle_state'),
      remove: this.db.prepare<[string]>('DELETE FROM vehicle_state WHERE vehicle = ?'),
      count: this.db.prepare<[], { n: number; bytes: number }>('SELECT count(*) AS n, coalesce(sum(length(state) + coalesce(length(pending), 0)), 0) AS bytes FROM vehicle_state'),
      event: this.db.prepare<[string, string, string, number]>('INSERT INTO baseline_events(vehicle, kind, reason, at_ms) VALUES (?, ?, ?, ?)'),
      trimEvents: this.db.prepare<[number]>('DELETE FROM baseline_events WHERE id <= (SELECT max(id) FROM baseline_events) - ?'),
      events: this.db.prepare<[string], { vehicle: string; kind: 'reset'; reason: string; atMs: number }>('SELECT vehicle, kind, reason, at_ms AS atMs FROM baseline_events WHERE vehicle = ? ORDER BY id'),
    };
    this.transaction = this.db.transaction((rows: readonly VehicleStateRow[], events: readonly BaselineEvent[]) => {
      for (const r of rows) this.sql.put.run(r.vehicle, r.state, r.pending, r.status, r.lastWindowMs);
      for (const e of events) this.sql.event.run(e.vehicle, e.kind, e.reason, e.atMs);
      if (events.length > 0) this.sql.trimEvents.run(this.maxEvents);
    });
  }

  get(vehicle: string): StoredVehicleState | undefined {
    this.counters.reads += 1;
    return this.sql.get.get(vehicle);
  }

  /** Writes the rows and events in one transaction (see the module comment). */
  commit(rows: readonly VehicleStateRow[], events: readonly BaselineEvent[] = []): void {
    if (rows.length === 0 && events.length === 0) return;
    this.transaction(rows, events);
    this.counters.commits += 1;
    this.counters.rowsWritten += rows.length;
    for (const r of rows) this.counters.bytesWritten += r.state.length + (r.pending?.length ?? 0);
  }

  /** Reset and other baseline events of a vehicle, oldest first. */
  events(vehicle: string): BaselineEvent[] {
    return this.sql.events.all(vehicle);
  }

  /**
   * Forgets the vehicles `keep` rejects (a worker started with other shards: those vehicles are
   * now another worker's, and if they come back the shared copy is newer). Returns how many.
   */
  forgetUnless(keep: (vehicle: string) => boolean): number {
    const gone = this.sql.vehicles.all().filter((r) => !keep(r.vehicle));
    this.db.transaction(() => {
      for (const r of gone) this.sql.remove.run(r.vehicle);
    })();
    return gone.length;
  }

  /** Vehicles held and the bytes of their states and pending inputs. */
  size(): { vehicles: number; bytes: number } {
    const r = this.sql.count.get()!;
    return { vehicles: r.n, bytes: r.bytes };
  }

  stats() {
    return { ...this.counters };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
