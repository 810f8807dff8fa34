/**
 * Per-vehicle event-time windows of telemetry samples: the keyed windows of
 * common/windows/keyed-windows.ts (which decide membership, lateness and closing, and are the
 * model's window dataset's too), keyed by vehicle, one shape, holding samples.
 *
 * Windows are aligned to the Unix epoch: `[k·slide, k·slide + size)`; tumbling when
 * `slide === size`, sliding (every sample in size/slide windows) when `slide < size`.
 *
 * Guarantees:
 * - Each vehicle has its own watermark, `max event time seen − allowedLateness`. A window is
 *   closed (handed to the caller exactly once per process) when the watermark passes its end,
 *   or when the vehicle has sent nothing for `idleTimeoutMs` of processing time (`closeIdle`),
 *   so a vehicle that stops sending still gets its last window. A vehicle replaying a backlog
 *   hours late advances only its own watermark and gets the same windows it would have online.
 * - A window's samples are sorted by event time; a repeated event time (redelivery) counts once
 *   (common/windows/insert-by-event-time.ts). Empty windows are not emitted.
 * - A sample that belongs only to windows already closed is late: counted, not added (the caller
 *   still stores it raw).
 * - Bounded: at most `maxVehicles` vehicles (the least recently seen is evicted, its windows
 *   closed early) and `maxBufferedSamples` samples over all open windows (the least recently seen
 *   vehicle's windows are closed early). Both are counted.
 * - Each buffered sample remembers the spool segment its record went to, so the spool keeps every
 *   segment an open window still needs (`retentionFloor`) and replay can rebuild open windows.
 * - With `jump`, a vehicle's clock jumping forward is followed only once a consistent run of
 *   samples confirms it (common/windows/clock-jump-gate.ts); the held samples' segments are
 *   retained too, and a run still held when the vehicle goes idle or is evicted is dropped from the
 *   windows (counted).
 */
import { insertByEventTime } from '../../common/windows/insert-by-event-time.ts';
import type { JumpGateOptions } from '../../common/windows/clock-jump-gate.ts';
import { KeyedWindows, type ClosedKeyWindow } from '../../common/windows/keyed-windows.ts';

export interface WindowOptions {
  sizeMs: number;
  /** = sizeMs for tumbling windows. */
  slideMs: number;
  allowedLatenessMs: number;
  idleTimeoutMs: number;
  maxVehicles: number;
  maxBufferedSamples: number;
  /** Follow forward clock jumps only once confirmed; absent = follow every sample at once. */
  jump?: JumpGateOptions;
}

export type CloseReason = 'watermark' | 'idle' | 'evicted' | 'bound';

export interface WindowSample {
  readonly t: number;
}

export interface ClosedWindow<S extends WindowSample> {
  vehicle: string;
  startMs: number;
  endMs: number;
  samples: S[];
  reason: CloseReason;
}

/** One open window: its samples by event time and the spool segment of each. */
interface SampleWindow<S> {
  samples: S[];
  /** Spool segment of each sample's record (parallel to `samples`). */
  segments: number[];
  minSegment: number;
}

export interface WindowStats {
  vehicles: number;
  openWindows: number;
  bufferedSamples: number;
  lateSamples: number;
  windowsClosed: Record<CloseReason, number>;
  vehiclesEvicted: number;
  /** Largest (processing time − watermark) over vehicles with open windows, ms. */
  maxWatermarkLagMs: number;
  /** Forward clock jumps followed after a confirming run. */
  clockJumpsFollowed: number;
  /** Samples of unconfirmed jumps left out of the windows (stored raw). */
  clockJumpSamplesDiscarded: number;
  /** Samples held now, waiting for a jump to be confirmed. */
  clockJumpSamplesHeld: number;
}

export class VehicleWindows<S extends WindowSample> {
  private readonly windows: KeyedWindows<S, SampleWindow<S>>;
  /** Distinct samples in open windows: a sample counts from its first window to its last (sliding windows share it). */
  private buffered = 0;
  private late = 0;
  private readonly closedBy: Record<CloseReason, number> = { watermark: 0, idle: 0, evicted: 0, bound: 0 };
  private readonly tumbling: boolean;

  constructor(readonly options: WindowOptions) {
    const { sizeMs, slideMs } = options;
    this.tumbling = sizeMs === slideMs;
    this.windows = new KeyedWindows<S, SampleWindow<S>>({
      shapes: [{ sizeMs, slideMs }],
      allowedLatenessMs: options.allowedLatenessMs,
      idleTimeoutMs: options.idleTimeoutMs,
      maxKeys: options.maxVehicles,
      jump: options.jump,
      timeOf: (s) => s.t,
      open: () => ({ samples: [], segments: [], minSegment: Infinity }),
      add: (w, s, startMs, segment) => this.insert(w, s, startMs, segment),
    });
  }

  /**
   * Adds a vehicle's samples (any order) and returns the windows this closes and how many of the
   * samples were late. `segment` is the spool segment the samples' record is written to.
   */
  add(vehicle: string, samples: readonly S[], segment: number, nowMs: number, countLate = true): { closed: ClosedWindow<S>[]; late: number } {
    const added = this.windows.add(vehicle, samples, nowMs, segment);
    if (countLate) this.late += added.late;
    const closed = this.emit(added.closed);
    // Checked here, before any iterator is made: see enforceSampleBound.
    if (this.buffered > this.options.maxBufferedSamples) closed.push(...this.enforceSampleBound(vehicle));
    return { closed, late: added.late };
  }

  /** Closes every window of vehicles quiet for `idleTimeoutMs`. Call it every second or so. */
  closeIdle(nowMs: number): ClosedWindow<S>[] {
    return this.emit(this.windows.closeIdle(nowMs));
  }

  /** Windows of `vehicle` starting before this are closed (spool headers carry it for replay). */
  closedUpTo(vehicle: string): number | undefined {
    const v = this.windows.get(vehicle)?.closedUpTo[0];
    return v === undefined || v === -Infinity ? undefined : v;
  }

  /** Replay: windows before `closedUpTo` were already emitted by an earlier run. */
  restoreClosedUpTo(vehicle: string, closedUpTo: number, nowMs: number): void {
    for (const w of this.windows.restore(vehicle, { closedUpTo: [closedUpTo] }, nowMs)) this.buffered -= this.leaving(w.startMs, w.contents);
  }

  /** Lowest spool segment an open window or a held sample still needs (Infinity when none). */
  retentionFloor(): number {
    let floor = Infinity;
    for (const [, vehicle] of this.windows.entries()) {
      for (const w of vehicle.open[0]!.values()) if (w.minSegment < floor) floor = w.minSegment;
      if (vehicle.held) for (const h of vehicle.held.items) if (h.origin < floor) floor = h.origin;
    }
    return floor;
  }

  stats(nowMs: number): WindowStats {
    let open = 0;
    let lag = 0;
    let held = 0;
    const { slideMs, allowedLatenessMs } = this.options;
    for (const [, vehicle] of this.windows.entries()) {
      held += vehicle.held?.items.length ?? 0;
      const windows = vehicle.open[0]!;
      if (windows.size === 0) continue;
      // Every window from the first open one up to the newest sample's counts, empty ones between too.
      let first = Infinity;
      for (const start of windows.keys()) if (start < first) first = start;
      open += Math.floor((Math.floor(vehicle.maxT / slideMs) * slideMs - first) / slideMs) + 1;
      lag = Math.max(lag, nowMs - (vehicle.maxT - allowedLatenessMs));
    }
    const { keysEvicted, clockJumpsFollowed, clockJumpItemsDiscarded } = this.windows.stats();
    return {
      vehicles: this.windows.size,
      openWindows: open,
      bufferedSamples: this.buffered,
      lateSamples: this.late,
      windowsClosed: { ...this.closedBy },
      vehiclesEvicted: keysEvicted,
      maxWatermarkLagMs: lag,
      clockJumpsFollowed,
      clockJumpSamplesDiscarded: clockJumpItemsDiscarded,
      clockJumpSamplesHeld: held,
    };
  }

  private insert(w: SampleWindow<S>, s: S, startMs: number, segment: number): void {
    const at = insertByEventTime(w.samples, s);
    if (at < 0) {
      // The same event time again: the earlier record's segment is the one replay needs.
      w.segments[~at] = Math.min(w.segments[~at]!, segment);
    } else {
      w.segments.splice(at, 0, segment);
      // Counted once, in the sample's last window (the only one with tumbling windows).
      if (this.tumbling || startMs === this.lastStart(s.t)) this.buffered += 1;
    }
    if (segment < w.minSegment) w.minSegment = segment;
  }

  /** Start of the last window containing t. */
  private lastStart(t: number): number {
    return Math.floor(t / this.options.slideMs) * this.options.slideMs;
  }

  /** Samples of a window starting at `startMs` for which it is the last window: they leave the buffer with it. */
  private leaving(startMs: number, w: SampleWindow<S>): number {
    if (this.tumbling) return w.samples.length;
    const { slideMs } = this.options;
    // The last window of t starts at ⌊t/slide⌋·slide: these are the window's first slide of samples.
    const until = startMs + slideMs;
    let n = 0;
    while (n < w.samples.length && w.samples[n]!.t < until) n++;
    return n;
  }

  private emit(windows: readonly ClosedKeyWindow<SampleWindow<S>, CloseReason>[]): ClosedWindow<S>[] {
    const closed: ClosedWindow<S>[] = [];
    for (const { key, startMs, endMs, contents, reason } of windows) {
      this.buffered -= this.leaving(startMs, contents);
      this.closedBy[reason] += 1;
      closed.push({ vehicle: key, startMs, endMs, samples: contents.samples, reason });
    }
    return closed;
  }

  /** At `maxBufferedSamples`, closes the windows of the least recently seen vehicles (the current one last). */
  private enforceSampleBound(current: string): ClosedWindow<S>[] {
    // The caller checks the bound before calling: `add` moves each vehicle to the end of the Map,
    // and V8 walks the deleted slots this leaves at the front on every new iterator (at 100,000
    // vehicles that walk was most of ingest's time per message), so no iterator is made while
    // under the bound.
    const closed: ClosedWindow<S>[] = [];
    for (const [vehicle] of this.windows.entries()) {
      if (this.buffered <= this.options.maxBufferedSamples) break;
      if (vehicle === current && this.windows.size > 1) continue;
      closed.push(...this.emit(this.windows.closeKey(vehicle, Infinity, 'bound')));
    }
    return closed;
  }
}
