import { describe, expect, it } from 'vitest';
import { insertByEventTime } from './insert-by-event-time.ts';
import { KeyedWindows, type ClosedKeyWindow, type KeyedWindowOptions } from './keyed-windows.ts';

interface Item {
  t: number;
  v?: number;
}

/** Windows holding their items' times; `origins` records what each item was added with. */
function windows(over: Partial<KeyedWindowOptions<Item, number[]>> = {}, origins: number[] = []): KeyedWindows<Item, number[]> {
  return new KeyedWindows<Item, number[]>({
    shapes: [{ sizeMs: 10_000, slideMs: 10_000 }],
    allowedLatenessMs: 1000,
    idleTimeoutMs: 5000,
    timeOf: (item) => item.t,
    open: () => [],
    add: (contents, item, _start, origin) => {
      contents.push(item.t);
      origins.push(origin);
    },
    ...over,
  });
}

const items = (...ts: number[]): Item[] => ts.map((t) => ({ t }));
const summary = (closed: readonly ClosedKeyWindow<number[]>[]) => closed.map((w) => [w.key, w.shape, w.startMs, w.reason, w.contents]);

describe('KeyedWindows', () => {
  it('closes a window when its key\'s watermark (newest time − lateness) reaches its end, once', () => {
    const w = windows();
    expect(w.add('a', items(1000, 9000, 10_500), 0).closed).toEqual([]); // watermark 9500
    expect(summary(w.add('a', items(11_000), 0).closed)).toEqual([['a', 0, 0, 'watermark', [1000, 9000]]]);
    expect(w.add('a', items(11_500), 0).closed).toEqual([]);
    expect(w.add('b', items(500), 0).closed).toEqual([]); // b's watermark is its own
  });

  it('puts an item into every open window of every shape, late only where all its windows are closed, counted once', () => {
    const w = windows({ shapes: [{ sizeMs: 1000, slideMs: 1000 }, { sizeMs: 4000, slideMs: 2000 }], allowedLatenessMs: 0 });
    w.add('a', items(2500), 0);
    expect(w.get('a')!.open.map((m) => [...m.keys()])).toEqual([[2000], [0, 2000]]);
    const { closed } = w.add('a', items(4100), 0);
    // Shape order, then start order: the 1 s window at 2000, then the 4 s window at 0.
    expect(summary(closed)).toEqual([
      ['a', 0, 2000, 'watermark', [2500]],
      ['a', 1, 0, 'watermark', [2500]],
    ]);
    // 2600: late for the 1 s shape (2000 is closed), still in time for the 4 s window at 2000.
    expect(w.add('a', items(2600), 0).late).toBe(1);
    expect(w.get('a')!.open[1]!.get(2000)).toEqual([2500, 4100, 2600]);
    // 1500: late for both shapes, counted once.
    expect(w.add('a', items(1500), 0).late).toBe(1);
  });

  it('closes quiet keys only: all their windows, or as far as the caller says', () => {
    const w = windows();
    w.add('quiet', items(1000, 10_500), 100);
    w.add('busy', items(1000), 4000);
    expect(w.closeIdle(5099)).toEqual([]);
    expect(summary(w.closeIdle(5100, 11_000))).toEqual([['quiet', 0, 0, 'idle', [1000]]]);
    expect(summary(w.closeIdle(5100))).toEqual([['quiet', 0, 10_000, 'idle', [10_500]]]);
    expect(w.add('quiet', items(15_000), 6000).late).toBe(1);
  });

  it('evicts the least recently seen key beyond maxKeys, closing its windows', () => {
    const w = windows({ maxKeys: 2 });
    w.add('a', items(1000), 0);
    w.add('b', items(1000), 0);
    w.add('a', items(2000), 0); // a is now the most recently seen
    expect(summary(w.add('c', items(1000), 0).closed)).toEqual([['b', 0, 0, 'evicted', [1000]]]);
    expect([...w.entries()].map(([key]) => key)).toEqual(['a', 'c']);
    expect(w.stats().keysEvicted).toBe(1);
  });

  it('closes early at a caller\'s bound, one window or a key\'s, and everything at a stop', () => {
    const w = windows();
    w.add('a', items(1000, 10_500), 0);
    w.add('b', items(21_000), 0);
    expect(summary([w.closeWindow('a', 0, 0, 'bound')!])).toEqual([['a', 0, 0, 'bound', [1000]]]);
    expect(w.add('a', items(5000), 0).late).toBe(1);
    expect(summary(w.closeKey('a', Infinity, 'bound'))).toEqual([['a', 0, 10_000, 'bound', [10_500]]]);
    expect(summary(w.closeAll('flush'))).toEqual([['b', 0, 20_000, 'flush', [21_000]]]);
  });

  it('restores progress forward only, dropping windows an earlier run emitted', () => {
    const w = windows();
    w.add('a', items(1000, 10_500), 0);
    const dropped = w.restore('a', { closedUpTo: [10_000], maxT: 5000 }, 0);
    expect(dropped).toEqual([{ startMs: 0, contents: [1000] }]);
    expect(w.get('a')!.maxT).toBe(10_500);
    expect(w.restore('a', { closedUpTo: [0] }, 0)).toEqual([]);
    expect(w.get('a')!.closedUpTo).toEqual([10_000]);
    expect(w.add('a', items(9000), 0).late).toBe(1);
  });

  it('holds a forward jump until a run confirms it, keeping each held item\'s origin', () => {
    const origins: number[] = [];
    const w = windows({ jump: { maxJumpMs: 60_000, confirmItems: 2 } }, origins);
    w.add('a', items(1000), 0, 1);
    w.add('a', items(3_600_000), 0, 2);
    expect(w.get('a')!.held?.items).toEqual([{ item: { t: 3_600_000 }, origin: 2 }]);
    const { closed } = w.add('a', items(3_601_000), 0, 3);
    expect(summary(closed)).toEqual([['a', 0, 0, 'watermark', [1000]]]);
    expect(origins).toEqual([1, 2, 3]);
    expect(w.stats().clockJumpsFollowed).toBe(1);
  });

  it('refuses a window size that is not a multiple of the slide', () => {
    expect(() => windows({ shapes: [{ sizeMs: 10_000, slideMs: 3000 }] })).toThrow(RangeError);
  });
});

describe('insertByEventTime', () => {
  it('keeps items in event-time order, one per event time, the later copy winning', () => {
    const list: Item[] = [];
    expect([5, 1, 9, 3].map((t) => insertByEventTime(list, { t }))).toEqual([0, 0, 2, 1]);
    expect(insertByEventTime(list, { t: 5, v: 2 })).toBe(~2);
    expect(list).toEqual([{ t: 1 }, { t: 3 }, { t: 5, v: 2 }, { t: 9 }]);
  });
});
