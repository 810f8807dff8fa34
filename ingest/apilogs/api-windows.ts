/**
 * Tumbling event-time windows over API requests, per log source, for several window sizes at once
 * (10 s and 1 min by default), keyed by endpoint × status class × country × customer × plan.
 *
 * - Watermark per source: the largest event time seen from that source minus `allowedLatenessMs`.
 *   A window closes when the watermark passes its end. Sources are independent, so one slow
 *   nginx host never holds another's windows open, and each point carries its `source` tag so two
 *   hosts' windows never overwrite each other in InfluxDB.
 * - Idle sources: when a source sent nothing for `idleTimeoutMs` (of the reading clock: time in
 *   which ingest held acknowledgements does not count), its watermark advances with the wall
 *   clock instead (windows whose end + lateness is in the past close), so the last windows of a
 *   quiet source are not held forever.
 * - A request older than its window's close is late: counted, not aggregated.
 * - Latency quantiles come from an HDR histogram per cell (hdr-histogram-js, 2 significant
 *   digits, microseconds up to an hour), never from sorting.
 * - Bound: `maxOpenCells` over all sources; at the bound the oldest window of the fullest source
 *   is closed early (counted as `forcedCloses`).
 * - With `jump`, a source's clock jumping forward is followed only once a consistent run of
 *   requests confirms it (ingest/windows/clock-jump-gate.ts); requests of a run still held when the
 *   source goes idle are not aggregated (counted).
 */
import * as hdr from 'hdr-histogram-js';
import { ClockJumpGate, type HeldRun, type JumpGateOptions } from '../windows/clock-jump-gate.ts';

export interface RequestFacts {
  timeMs: number;
  endpoint: string;
  statusClass: string;
  country: string;
  customer: string;
  plan: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  latencyUs: number;
}

export interface ClosedCell {
  source: string;
  windowMs: number;
  startMs: number;
  endpoint: string;
  statusClass: string;
  country: string;
  customer: string;
  plan: string;
  requests: number;
  /** 5xx answers. */
  errors: number;
  /** 4xx answers. */
  clientErrors: number;
  bytesIn: number;
  bytesOut: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface ApiWindowStats {
  openCells: number;
  lateRequests: number;
  forcedCloses: number;
  windowsClosed: number;
  /** Forward clock jumps of a source followed after a confirming run. */
  clockJumpsFollowed: number;
  /** Requests of unconfirmed jumps not aggregated. */
  clockJumpRequestsDiscarded: number;
}

interface Cell {
  facts: Omit<RequestFacts, 'timeMs' | 'status' | 'bytesIn' | 'bytesOut' | 'latencyUs'>;
  requests: number;
  errors: number;
  clientErrors: number;
  bytesIn: number;
  bytesOut: number;
  hist: hdr.Histogram;
}

interface SourceState {
  /** Newest event time counted (the gate's timeline). */
  maxT: number;
  held: HeldRun<RequestFacts> | undefined;
  lastArrivalMs: number;
  /** Per window size: start → cells by key. */
  open: Map<number, Map<number, Map<string, Cell>>>;
  /** Per window size: every window ending at or before this is closed. */
  closedUpTo: Map<number, number>;
}

export interface ApiWindowOptions {
  sizesMs: readonly number[];
  allowedLatenessMs: number;
  idleTimeoutMs: number;
  maxOpenCells: number;
  /** Follow forward clock jumps only once confirmed; absent = follow every request at once. */
  jump?: JumpGateOptions;
}

export class ApiWindows {
  private readonly sources = new Map<string, SourceState>();
  private openCells = 0;
  private counters = { lateRequests: 0, forcedCloses: 0, windowsClosed: 0 };
  private readonly jumps: ClockJumpGate | undefined;

  constructor(private readonly options: ApiWindowOptions) {
    this.jumps = options.jump ? new ClockJumpGate(options.jump) : undefined;
  }

  /** Adds one request arriving at `readingMs` (the reading clock); returns the cells of windows this closed. */
  add(source: string, facts: RequestFacts, readingMs: number): ClosedCell[] {
    let state = this.sources.get(source);
    if (!state) {
      state = { maxT: -Infinity, held: undefined, lastArrivalMs: readingMs, open: new Map(), closedUpTo: new Map() };
      this.sources.set(source, state);
    }
    state.lastArrivalMs = readingMs;
    const counted = state;
    if (!this.jumps || this.jumps.continues(state, facts.timeMs)) {
      this.count(state, facts);
      state.maxT = Math.max(state.maxT, facts.timeMs);
    } else {
      this.jumps.offer(state, facts.timeMs, facts, (f) => this.count(counted, f));
    }
    const closed = this.closeUpTo(source, state, state.maxT - this.options.allowedLatenessMs);
    if (this.openCells > this.options.maxOpenCells) closed.push(...this.forceClose());
    return closed;
  }

  /** Adds one request to its cell in every window size (or counts it late). */
  private count(state: SourceState, facts: RequestFacts): void {
    let late = false;
    for (const size of this.options.sizesMs) {
      const start = Math.floor(facts.timeMs / size) * size;
      if (start + size <= (state.closedUpTo.get(size) ?? -Infinity)) {
        late = true;
        continue;
      }
      let windows = state.open.get(size);
      if (!windows) state.open.set(size, (windows = new Map()));
      let cells = windows.get(start);
      if (!cells) windows.set(start, (cells = new Map()));
      const key = `${facts.endpoint}\u0000${facts.statusClass}\u0000${facts.country}\u0000${facts.customer}\u0000${facts.plan}`;
      let cell = cells.get(key);
      if (!cell) {
        cell = {
          facts: { endpoint: facts.endpoint, statusClass: facts.statusClass, country: facts.country, customer: facts.customer, plan: facts.plan },
          requests: 0,
          errors: 0,
          clientErrors: 0,
          bytesIn: 0,
          bytesOut: 0,
          hist: hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 2, autoResize: false }),
        };
        cells.set(key, cell);
        this.openCells += 1;
      }
      cell.requests += 1;
      if (facts.status >= 500) cell.errors += 1;
      else if (facts.status >= 400) cell.clientErrors += 1;
      cell.bytesIn += facts.bytesIn;
      cell.bytesOut += facts.bytesOut;
      cell.hist.recordValue(Math.min(3_600_000_000, Math.max(1, facts.latencyUs)));
    }
    if (late) this.counters.lateRequests += 1;
  }

  /** Closes windows of sources idle for `idleTimeoutMs` of `readingMs`, up to the wall clock `nowMs`. */
  closeIdle(nowMs: number, readingMs = nowMs): ClosedCell[] {
    const out: ClosedCell[] = [];
    for (const [source, state] of this.sources) {
      if (readingMs - state.lastArrivalMs < this.options.idleTimeoutMs) continue;
      if (state.held) this.jumps?.drop(state);
      out.push(...this.closeUpTo(source, state, nowMs - this.options.allowedLatenessMs));
    }
    return out;
  }

  /** Closes every open window (shutdown of a benchmark or test; a service keeps them). */
  closeAll(): ClosedCell[] {
    const out: ClosedCell[] = [];
    for (const [source, state] of this.sources) out.push(...this.closeUpTo(source, state, Infinity));
    return out;
  }

  stats(): ApiWindowStats {
    const jumps = this.jumps?.stats();
    return { openCells: this.openCells, ...this.counters, clockJumpsFollowed: jumps?.confirmed ?? 0, clockJumpRequestsDiscarded: jumps?.discarded ?? 0 };
  }

  private closeUpTo(source: string, state: SourceState, watermark: number): ClosedCell[] {
    const out: ClosedCell[] = [];
    for (const [size, windows] of state.open) {
      for (const [start, cells] of windows) {
        if (start + size > watermark) continue;
        out.push(...this.emit(source, size, start, cells));
        windows.delete(start);
        state.closedUpTo.set(size, Math.max(state.closedUpTo.get(size) ?? -Infinity, start + size));
      }
    }
    return out;
  }

  private forceClose(): ClosedCell[] {
    let oldest: { source: string; state: SourceState; size: number; start: number } | undefined;
    for (const [source, state] of this.sources) {
      for (const [size, windows] of state.open) {
        for (const start of windows.keys()) if (!oldest || start < oldest.start) oldest = { source, state, size, start };
      }
    }
    if (!oldest) return [];
    this.counters.forcedCloses += 1;
    const windows = oldest.state.open.get(oldest.size)!;
    const cells = windows.get(oldest.start)!;
    windows.delete(oldest.start);
    oldest.state.closedUpTo.set(oldest.size, Math.max(oldest.state.closedUpTo.get(oldest.size) ?? -Infinity, oldest.start + oldest.size));
    return this.emit(oldest.source, oldest.size, oldest.start, cells);
  }

  private emit(source: string, size: number, start: number, cells: Map<string, Cell>): ClosedCell[] {
    this.counters.windowsClosed += 1;
    const out: ClosedCell[] = [];
    for (const cell of cells.values()) {
      out.push({
        source,
        windowMs: size,
        startMs: start,
        ...cell.facts,
        requests: cell.requests,
        errors: cell.errors,
        clientErrors: cell.clientErrors,
        bytesIn: cell.bytesIn,
        bytesOut: cell.bytesOut,
        p50Ms: cell.hist.getValueAtPercentile(50) / 1000,
        p95Ms: cell.hist.getValueAtPercentile(95) / 1000,
        p99Ms: cell.hist.getValueAtPercentile(99) / 1000,
        maxMs: cell.hist.maxValue / 1000,
      });
      this.openCells -= 1;
    }
    return out;
  }
}
