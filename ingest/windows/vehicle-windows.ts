/**
 * Per-vehicle event-time windows.
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
 * - A window's samples are sorted by event time; a repeated event time (redelivery) counts once.
 *   Empty windows are not emitted.
 * - A sample that belongs only to windows already closed is late: counted, not added (the caller
 *   still stores it raw).
 * - Bounded: at most `maxVehicles` vehicles (the least recently seen is evicted, its windows
 *   closed early) and `maxBufferedSamples` samples over all open windows (the least recently seen
 *   vehicle's windows are closed early). Both are counted.
 * - Each buffered sample remembers the spool segment its record went to, so the spool keeps every
 *   segment an open window still needs (`retentionFloor`) and replay can rebuild open windows.
 * - With `jump`, a vehicle's clock jumping forward is followed only once a consistent run of
 *   samples confirms it (common/windows/clock-jump-gate.ts); the held samples' segments are retained too, and a
 *   run still held when the vehicle goes idle or is evicted is dropped from the windows (counted).
 */
import { ClockJumpGate, type HeldRun, type JumpGateOptions } from '../../common/windows/clock-jump-gate.ts';

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

interface HeldSample<S> {
  sample: S;
  segment: number;
}

interface VehicleState<S> {
  samples: S[];
  /** Spool segment of each buffered sample (parallel to `samples`). */
  segments: number[];
  minSegment: number;
  maxT: number;
  /** Samples of a forward clock jump not yet confirmed (common/windows/clock-jump-gate.ts). */
  held: HeldRun<HeldSample<S>> | undefined;
  /** Every window starting before this is closed. */
  closedUpTo: number;
  lastSeen: number;
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
  private readonly vehicles = new Map<string, VehicleState<S>>();
  private buffered = 0;
  private late = 0;
  private evicted = 0;
  private readonly closedBy: Record<CloseReason, number> = { watermark: 0, idle: 0, evicted: 0, bound: 0 };
  private readonly jumps: ClockJumpGate | undefined;

  constructor(readonly options: WindowOptions) {
    const { sizeMs, slideMs } = options;
    if (!(slideMs > 0 && sizeMs >= slideMs && sizeMs % slideMs === 0)) throw new RangeError('window size must be a positive multiple of the slide');
    this.jumps = options.jump ? new ClockJumpGate(options.jump) : undefined;
  }

  /**
   * Adds a vehicle's samples (any order) and returns the windows this closes and how many of the
   * samples were late. `segment` is the spool segment the samples' record is written to.
   */
  add(vehicle: string, samples: readonly S[], segment: number, nowMs: number, countLate = true): { closed: ClosedWindow<S>[]; late: number } {
    let st = this.vehicles.get(vehicle);
    if (st) this.vehicles.delete(vehicle);
    else st = newState(nowMs);
    this.vehicles.set(vehicle, st); // Map order = least recently seen first
    st.lastSeen = nowMs;
    let late = 0;
    const state = st;
    const admit = (s: S, seg: number): void => {
      if (this.lastStart(s.t) < state.closedUpTo) late += 1;
      else this.insert(state, s, seg);
    };
    const jumps = this.jumps;
    for (const s of samples) {
      if (!jumps || jumps.continues(st, s.t)) {
        admit(s, segment);
        if (s.t > st.maxT) st.maxT = s.t;
        continue;
      }
      jumps.offer(st, s.t, { sample: s, segment }, (h) => admit(h.sample, h.segment));
      if (st.held && segment < st.minSegment) st.minSegment = segment;
    }
    if (countLate) this.late += late;
    const closed = this.closeUpTo(vehicle, st, st.maxT - this.options.allowedLatenessMs, 'watermark');
    closed.push(...this.enforceBounds(vehicle));
    return { closed, late };
  }

  /** Closes every window of vehicles quiet for `idleTimeoutMs`. Call it every second or so. */
  closeIdle(nowMs: number): ClosedWindow<S>[] {
    const closed: ClosedWindow<S>[] = [];
    for (const [vehicle, st] of this.vehicles) {
      if ((st.samples.length > 0 || st.held) && nowMs - st.lastSeen >= this.options.idleTimeoutMs) {
        // An unconfirmed jump at the end of a vehicle's stream stays out of its windows.
        if (st.held) this.dropHeld(st);
        closed.push(...this.closeUpTo(vehicle, st, Infinity, 'idle'));
      }
    }
    return closed;
  }

  /** Windows of `vehicle` starting before this are closed (spool headers carry it for replay). */
  closedUpTo(vehicle: string): number | undefined {
    const v = this.vehicles.get(vehicle)?.closedUpTo;
    return v === undefined || v === -Infinity ? undefined : v;
  }

  /** Replay: windows before `closedUpTo` were already emitted by an earlier run. */
  restoreClosedUpTo(vehicle: string, closedUpTo: number, nowMs: number): void {
    let st = this.vehicles.get(vehicle);
    if (!st) {
      st = newState(nowMs);
      this.vehicles.set(vehicle, st);
    }
    if (closedUpTo > st.closedUpTo) {
      st.closedUpTo = closedUpTo;
      this.prune(st);
    }
  }

  /** Lowest spool segment an open window still needs (Infinity when none). */
  retentionFloor(): number {
    let floor = Infinity;
    for (const st of this.vehicles.values()) if (st.minSegment < floor) floor = st.minSegment;
    return floor;
  }

  stats(nowMs: number): WindowStats {
    let open = 0;
    let lag = 0;
    const { slideMs, sizeMs, allowedLatenessMs } = this.options;
    for (const st of this.vehicles.values()) {
      if (st.samples.length === 0) continue;
      const first = Math.max(st.closedUpTo, this.firstStart(st.samples[0]!.t));
      open += Math.floor((this.lastStart(st.maxT) - first) / slideMs) + 1;
      lag = Math.max(lag, nowMs - (st.maxT - allowedLatenessMs));
    }
    void sizeMs;
    const jumps = this.jumps?.stats();
    let held = 0;
    if (jumps) for (const st of this.vehicles.values()) held += st.held?.items.length ?? 0;
    return {
      vehicles: this.vehicles.size,
      openWindows: open,
      bufferedSamples: this.buffered,
      lateSamples: this.late,
      windowsClosed: { ...this.closedBy },
      vehiclesEvicted: this.evicted,
      maxWatermarkLagMs: lag,
      clockJumpsFollowed: jumps?.confirmed ?? 0,
      clockJumpSamplesDiscarded: jumps?.discarded ?? 0,
      clockJumpSamplesHeld: held,
    };
  }

  /** Start of the last window containing t. */
  private lastStart(t: number): number {
    return Math.floor(t / this.options.slideMs) * this.options.slideMs;
  }

  /** Start of the first window containing t. */
  private firstStart(t: number): number {
    return this.lastStart(t) - this.options.sizeMs + this.options.slideMs;
  }

  private insert(st: VehicleState<S>, s: S, segment: number): void {
    const arr = st.samples;
    let i = arr.length;
    // Samples nearly always arrive in order: search from the end.
    while (i > 0 && arr[i - 1]!.t > s.t) i--;
    if (i > 0 && arr[i - 1]!.t === s.t) {
      arr[i - 1] = s; // same event time again: the later copy wins, as in InfluxDB
      st.segments[i - 1] = Math.min(st.segments[i - 1]!, segment);
      return;
    }
    arr.splice(i, 0, s);
    st.segments.splice(i, 0, segment);
    if (segment < st.minSegment) st.minSegment = segment;
    this.buffered += 1;
  }

  private closeUpTo(vehicle: string, st: VehicleState<S>, watermark: number, reason: CloseReason): ClosedWindow<S>[] {
    const closed: ClosedWindow<S>[] = [];
    const { sizeMs, slideMs } = this.options;
    while (st.samples.length > 0) {
      const start = Math.max(st.closedUpTo, this.firstStart(st.samples[0]!.t));
      const end = start + sizeMs;
      if (end > watermark) break;
      const windowSamples: S[] = [];
      for (const s of st.samples) {
        if (s.t >= end) break;
        if (s.t >= start) windowSamples.push(s);
      }
      if (windowSamples.length > 0) {
        closed.push({ vehicle, startMs: start, endMs: end, samples: windowSamples, reason });
        this.closedBy[reason] += 1;
      }
      st.closedUpTo = start + slideMs;
      this.prune(st);
    }
    return closed;
  }

  /** Drops samples that no open window needs any more. */
  private prune(st: VehicleState<S>): void {
    let n = 0;
    while (n < st.samples.length && st.samples[n]!.t < st.closedUpTo) n++;
    if (n === 0) return;
    st.samples.splice(0, n);
    st.segments.splice(0, n);
    this.buffered -= n;
    this.recomputeMinSegment(st);
  }

  private recomputeMinSegment(st: VehicleState<S>): void {
    let min = Infinity;
    for (const seg of st.segments) if (seg < min) min = seg;
    if (st.held) for (const h of st.held.items) if (h.segment < min) min = h.segment;
    st.minSegment = min;
  }

  private dropHeld(st: VehicleState<S>): void {
    this.jumps?.drop(st);
    this.recomputeMinSegment(st);
  }

  private enforceBounds(current: string): ClosedWindow<S>[] {
    const closed: ClosedWindow<S>[] = [];
    while (this.vehicles.size > this.options.maxVehicles) {
      const [vehicle, st] = this.vehicles.entries().next().value as [string, VehicleState<S>];
      if (st.held) this.dropHeld(st);
      closed.push(...this.closeUpTo(vehicle, st, Infinity, 'evicted'));
      this.vehicles.delete(vehicle);
      this.evicted += 1;
    }
    // Checked before iterating: `add` moves each vehicle to the end of the Map, and V8 walks the
    // deleted slots this leaves at the front on every new iterator (at 100,000 vehicles that walk
    // was most of ingest's time per message), so no iterator is made while under the bound.
    if (this.buffered <= this.options.maxBufferedSamples) return closed;
    for (const [vehicle, st] of this.vehicles) {
      if (this.buffered <= this.options.maxBufferedSamples) break;
      if (vehicle === current && this.vehicles.size > 1) continue;
      closed.push(...this.closeUpTo(vehicle, st, Infinity, 'bound'));
    }
    return closed;
  }
}

function newState<S>(nowMs: number): VehicleState<S> {
  return { samples: [], segments: [], minSegment: Infinity, maxT: -Infinity, held: undefined, closedUpTo: -Infinity, lastSeen: nowMs };
}
