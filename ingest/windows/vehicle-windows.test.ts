import { describe, expect, it } from 'vitest';
import { vehicleWindower } from '../../models/window-dataset.ts';
import { VehicleWindows, type WindowOptions } from './vehicle-windows.ts';

const base: WindowOptions = { sizeMs: 10_000, slideMs: 10_000, allowedLatenessMs: 2_000, idleTimeoutMs: 5_000, maxVehicles: 100, maxBufferedSamples: 10_000 };
const s = (t: number) => ({ t });

describe('VehicleWindows', () => {
  it('closes a tumbling window once the vehicle watermark passes its end plus lateness', () => {
    const w = new VehicleWindows(base);
    expect(w.add('a', [s(1000), s(5000), s(9999)], 1, 0).closed).toEqual([]);
    expect(w.add('a', [s(11_000)], 1, 0).closed).toEqual([]); // watermark 9000 < 10000
    const { closed } = w.add('a', [s(12_000)], 1, 0);
    expect(closed.map((c) => [c.startMs, c.endMs, c.samples.map((x) => x.t)])).toEqual([[0, 10_000, [1000, 5000, 9999]]]);
    expect(w.stats(0).windowsClosed.watermark).toBe(1);
  });

  it('accepts samples within lateness, counts later ones and does not reopen closed windows', () => {
    const w = new VehicleWindows(base);
    w.add('a', [s(1000), s(11_000)], 1, 0);
    expect(w.add('a', [s(9000)], 1, 0).late).toBe(0); // watermark 9000: still open
    const { closed } = w.add('a', [s(13_000)], 1, 0);
    expect(closed[0]!.samples.map((x) => x.t)).toEqual([1000, 9000]);
    expect(w.add('a', [s(2000), s(14_000)], 1, 0).late).toBe(1);
    expect(w.stats(0).lateSamples).toBe(1);
  });

  it('keeps watermarks per vehicle: one vehicle far behind does not make another late', () => {
    const w = new VehicleWindows(base);
    w.add('now', [s(1_000_000)], 1, 0);
    expect(w.add('backlog', [s(1000)], 1, 0).late).toBe(0);
    const closed = w.add('backlog', [s(30_000)], 1, 0).closed;
    expect(closed.map((c) => c.startMs)).toEqual([0]); // empty windows are skipped
  });

  it('closes a quiet vehicle\'s windows after the idle timeout', () => {
    const w = new VehicleWindows(base);
    w.add('a', [s(1000), s(11_000)], 1, 100);
    expect(w.closeIdle(4_000)).toEqual([]);
    const closed = w.closeIdle(5_100);
    expect(closed.map((c) => [c.startMs, c.reason])).toEqual([[0, 'idle'], [10_000, 'idle']]);
    expect(w.stats(5_100).bufferedSamples).toBe(0);
    expect(w.add('a', [s(11_500)], 1, 6_000).late).toBe(1);
  });

  it('puts a sample into size/slide windows when sliding', () => {
    const w = new VehicleWindows({ ...base, slideMs: 5_000, allowedLatenessMs: 0 });
    w.add('a', [s(6000)], 1, 0);
    const { closed } = w.add('a', [s(40_000)], 1, 0);
    expect(closed.map((c) => c.startMs)).toEqual([0, 5000]);
  });

  it('deduplicates a redelivered sample and tracks the spool segments open windows need', () => {
    const w = new VehicleWindows(base);
    w.add('a', [s(1000), s(2000)], 3, 0);
    w.add('b', [s(1000)], 4, 0);
    w.add('a', [s(2000)], 5, 0);
    expect(w.stats(0).bufferedSamples).toBe(3);
    expect(w.retentionFloor()).toBe(3);
    w.add('a', [s(20_000)], 6, 0);
    expect(w.retentionFloor()).toBe(4);
  });

  it('bounds vehicles and buffered samples, closing windows early and counting it', () => {
    const w = new VehicleWindows({ ...base, maxVehicles: 2, maxBufferedSamples: 3 });
    w.add('a', [s(1000)], 1, 0);
    w.add('b', [s(1000)], 1, 0);
    const evicted = w.add('c', [s(1000)], 1, 0).closed;
    expect(evicted.map((c) => [c.vehicle, c.reason])).toEqual([['a', 'evicted']]);
    const bounded = w.add('c', [s(2000), s(3000)], 1, 0).closed;
    expect(bounded.map((c) => [c.vehicle, c.reason])).toEqual([['b', 'bound']]);
    const st = w.stats(0);
    expect(st.vehicles).toBe(2);
    expect(st.vehiclesEvicted).toBe(1);
    expect(st.bufferedSamples).toBeLessThanOrEqual(3);
  });

  it('replay: windows before a restored closedUpTo are not emitted again', () => {
    const w = new VehicleWindows(base);
    w.restoreClosedUpTo('a', 10_000, 0);
    const r = w.add('a', [s(5000), s(15_000), s(40_000)], 1, 0, false);
    expect(r.closed.map((c) => c.startMs)).toEqual([10_000]);
    expect(w.stats(0).lateSamples).toBe(0);
  });

  describe('forward clock jumps', () => {
    const jumpy: WindowOptions = { ...base, jump: { maxJumpMs: 60_000, confirmItems: 3 } };
    const HOUR = 3_600_000;
    const run = (from: number, n: number, step = 1000) => Array.from({ length: n }, (_, i) => s(from + i * step));

    it('does not let one sample far ahead move the watermark: the timeline goes on, the stray sample is dropped when the vehicle goes idle', () => {
      const w = new VehicleWindows(jumpy);
      w.add('a', run(0, 5), 1, 0);
      expect(w.add('a', [s(HOUR)], 2, 0).closed).toEqual([]); // held, not followed
      expect(w.stats(0).clockJumpSamplesHeld).toBe(1);
      const { closed, late } = w.add('a', run(5000, 20), 3, 0);
      expect(late).toBe(0);
      expect(closed.map((c) => [c.startMs, c.samples.length])).toEqual([[0, 10], [10_000, 10]]);
      expect(w.retentionFloor()).toBe(2); // the held sample's segment is kept
      const idle = w.closeIdle(10_000);
      expect(idle.map((c) => [c.startMs, c.samples.length])).toEqual([[20_000, 5]]);
      expect(w.retentionFloor()).toBe(Infinity);
      const st = w.stats(10_000);
      expect([st.clockJumpsFollowed, st.clockJumpSamplesDiscarded, st.clockJumpSamplesHeld, st.lateSamples]).toEqual([0, 1, 0, 0]);
    });

    it('follows a real jump once a consistent run confirms it: every sample of the run is in the new windows', () => {
      const w = new VehicleWindows(jumpy);
      w.add('a', run(0, 5), 1, 0);
      expect(w.add('a', run(HOUR, 2), 2, 0).closed).toEqual([]);
      expect(w.retentionFloor()).toBe(1);
      const { closed } = w.add('a', run(HOUR + 2000, 20), 3, 0); // NTP set the clock: the run continues
      expect(closed.map((c) => [c.startMs, c.samples.length])).toEqual([[0, 5], [HOUR, 10]]);
      expect(w.add('a', [s(9000)], 4, 0).late).toBe(1); // the old timeline is over
      expect(w.stats(0).clockJumpsFollowed).toBe(1);
      expect(w.closeIdle(10_000).map((c) => [c.startMs, c.samples.length])).toEqual([[HOUR + 10_000, 10], [HOUR + 20_000, 2]]);
    });

    it('admits a held run when the timeline catches up with it (a backlog reaching the present), and replaces a run that is not continued', () => {
      const w = new VehicleWindows(jumpy);
      w.add('a', [s(0)], 1, 0);
      w.add('a', [s(10 * 60_000)], 2, 0); // held
      w.add('a', [s(5 * 60_000)], 3, 0); // another run: the first is dropped
      expect(w.stats(0).clockJumpSamplesDiscarded).toBe(1);
      // The backlog (one sample a minute) reaches the held run and takes it in: nothing is late.
      const windowed: number[] = [];
      let late = 0;
      for (let t = 60_000; t <= 8 * 60_000; t += 60_000) {
        const r = w.add('a', [s(t)], 4, 0);
        late += r.late;
        windowed.push(...r.closed.flatMap((c) => c.samples.map((x) => x.t)));
      }
      expect(late).toBe(0);
      const st = w.stats(0);
      expect([st.clockJumpSamplesHeld, st.clockJumpsFollowed]).toEqual([0, 0]);
      windowed.push(...w.closeIdle(10_000).flatMap((c) => c.samples.map((x) => x.t)));
      expect(windowed).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8].map((m) => m * 60_000));
    });
  });

  it('cuts the same windows as the model\'s window dataset (models/window-dataset.ts), redeliveries and disorder included', () => {
    // Chunks of 64 as the dataset feeds them; samples repeat (an at-least-once archive) and step back within a chunk.
    const samples = Array.from({ length: 2000 }, (_, i) => ({ t: 1_000_000 + i * 700 - (i % 7 === 3 ? 1400 : 0), v: i }));
    const repeated = samples.flatMap((x, i) => (i % 11 === 0 ? [x, { ...x, v: -x.v }] : [x]));
    const ingest = new VehicleWindows<{ t: number; v: number }>({ ...base, sizeMs: 30_000, slideMs: 30_000, allowedLatenessMs: 0, idleTimeoutMs: 0 });
    const windower = vehicleWindower<{ t: number; v: number }>(30_000);
    const fromIngest: unknown[] = [];
    const fromDataset: unknown[] = [];
    for (let i = 0; i < repeated.length; i += 64) {
      const chunk = repeated.slice(i, i + 64);
      fromIngest.push(...ingest.add('v', chunk, 1, 0).closed.map((c) => [c.startMs, c.samples]));
      fromDataset.push(...windower.push(chunk).map((c) => [c.startMs, c.samples]));
    }
    fromIngest.push(...ingest.closeIdle(Infinity).map((c) => [c.startMs, c.samples]));
    fromDataset.push(...windower.end().map((c) => [c.startMs, c.samples]));
    expect(fromIngest.length).toBeGreaterThan(40);
    expect(fromDataset).toEqual(fromIngest);
  });
});
