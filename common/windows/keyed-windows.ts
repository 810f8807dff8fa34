/**
 * Keyed event-time windows: the one windowing of the project. Telemetry windows per vehicle
 * (ingest/windows/vehicle-windows.ts), the model's window dataset (models/window-dataset.ts) and
 * API-log windows per log source (ingest/apilogs/api-windows.ts) are this module with their own
 * window contents. The caller says how a window's contents start and how an item is added; this
 * module decides which windows an item belongs to, whether it is late, and when a window closes.
 *
 * Windows are aligned to the Unix epoch. A shape `{ sizeMs, slideMs }` has the windows
 * `[k·slide, k·slide + size)`: tumbling when slide = size, sliding (each item in size/slide windows)
 * when slide < size. Several shapes may run side by side (API logs: 10 s and 1 min).
 *
 * Guarantees:
 * - Each key has its own watermark: its newest event time − `allowedLatenessMs`. A window closes,
 *   and is handed to the caller exactly once, when the watermark reaches its end. A key replaying a
 *   backlog hours late advances only its own watermark and gets the windows it would have had online.
 * - An item goes into every window of each shape that contains it and is not closed yet. An item
 *   whose windows of a shape are all closed is late: not added there, and counted once however many
 *   shapes it was late for. A window exists from its first item on: empty windows are never emitted.
 * - Closed windows come out key by key, per key in shape order, then by start.
 * - Idle keys: `closeIdle` closes the windows of keys that received nothing for `idleTimeoutMs` of
 *   the clock the caller passes (ingest's reading clock, which stops while acknowledgements are
 *   held), up to a limit the caller sets (telemetry: all of them; API logs: as far as the wall clock).
 * - With `jump`, a key's clock jumping forward is followed only once a consistent run of items
 *   confirms it (clock-jump-gate.ts); a run still held when its key goes idle or is evicted is
 *   dropped (counted by the gate). Each item keeps the `origin` it was added with (ingest: its spool
 *   segment) through the hold, so the caller can retain what held items came from.
 * - Bounds: with `maxKeys`, keys are kept in the order they last received an item, and beyond the
 *   bound the least recently seen key is evicted, its windows closed early (`evicted`, counted).
 *   Bounds on what the windows hold are the caller's, who knows what an item weighs: `closeKey` and
 *   `closeWindow` close early (`bound`), `closeAll` at a stop (`flush`).
 */
import { ClockJumpGate, type HeldRun, type JumpGateOptions } from './clock-jump-gate.ts';

export interface WindowShape {
  readonly sizeMs: number;
  /** = sizeMs for tumbling windows; sizeMs must be a multiple of it. */
  readonly slideMs: number;
}

export type WindowCloseReason = 'watermark' | 'idle' | 'evicted' | 'bound' | 'flush';

export interface KeyedWindowOptions<T, C> {
  readonly shapes: readonly WindowShape[];
  readonly allowedLatenessMs: number;
  readonly idleTimeoutMs: number;
  /** Most keys; beyond it the least recently seen is evicted. Absent: no bound, keys stay in order of arrival. */
  readonly maxKeys?: number;
  /** Follow forward clock jumps only once confirmed; absent = follow every item at once. */
  readonly jump?: JumpGateOptions;
  /** Event time of an item, Unix ms. */
  timeOf(item: T): number;
  /** The contents of a window about to receive its first item. */
  open(key: string, shape: number, startMs: number): C;
  /** Adds an item to one window's contents; `origin` is what the item was added with. */
  add(contents: C, item: T, startMs: number, origin: number): void;
}

export interface ClosedKeyWindow<C, R extends WindowCloseReason = WindowCloseReason> {
  readonly key: string;
  /** Index into `shapes`. */
  readonly shape: number;
  readonly startMs: number;
  readonly endMs: number;
  readonly contents: C;
  readonly reason: R;
}

/** An item held by the clock-jump gate, with the origin it came with. */
export interface HeldItem<T> {
  readonly item: T;
  readonly origin: number;
}

/** What the windows know of one key, for the caller's statistics, bounds and snapshots (read only). */
export interface KeyWindows<T, C> {
  /** Newest event time on the key's timeline; -Infinity before the first item. */
  readonly maxT: number;
  /** Items waiting for a forward clock jump to be confirmed. */
  readonly held: HeldRun<HeldItem<T>> | undefined;
  /** Caller's clock at the key's last item. */
  readonly lastSeenMs: number;
  /** Per shape: the open windows by start. */
  readonly open: readonly ReadonlyMap<number, C>[];
  /** Per shape: every window starting before this is closed (-Infinity: none yet). */
  readonly closedUpTo: readonly number[];
}

interface KeyState<T, C> {
  maxT: number;
  held: HeldRun<HeldItem<T>> | undefined;
  lastSeenMs: number;
  readonly open: Map<number, C>[];
  readonly closedUpTo: number[];
}

/** What a restart knows of a key (ingest's spool headers, the API-log state file). */
export interface KeyProgress<T> {
  /** The key counts as having sent at this time of the caller's clock (idle time starts over). */
  seenMs?: number;
  maxT?: number;
  /** Per shape; -Infinity where nothing is known. */
  closedUpTo?: readonly number[];
  /** A held run to resume (kept only with `jump`). */
  held?: readonly T[];
}

export class KeyedWindows<T, C> {
  private readonly keys = new Map<string, KeyState<T, C>>();
  private readonly gate: ClockJumpGate | undefined;
  private evicted = 0;
  /** The key whose items the gate is handing back (`add`), and how many of them were late. */
  private releasing: { key: string; state: KeyState<T, C>; late: number } | undefined;
  // One function for every call: a closure made per `add` costs more than the windowing (tsx names each one).
  private readonly admitReleased = (held: HeldItem<T>, t: number): void => {
    const r = this.releasing!;
    if (!this.place(r.key, r.state, held.item, t, held.origin)) r.late += 1;
  };

  constructor(readonly options: KeyedWindowOptions<T, C>) {
    for (const { sizeMs, slideMs } of options.shapes) {
      if (!(slideMs > 0 && sizeMs >= slideMs && sizeMs % slideMs === 0)) throw new RangeError('window size must be a positive multiple of the slide');
    }
    this.gate = options.jump ? new ClockJumpGate(options.jump) : undefined;
  }

  /** Keys with window state. */
  get size(): number {
    return this.keys.size;
  }

  /** Keys in order of their last item (with `maxKeys`; else of their first), with what the windows know of each. */
  entries(): IterableIterator<[string, KeyWindows<T, C>]> {
    return this.keys.entries();
  }

  get(key: string): KeyWindows<T, C> | undefined {
    return this.keys.get(key);
  }

  /**
   * Adds a key's items (any order) at `nowMs` of the caller's clock, then closes the windows the
   * key's watermark has passed and evicts beyond `maxKeys`. Returns those windows and how many of
   * the items (and of held items this releases) were late.
   */
  add(key: string, items: Iterable<T>, nowMs: number, origin = 0): { closed: ClosedKeyWindow<C, 'watermark' | 'evicted'>[]; late: number } {
    const state = this.touch(key, nowMs);
    let late = 0;
    const { gate } = this;
    for (const item of items) {
      const t = this.options.timeOf(item);
      if (!gate || gate.continues(state, t)) {
        if (!this.place(key, state, item, t, origin)) late += 1;
        if (t > state.maxT) state.maxT = t;
      } else {
        this.releasing = { key, state, late: 0 };
        gate.offer(state, t, { item, origin }, this.admitReleased);
        late += this.releasing.late;
        this.releasing = undefined;
      }
    }
    const closed: ClosedKeyWindow<C, 'watermark' | 'evicted'>[] = this.closeUpTo(key, state, state.maxT - this.options.allowedLatenessMs, 'watermark');
    const { maxKeys } = this.options;
    if (maxKeys !== undefined) {
      while (this.keys.size > maxKeys) {
        const [oldest, st] = this.keys.entries().next().value as [string, KeyState<T, C>];
        this.gate?.drop(st);
        closed.push(...this.closeUpTo(oldest, st, Infinity, 'evicted'));
        this.keys.delete(oldest);
        this.evicted += 1;
      }
    }
    return { closed, late };
  }

  /**
   * Closes the windows of keys quiet for `idleTimeoutMs` at `nowMs` (the caller's clock), those
   * ending at or before `upToMs`; drops their held runs. Call it every second or so.
   */
  closeIdle(nowMs: number, upToMs = Infinity): ClosedKeyWindow<C, 'idle'>[] {
    const closed: ClosedKeyWindow<C, 'idle'>[] = [];
    for (const [key, state] of this.keys) {
      if (nowMs - state.lastSeenMs < this.options.idleTimeoutMs) continue;
      if (!state.held && !state.open.some((windows) => windows.size > 0)) continue;
      // An unconfirmed jump at the end of a key's stream stays out of its windows.
      this.gate?.drop(state);
      closed.push(...this.closeUpTo(key, state, upToMs, 'idle'));
    }
    return closed;
  }

  /** Closes a key's windows ending at or before `upToMs` early (a caller's bound); held items stay held. */
  closeKey<R extends WindowCloseReason>(key: string, upToMs: number, reason: R): ClosedKeyWindow<C, R>[] {
    const state = this.keys.get(key);
    return state ? this.closeUpTo(key, state, upToMs, reason) : [];
  }

  /** Closes one open window early (a caller's bound): windows of that shape starting before it must be closed already. */
  closeWindow<R extends WindowCloseReason>(key: string, shape: number, startMs: number, reason: R): ClosedKeyWindow<C, R> | undefined {
    const state = this.keys.get(key);
    const contents = state?.open[shape]!.get(startMs);
    if (!state || contents === undefined) return undefined;
    return this.close(key, state, shape, startMs, contents, reason);
  }

  /** Closes every open window (a stop); held items stay held. */
  closeAll<R extends WindowCloseReason>(reason: R): ClosedKeyWindow<C, R>[] {
    const closed: ClosedKeyWindow<C, R>[] = [];
    for (const [key, state] of this.keys) closed.push(...this.closeUpTo(key, state, Infinity, reason));
    return closed;
  }

  /**
   * Resumes what a restart knows of a key (a key it creates counts as seen at `nowMs`). Progress
   * only moves forward (a later `maxT`, a later `closedUpTo`). Windows starting before a raised
   * `closedUpTo` were emitted by an earlier run: they are dropped, not emitted, and returned.
   */
  restore(key: string, progress: KeyProgress<T>, nowMs: number): { startMs: number; contents: C }[] {
    let state = this.keys.get(key);
    if (!state) {
      state = this.newState(nowMs);
      this.keys.set(key, state);
    }
    if (progress.seenMs !== undefined) state.lastSeenMs = progress.seenMs;
    if (progress.maxT !== undefined && progress.maxT > state.maxT) state.maxT = progress.maxT;
    const dropped: { startMs: number; contents: C }[] = [];
    progress.closedUpTo?.forEach((upTo, shape) => {
      if (!(upTo > state.closedUpTo[shape]!)) return;
      state.closedUpTo[shape] = upTo;
      const windows = state.open[shape]!;
      for (const [startMs, contents] of windows) {
        if (startMs >= upTo) continue;
        windows.delete(startMs);
        dropped.push({ startMs, contents });
      }
    });
    if (this.gate && progress.held && progress.held.length > 0) {
      const times = progress.held.map((item) => this.options.timeOf(item));
      state.held = { items: progress.held.map((item) => ({ item, origin: 0 })), times, firstT: Math.min(...times), lastT: Math.max(...times) };
    }
    return dropped;
  }

  /** The window of `key` and shape starting at `startMs`, opened empty when missing (resuming saved contents). */
  window(key: string, shape: number, startMs: number, nowMs: number): C {
    let state = this.keys.get(key);
    if (!state) {
      state = this.newState(nowMs);
      this.keys.set(key, state);
    }
    const windows = state.open[shape]!;
    let contents = windows.get(startMs);
    if (contents === undefined) windows.set(startMs, (contents = this.options.open(key, shape, startMs)));
    return contents;
  }

  stats(): { keysEvicted: number; clockJumpsFollowed: number; clockJumpItemsDiscarded: number } {
    const jumps = this.gate?.stats();
    return { keysEvicted: this.evicted, clockJumpsFollowed: jumps?.confirmed ?? 0, clockJumpItemsDiscarded: jumps?.discarded ?? 0 };
  }

  /** The key's state, created at `nowMs`; with `maxKeys` it becomes the most recently seen. */
  private touch(key: string, nowMs: number): KeyState<T, C> {
    let state = this.keys.get(key);
    if (this.options.maxKeys !== undefined) {
      // Map order = least recently seen first.
      if (state) this.keys.delete(key);
      else state = this.newState(nowMs);
      this.keys.set(key, state);
    } else if (!state) {
      state = this.newState(nowMs);
      this.keys.set(key, state);
    }
    state.lastSeenMs = nowMs;
    return state;
  }

  private newState(nowMs: number): KeyState<T, C> {
    const shapes = this.options.shapes.length;
    return {
      maxT: -Infinity,
      held: undefined,
      lastSeenMs: nowMs,
      open: Array.from({ length: shapes }, () => new Map<number, C>()),
      closedUpTo: new Array<number>(shapes).fill(-Infinity),
    };
  }

  /** Adds an item to each shape's open windows that contain `t`; false when it was late for a shape. */
  private place(key: string, state: KeyState<T, C>, item: T, t: number, origin: number): boolean {
    let inTime = true;
    const { shapes } = this.options;
    for (let shape = 0; shape < shapes.length; shape++) {
      const { sizeMs, slideMs } = shapes[shape]!;
      const lastStart = Math.floor(t / slideMs) * slideMs;
      const closedUpTo = state.closedUpTo[shape]!;
      if (lastStart < closedUpTo) {
        inTime = false;
        continue;
      }
      const windows = state.open[shape]!;
      for (let start = Math.max(closedUpTo, lastStart - sizeMs + slideMs); start <= lastStart; start += slideMs) {
        let contents = windows.get(start);
        if (contents === undefined) windows.set(start, (contents = this.options.open(key, shape, start)));
        this.options.add(contents, item, start, origin);
      }
    }
    return inTime;
  }

  /** Closes the key's windows ending at or before `upToMs`, per shape by start. */
  private closeUpTo<R extends WindowCloseReason>(key: string, state: KeyState<T, C>, upToMs: number, reason: R): ClosedKeyWindow<C, R>[] {
    const closed: ClosedKeyWindow<C, R>[] = [];
    const { shapes } = this.options;
    for (let shape = 0; shape < shapes.length; shape++) {
      const windows = state.open[shape]!;
      if (windows.size === 0) continue;
      const { sizeMs } = shapes[shape]!;
      // Allocated only when something is due: most items close nothing.
      let due: number[] | undefined;
      for (const start of windows.keys()) if (start + sizeMs <= upToMs) (due ??= []).push(start);
      if (!due) continue;
      if (due.length > 1) due.sort((a, b) => a - b);
      for (const start of due) closed.push(this.close(key, state, shape, start, windows.get(start)!, reason));
    }
    return closed;
  }

  private close<R extends WindowCloseReason>(key: string, state: KeyState<T, C>, shape: number, startMs: number, contents: C, reason: R): ClosedKeyWindow<C, R> {
    const { sizeMs, slideMs } = this.options.shapes[shape]!;
    state.open[shape]!.delete(startMs);
    if (startMs + slideMs > state.closedUpTo[shape]!) state.closedUpTo[shape] = startMs + slideMs;
    return { key, shape, startMs, endMs: startMs + sizeMs, contents, reason };
  }
}
