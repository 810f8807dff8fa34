import { describe, expect, it } from 'vitest';
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
});
