/**
 * VehiclePaths over the real SQLite store and a real influxd: a window scored again after a
 * "crash" (a new VehiclePaths on the same file) gets exactly its first inputs, also when its batch
 * held later windows of the same vehicle; the LRU evicts and reloads from the store; a reset
 * is recorded and makes the vehicle learn again; a vehicle whose shard moves continues on another
 * worker from the shared copy in InfluxDB; the shared copy unreadable is a counted value.
 */
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeFeatures, type FeatureVector } from '../../models/features.ts';
import { VehicleFeaturePath } from '../../models/vehicle-feature-path.ts';
import { SharedVehicleState } from '../../ingest/scoring/shared-vehicle-state.ts';
import { VehiclePaths, type PathWindow } from '../../ingest/scoring/vehicle-paths.ts';
import { VehicleStateStore } from '../../ingest/scoring/vehicle-state-store.ts';
import { decodeWindowInputs, encodeWindowInputs } from '../../ingest/scoring/window-inputs.ts';
import { startRestartableTestInfluxd, type RestartableTestInfluxd } from '../support/influx.ts';
import { simulatedWindows, WINDOW_MS } from './scoring-fixtures.ts';

const LEARN = { learnHours: 0.25 };
const own: FeatureVector[] = simulatedWindows(undefined, 0, 60, 16).map(computeFeatures);
const windowsOf = (vehicle: string, from: number, to: number): PathWindow[] => own.slice(from, to).map((features, i) => ({ vehicle, startMs: (from + i) * WINDOW_MS, features }));
const strip = (r: { features: FeatureVector; status: string; progress: number }) => ({ features: Object.fromEntries(Object.entries(r.features).map(([k, v]) => [k, Math.fround(v)])), status: r.status, progress: Math.fround(r.progress) });

describe('VehiclePaths', () => {
  let dir: string;
  let influx: RestartableTestInfluxd;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fleetpulse-paths-'));
    influx = await startRestartableTestInfluxd();
  });
  afterAll(async () => {
    await influx?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers windows scored again after a crash with their first inputs, even when their batch held later windows', async () => {
    const file = join(dir, 'replay.sqlite');
    const first = new VehiclePaths({ store: new VehicleStateStore({ file }), baseline: LEARN });
    await first.inputs(windowsOf('car', 0, 40)); // learns its normal
    const batch = windowsOf('car', 40, 44); // four windows of one vehicle in one batch
    const { results } = await first.inputs(batch);
    expect(results.every((r) => r.status === 'learned' && !r.replayed)).toBe(true);
    await first.close(); // the process dies after the commit, before the scores are stored
    // What the path alone would answer for the batch's first window now (it has seen all four): not the first answer.
    const decoded = VehicleFeaturePath.decode(await stateOf(file), LEARN);
    const alone = decoded.fromFeatures(batch[0]!.startMs, batch[0]!.features);
    expect(strip({ ...alone, features: withoutContext(alone.features) })).not.toEqual(strip(results[0]!));

    const second = new VehiclePaths({ store: new VehicleStateStore({ file }), baseline: LEARN });
    const again = await second.inputs(batch);
    expect(again.results.every((r) => r.replayed)).toBe(true);
    expect(again.results.map(strip)).toEqual(results.map(strip));
    expect(second.stats()).toMatchObject({ loadedLocal: 1, replayedWindows: 4 });
    // The next new window continues from the committed state.
    const next = await second.inputs(windowsOf('car', 44, 45));
    expect(next.results[0]!.replayed).toBe(false);
    await second.close();
  });

  it('keeps at most maxCached paths decoded and reloads the others from the store', async () => {
    const paths = new VehiclePaths({ store: new VehicleStateStore({ file: join(dir, 'lru.sqlite') }), maxCached: 2, baseline: LEARN });
    const reference = new VehiclePaths({ baseline: LEARN, maxCached: 10 });
    for (let k = 0; k < 10; k++) {
      const batch = ['a', 'b', 'c'].flatMap((v) => windowsOf(v, k, k + 1));
      expect((await paths.inputs(batch)).results.map(strip)).toEqual((await reference.inputs(batch)).results.map(strip));
    }
    expect(paths.stats().cached).toBe(2);
    expect(paths.stats().evicted).toBeGreaterThanOrEqual(9);
    expect(paths.stats().loadedLocal).toBeGreaterThanOrEqual(9);
    await paths.close();
  });

  it('resets a learned baseline: recorded in the store, learning again from the next window', async () => {
    const store = new VehicleStateStore({ file: join(dir, 'reset.sqlite') });
    const paths = new VehiclePaths({ store, baseline: LEARN, now: () => 1_700_000_000_000 });
    await paths.inputs(windowsOf('fixed', 0, 40));
    expect(paths.status('fixed')?.status).toBe('learned');
    const lines = await paths.reset('fixed', 'repair');
    expect(lines).toContain('baseline_events,vehicle=fixed,kind=reset reason="repair" 1700000000000000000');
    expect(lines).toContain('vehicle_state,vehicle=fixed '); // the shared copy follows at once
    expect(store.events('fixed')).toEqual([{ vehicle: 'fixed', kind: 'reset', reason: 'repair', atMs: 1_700_000_000_000 }]);
    const { results } = await paths.inputs(windowsOf('fixed', 40, 41));
    expect(results[0]).toMatchObject({ status: 'learning' });
    expect(Object.keys(results[0]!.features).some((k) => k.endsWith('_dev'))).toBe(false);
    await paths.close();
  });

  it('continues a vehicle whose shard moved from the shared copy in InfluxDB', async () => {
    const db = 'moved';
    await fetch(`${influx.url}/query?q=${encodeURIComponent(`CREATE DATABASE ${db}`)}`, { method: 'POST' });
    const shared = new SharedVehicleState({ influxUrl: influx.url, database: db });
    // Worker A scores the first 41 windows and writes its shared copies (status change, then at most every minute).
    let clock = 0;
    const a = new VehiclePaths({ store: new VehicleStateStore({ file: join(dir, 'worker-a.sqlite') }), shared, sharedEveryMs: 60_000, baseline: LEARN, now: () => clock });
    let lines = '';
    for (let k = 0; k < 41; k++) {
      clock += WINDOW_MS;
      lines += (await a.inputs(windowsOf('mover', k, k + 1))).lines;
    }
    const written = await fetch(`${influx.url}/write?db=${db}&precision=ns`, { method: 'POST', body: lines });
    expect(written.status).toBe(204);
    const stateLines = lines.trim().split('\n');
    expect(stateLines.length).toBeGreaterThanOrEqual(20); // every 2 windows of 30 s, and at the status change
    expect(stateLines.length).toBeLessThanOrEqual(22);
    // Worker B (empty store) takes the vehicle over; it continues exactly where A's last shared copy was
    // (at most a minute behind A: the staleness bound), with the baseline A learnt.
    const last = /state="([^"]+)"/.exec(stateLines.at(-1)!)![1]!;
    const fromCopy = VehicleFeaturePath.decode(Buffer.from(last, 'base64'), LEARN);
    const b = new VehiclePaths({ store: new VehicleStateStore({ file: join(dir, 'worker-b.sqlite') }), shared, baseline: LEARN });
    const onB = await b.inputs(windowsOf('mover', 41, 42));
    expect(b.stats()).toMatchObject({ loadedShared: 1, fresh: 0 });
    const expected = fromCopy.fromFeatures(41 * WINDOW_MS, own[41]!);
    expect(onB.results.map(strip)).toEqual([strip({ ...expected, features: withoutContext(expected.features) })]);
    expect(onB.results[0]!.status).toBe('learned');
    // A vehicle nobody has seen starts learning.
    await b.inputs(windowsOf('newcomer', 0, 1));
    expect(b.stats()).toMatchObject({ loadedShared: 1, fresh: 1 });
    await a.close();
    await b.close();
  });

  it('reads the shared copies of new vehicles ahead, in one query, before their batches', async () => {
    const db = 'prefetch';
    await fetch(`${influx.url}/query?q=${encodeURIComponent(`CREATE DATABASE ${db}`)}`, { method: 'POST' });
    const shared = new SharedVehicleState({ influxUrl: influx.url, database: db });
    const paths = new VehiclePaths({ store: new VehicleStateStore({ file: join(dir, 'prefetch.sqlite') }), shared, baseline: LEARN });
    const vehicles = Array.from({ length: 300 }, (_, i) => `new-${i}`);
    for (const v of vehicles) paths.prefetch(v); // as their windows are queued
    await new Promise((r) => setTimeout(r, 50)); // the scorer's batch comes later (--score-max-delay-ms)
    for (let i = 0; i < vehicles.length; i += 100) await paths.inputs(vehicles.slice(i, i + 100).flatMap((v) => windowsOf(v, 0, 1)));
    expect(paths.stats()).toMatchObject({ fresh: 300, loadedShared: 0, sharedReadFailures: 0 });
    expect(shared.stats().queries).toBe(1);
    // Known now: queued again, they need no read.
    for (const v of vehicles) paths.prefetch(v);
    await paths.inputs(vehicles.flatMap((v) => windowsOf(v, 1, 2)));
    expect(shared.stats().queries).toBe(1);
    await paths.close();
  });

  it('starts a vehicle learning when the shared copy cannot be read, and counts it', async () => {
    const shared = new SharedVehicleState({ influxUrl: 'http://127.0.0.1:9', database: 'x', timeoutMs: 200, attempts: 2 });
    const paths = new VehiclePaths({ store: new VehicleStateStore({ file: join(dir, 'unreadable.sqlite') }), shared, baseline: LEARN });
    const { results } = await paths.inputs(windowsOf('lonely', 0, 1));
    expect(results[0]!.status).toBe('learning');
    expect(paths.stats()).toMatchObject({ sharedReadFailures: 1, fresh: 1 });
    await paths.close();
  });

  it('encodes window inputs exactly as float32 and refuses bytes of another layout', () => {
    const inputs = [{ startMs: 123_000, features: { coolant_temp_moving: 91.123456789, fuel_trim_idle_dev: -2.5 }, status: 'learned' as const, progress: 1 }];
    const back = decodeWindowInputs(encodeWindowInputs(inputs));
    expect(back).toEqual([{ startMs: 123_000, features: { coolant_temp_moving: Math.fround(91.123456789), fuel_trim_idle_dev: -2.5 }, status: 'learned', progress: 1 }]);
    expect(decodeWindowInputs(Buffer.from([1, 2, 3]))).toEqual([]);
  });

  it('bounds the store by the fleet and forgets vehicles of shards the worker gave up', () => {
    const store = new VehicleStateStore({ file: join(dir, 'bound.sqlite') });
    const path = new VehicleFeaturePath(LEARN);
    store.commit(['x1', 'x2', 'y1'].map((vehicle) => ({ vehicle, state: path.encode(), pending: null, status: 'learning', lastWindowMs: 0 })));
    store.commit([{ vehicle: 'x1', state: path.encode(), pending: null, status: 'learning', lastWindowMs: 1 }]);
    expect(store.size().vehicles).toBe(3);
    expect(store.forgetUnless((v) => v.startsWith('x'))).toBe(1);
    expect(store.size().vehicles).toBe(2);
    expect(() => new VehicleStateStore({ file: join(dir, 'bound.sqlite') })).toThrow(/another ingest worker/);
    store.close();
  });
});

async function stateOf(file: string): Promise<Buffer> {
  const store = new VehicleStateStore({ file });
  try {
    return store.get('car')!.state;
  } finally {
    store.close();
  }
}

function withoutContext(f: FeatureVector): FeatureVector {
  const { running_s: _r, warm_running_s: _w, ...rest } = f;
  return rest;
}
