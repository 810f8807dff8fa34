/**
 * Every vehicle's feature path (models/vehicle-feature-path.ts) as ingest keeps it: closed
 * windows → the path's model inputs (recent evidence + deviations from the vehicle's baseline),
 * with the state persisted before the window's score is stored.
 *
 * Guarantees:
 * - **Order.** `inputs` takes a batch of windows in closing order and runs them through their
 *   vehicles' paths in that order; calls (and resets) run one after the other, never interleaved.
 * - **Durable before scored.** Before `inputs` resolves, the new state of every vehicle of the
 *   batch, with the model inputs of its windows in the batch, is committed to the local store
 *   (vehicle-state-store.ts). The caller stores the `anomaly` points afterwards, so after a crash a
 *   window handed over again is either new to its path (state not committed: computed as the first
 *   time) or answered from the stored inputs (bit for bit the first answer).
 * - **Loaded on demand.** Decoded paths live in an LRU of `maxCached` vehicles (≈ 5 KB each;
 *   evictions counted); a miss reads the local store; a vehicle the local store does not have is
 *   looked up in the shared copy (InfluxDB `vehicle_state`, shared-vehicle-state.ts) — read ahead
 *   when its window is queued (`prefetch`), grouped into few queries, so a batch rarely waits — and
 *   otherwise starts learning.
 * - **Shared copy.** A vehicle's state is written to InfluxDB (through the spool, with the batch's
 *   anomaly points) when its baseline status changes and at most every `sharedEveryMs` otherwise
 *   (first write after a start spread over that interval). A worker taking over a vehicle therefore
 *   starts from a state at most `sharedEveryMs` (+ the spool's delay to InfluxDB) old, and never
 *   from one older than the vehicle's last status change: a learned baseline is never lost; what
 *   can be lost is the recent evidence and learning progress of that interval.
 * - **Reset** (`reset`): the vehicle's baseline is forgotten and learnt again from its next
 *   windows (recent evidence is kept); the event is committed with the state, written to InfluxDB
 *   (`baseline_events`), and resolves once durable.
 */
import { errorMessage } from '../../common/errors.ts';
import { type Logger, silentLogger } from '../../common/logger.ts';
import type { FeatureVector } from '../../models/features.ts';
import type { BaselineOptions, BaselineStatus } from '../../models/vehicle-baseline.ts';
import { VehicleFeaturePath } from '../../models/vehicle-feature-path.ts';
import { baselineEventLine, vehicleStateLine } from '../influxdb/line-protocol.ts';
import type { SharedVehicleState } from './shared-vehicle-state.ts';
import type { BaselineEvent, VehicleStateRow, VehicleStateStore } from './vehicle-state-store.ts';
import { decodeWindowInputs, encodeWindowInputs, type WindowInputs } from './window-inputs.ts';

export interface PathWindow {
  vehicle: string;
  startMs: number;
  /** The window's own features (computeFeatures), as ingest spooled them. */
  features: FeatureVector;
}

export interface PathResult extends WindowInputs {
  /** True when the inputs came from the store (the window was scored before a crash). */
  replayed: boolean;
  /** The vehicle's path after the batch: its baseline's normals explain an alert. */
  path: VehicleFeaturePath;
}

export interface VehiclePathsOptions {
  /** Without a store the paths live in memory only (tests, library use). */
  store?: VehicleStateStore;
  shared?: SharedVehicleState;
  /** Decoded paths kept in memory (default 4096). */
  maxCached?: number;
  /** Vehicles per shared-copy query (default 2000); see `prefetch`. */
  maxPrefetch?: number;
  /** Shared copy at most this often per vehicle (ms, default 15 min); 0 = never write it. */
  sharedEveryMs?: number;
  baseline?: BaselineOptions;
  logger?: Logger;
  now?: () => number;
}

interface Entry {
  path: VehicleFeaturePath;
  /** Inputs of the windows of the vehicle's last committed batch (answers for replays). */
  stored: WindowInputs[];
  sharedAtMs: number;
  sharedStatus: BaselineStatus | undefined;
}

export interface VehiclePathsStats {
  cached: number;
  evicted: number;
  loadedLocal: number;
  loadedShared: number;
  fresh: number;
  sharedReadFailures: number;
  sharedWrites: number;
  replayedWindows: number;
  resets: number;
  commitSeconds: number;
  commitFailures: number;
}

export class VehiclePaths {
  private readonly cache = new Map<string, Entry>();
  private readonly maxCached: number;
  private readonly sharedEveryMs: number;
  private readonly log: Logger;
  private readonly now: () => number;
  private serial: Promise<unknown> = Promise.resolve();
  /** Vehicles whose shared copy is wanted, and the reads under way or done (vehicle → its state, if any). */
  private readonly wanted = new Set<string>();
  private readonly lookups = new Map<string, Promise<Buffer | undefined>>();
  /**
   * Vehicles loaded since the start: they have a local row (committed with their first batch), so
   * they need no shared read. ~60 bytes each; cleared at MAX_KNOWN (then a re-check costs a store read).
   */
  private readonly known = new Set<string>();
  private prefetching: Promise<void> | undefined;
  private readonly maxPrefetch: number;
  private counters = { evicted: 0, loadedLocal: 0, loadedShared: 0, fresh: 0, sharedReadFailures: 0, sharedWrites: 0, replayedWindows: 0, resets: 0, commitSeconds: 0, commitFailures: 0 };

  constructor(private readonly options: VehiclePathsOptions = {}) {
    this.maxCached = Math.max(1, options.maxCached ?? 4096);
    this.sharedEveryMs = options.sharedEveryMs ?? 15 * 60_000;
    this.maxPrefetch = options.maxPrefetch ?? 2000;
    this.log = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
  }

  /**
   * Model inputs of a batch of windows, in order, and the InfluxDB lines to store with their
   * scores (shared copies). Resolves once the states are committed.
   */
  inputs(windows: readonly PathWindow[]): Promise<{ results: PathResult[]; lines: string }> {
    return this.exclusive(async () => {
      await this.load(windows.map((w) => w.vehicle));
      const results: PathResult[] = [];
      const batch = new Map<string, WindowInputs[]>();
      for (const w of windows) {
        const entry = this.cache.get(w.vehicle)!;
        const stored = entry.stored.find((s) => s.startMs === w.startMs);
        if (stored && w.startMs <= entry.path.baseline.snapshot().lastStartMs) {
          this.counters.replayedWindows += 1;
          results.push({ ...stored, replayed: true, path: entry.path });
          continue;
        }
        const out = entry.path.fromFeatures(w.startMs, finite(w.features));
        const { running_s: _r, warm_running_s: _w, ...model } = out.features;
        const inputs: WindowInputs = { startMs: w.startMs, features: model, status: out.status, progress: out.progress };
        let list = batch.get(w.vehicle);
        if (!list) batch.set(w.vehicle, (list = []));
        list.push(inputs);
        results.push({ ...inputs, replayed: false, path: entry.path });
      }
      const lines = this.commit(batch, []);
      this.evict();
      return { results, lines };
    });
  }

  /** Forgets a vehicle's baseline (after a repair); resolves with the line to store once committed. */
  reset(vehicle: string, reason: string): Promise<string> {
    return this.exclusive(async () => {
      await this.load([vehicle]);
      const entry = this.cache.get(vehicle)!;
      entry.path.resetBaseline();
      this.counters.resets += 1;
      const atMs = this.now();
      const event: BaselineEvent = { vehicle, kind: 'reset', reason, atMs };
      const lines = this.commit(new Map([[vehicle, []]]), [event]) + baselineEventLine(vehicle, 'reset', reason, atMs);
      this.log.info('baseline reset', { vehicle, reason });
      return lines;
    });
  }

  /** The vehicle's baseline status and progress, when it is in memory. */
  status(vehicle: string): { status: BaselineStatus; progress: number } | undefined {
    const p = this.cache.get(vehicle)?.path;
    return p ? { status: p.baseline.status, progress: p.baseline.progress } : undefined;
  }

  stats(): VehiclePathsStats {
    return { cached: this.cache.size, ...this.counters };
  }

  /** Waits for what runs, then closes the store. */
  async close(): Promise<void> {
    await this.idle();
    this.options.store?.close();
  }

  /** Waits for the running call. */
  async idle(): Promise<void> {
    await this.serial.catch(() => undefined);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.serial.then(fn, fn);
    this.serial = run.catch(() => undefined);
    return run;
  }

  /**
   * Starts reading the shared copy of a vehicle that is in neither the cache nor the local store, in
   * the background, so that its batch does not wait for InfluxDB: called when the window is queued
   * (scoring runs batches later). Reads are grouped (`maxPrefetch` vehicles per query, one query in
   * flight); at most `maxPrefetch` × 4 vehicles wait, beyond that the batch reads them itself.
   */
  prefetch(vehicle: string): void {
    if (!this.options.shared || this.known.has(vehicle) || this.lookups.has(vehicle) || this.wanted.has(vehicle)) return;
    if (this.wanted.size + this.lookups.size >= this.maxPrefetch * 4) return;
    this.wanted.add(vehicle);
    // Started on the next turn of the event loop, so the windows queued in this one share a query.
    this.prefetching ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.runPrefetch());
  }

  private async runPrefetch(): Promise<void> {
    try {
      while (this.wanted.size > 0) {
        const chunk: string[] = [];
        for (const v of this.wanted) {
          this.wanted.delete(v);
          if (this.cache.has(v) || this.lookups.has(v)) continue;
          if (this.options.store?.get(v)) continue; // it is ours: no shared read
          chunk.push(v);
          if (chunk.length >= this.maxPrefetch) break;
        }
        if (chunk.length === 0) continue;
        const read = this.readShared(chunk);
        await read;
      }
    } finally {
      this.prefetching = undefined;
    }
  }

  /** One shared read for `vehicles`; each vehicle's lookup resolves to its state, or undefined (none, or unreadable). */
  private readShared(vehicles: readonly string[]): Promise<void> {
    const read = this.options.shared!.read(vehicles).then((result) => {
      if (!result.ok) {
        this.counters.sharedReadFailures += 1;
        this.log.warn('shared vehicle state unreadable; these vehicles start learning', { vehicles: vehicles.length, error: result.error ?? '' });
      }
      return result.states;
    });
    for (const v of vehicles) {
      this.lookups.set(
        v,
        read.then((states) => states.get(v)?.state),
      );
    }
    return read.then(() => undefined);
  }

  /** Brings every vehicle into the cache: memory, local store, shared copy (prefetched or read now), or a fresh path. */
  private async load(vehicles: readonly string[]): Promise<void> {
    const missing: string[] = [];
    for (const vehicle of new Set(vehicles)) {
      const entry = this.cache.get(vehicle);
      if (entry) {
        this.cache.delete(vehicle);
        this.cache.set(vehicle, entry); // most recently used last
        continue;
      }
      const row = this.options.store?.get(vehicle);
      if (row) {
        this.counters.loadedLocal += 1;
        this.lookups.delete(vehicle);
        this.put(vehicle, VehicleFeaturePath.decode(row.state, this.options.baseline), row.pending ? decodeWindowInputs(row.pending) : []);
      } else {
        missing.push(vehicle);
      }
    }
    if (missing.length === 0) return;
    if (this.options.shared) {
      // Not read ahead yet (the batch came before the read-ahead's turn): read them now, as one query.
      const unread = missing.filter((v) => !this.lookups.has(v));
      for (const v of unread) this.wanted.delete(v);
      if (unread.length > 0) void this.readShared(unread);
    }
    for (const vehicle of missing) {
      const lookup = this.lookups.get(vehicle);
      this.lookups.delete(vehicle);
      const copy = lookup ? await lookup : undefined;
      if (copy) this.counters.loadedShared += 1;
      else this.counters.fresh += 1;
      this.put(vehicle, copy ? VehicleFeaturePath.decode(copy, this.options.baseline) : new VehicleFeaturePath(this.options.baseline), []);
    }
  }

  private put(vehicle: string, path: VehicleFeaturePath, stored: WindowInputs[]): void {
    if (this.known.size >= MAX_KNOWN) this.known.clear();
    this.known.add(vehicle);
    // Spread the first shared write of every vehicle over the interval, so a restart does not write them all at once.
    const jitter = this.sharedEveryMs > 0 ? hashFraction(vehicle) * this.sharedEveryMs : 0;
    this.cache.set(vehicle, { path, stored, sharedAtMs: this.now() - jitter, sharedStatus: path.baseline.status });
  }

  /** Commits the vehicles' states (one transaction) and returns the shared-copy lines due. */
  private commit(batch: ReadonlyMap<string, WindowInputs[]>, events: BaselineEvent[]): string {
    const rows: VehicleStateRow[] = [];
    let lines = '';
    const now = this.now();
    for (const [vehicle, windows] of batch) {
      const entry = this.cache.get(vehicle)!;
      const state = entry.path.encode();
      const status = entry.path.baseline.status;
      const lastWindowMs = entry.path.baseline.snapshot().lastStartMs;
      rows.push({ vehicle, state, pending: windows.length > 0 ? encodeWindowInputs(windows) : null, status, lastWindowMs: Number.isFinite(lastWindowMs) ? lastWindowMs : 0 });
      entry.stored = windows;
      if (this.sharedEveryMs > 0 && (status !== entry.sharedStatus || events.length > 0 || now - entry.sharedAtMs >= this.sharedEveryMs)) {
        lines += vehicleStateLine(vehicle, state, status, Number.isFinite(lastWindowMs) ? lastWindowMs : 0);
        entry.sharedAtMs = now;
        entry.sharedStatus = status;
        this.counters.sharedWrites += 1;
      }
    }
    const started = performance.now();
    try {
      this.options.store?.commit(rows, events);
    } catch (error) {
      // A full disk: scoring goes on from memory. Every row is a whole state, so the vehicle's next
      // commit repairs it; only a crash before then loses the batch's learning (counted, logged).
      this.counters.commitFailures += 1;
      this.log.error('vehicle states not committed', { vehicles: rows.length, error: errorMessage(error) });
    } finally {
      this.counters.commitSeconds += (performance.now() - started) / 1000;
    }
    return lines;
  }

  private evict(): void {
    while (this.cache.size > this.maxCached) {
      const oldest = this.cache.keys().next().value!;
      this.cache.delete(oldest);
      this.counters.evicted += 1;
    }
  }
}

const MAX_KNOWN = 1_000_000;

/** Present, finite values only (a spooled window's absent features read back as NaN). */
function finite(features: FeatureVector): FeatureVector {
  const out: FeatureVector = {};
  for (const [k, v] of Object.entries(features)) if (Number.isFinite(v)) out[k] = v;
  return out;
}

function hashFraction(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h / 2 ** 32;
}
