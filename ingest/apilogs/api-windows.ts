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
 *   requests confirms it (common/windows/clock-jump-gate.ts); requests of a run still held when the
 *   source goes idle are not aggregated (counted).
 * - Restart: `snapshot()` captures every open window (cells with their histograms), each source's
 *   progress and held run; `restore()` resumes them, so a window open at a clean stop closes later
 *   with the requests of both runs. `openCellsSoFar()` gives what open windows hold now, for
 *   provisional points at a stop (a window written again later overwrites them: same key).
 */
import * as hdr from 'hdr-histogram-js';
import { z } from 'zod';
import { ClockJumpGate, type HeldRun, type JumpGateOptions } from '../../common/windows/clock-jump-gate.ts';

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

const HISTOGRAM = { lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 2, autoResize: false } as const;

const requestFactsSchema = z.object({
  timeMs: z.number(),
  endpoint: z.string(),
  statusClass: z.string(),
  country: z.string(),
  customer: z.string(),
  plan: z.string(),
  status: z.number(),
  bytesIn: z.number(),
  bytesOut: z.number(),
  latencyUs: z.number(),
});

/** Open windows and progress of every source, as JSON (see `snapshot`). */
export const apiWindowsSnapshotSchema = z.object({
  sources: z.array(
    z.object({
      source: z.string(),
      maxT: z.number().nullable(),
      /** Per window size: every window ending at or before this is closed. */
      closedUpTo: z.array(z.tuple([z.number(), z.number()])),
      held: z.array(requestFactsSchema),
      cells: z.array(
        z.object({
          windowMs: z.number(),
          startMs: z.number(),
          endpoint: z.string(),
          statusClass: z.string(),
          country: z.string(),
          customer: z.string(),
          plan: z.string(),
          requests: z.number(),
          errors: z.number(),
          clientErrors: z.number(),
          bytesIn: z.number(),
          bytesOut: z.number(),
          /** HDR histogram of latencies (µs), compressed base64; its max is bucket-rounded, hence `maxUs`. */
          latencies: z.string(),
          maxUs: z.number(),
        }),
      ),
    }),
  ),
});
export type ApiWindowsSnapshot = z.infer<typeof apiWindowsSnapshotSchema>;

/** What a cell adds up (ClosedCell fields, and the snapshot's). */
interface CellCounts {
  requests: number;
  errors: number;
  clientErrors: number;
  bytesIn: number;
  bytesOut: number;
}

interface Cell {
  facts: Omit<RequestFacts, 'timeMs' | 'status' | 'bytesIn' | 'bytesOut' | 'latencyUs'>;
  counts: CellCounts;
  hist: hdr.Histogram;
  /** Exact largest latency (µs); a histogram read back from a snapshot only knows its bucket. */
  maxUs: number;
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
      const cell = this.cellFor(state, size, start, facts);
      const counts = cell.counts;
      counts.requests += 1;
      if (facts.status >= 500) counts.errors += 1;
      else if (facts.status >= 400) counts.clientErrors += 1;
      counts.bytesIn += facts.bytesIn;
      counts.bytesOut += facts.bytesOut;
      const latencyUs = Math.min(HISTOGRAM.highestTrackableValue, Math.max(1, facts.latencyUs));
      cell.hist.recordValue(latencyUs);
      if (latencyUs > cell.maxUs) cell.maxUs = latencyUs;
    }
    if (late) this.counters.lateRequests += 1;
  }

  /** The open cell of (size, start, dimensions), created empty when missing. */
  private cellFor(state: SourceState, size: number, start: number, dims: Cell['facts']): Cell {
    let windows = state.open.get(size);
    if (!windows) state.open.set(size, (windows = new Map()));
    let cells = windows.get(start);
    if (!cells) windows.set(start, (cells = new Map()));
    const key = `${dims.endpoint}\u0000${dims.statusClass}\u0000${dims.country}\u0000${dims.customer}\u0000${dims.plan}`;
    let cell = cells.get(key);
    if (!cell) {
      cell = {
        facts: { endpoint: dims.endpoint, statusClass: dims.statusClass, country: dims.country, customer: dims.customer, plan: dims.plan },
        counts: { requests: 0, errors: 0, clientErrors: 0, bytesIn: 0, bytesOut: 0 },
        hist: hdr.build(HISTOGRAM),
        maxUs: 0,
      };
      cells.set(key, cell);
      this.openCells += 1;
    }
    return cell;
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

  /** What the open windows hold so far, without closing them. */
  openCellsSoFar(): ClosedCell[] {
    const out: ClosedCell[] = [];
    for (const [source, state] of this.sources) {
      for (const [size, windows] of state.open) for (const [start, cells] of windows) for (const cell of cells.values()) out.push(closedCell(source, size, start, cell));
    }
    return out;
  }

  /** Earliest event time an open window or held run covers (Infinity when none): older requests are late if repeated. */
  oldestOpenMs(): number {
    let oldest = Infinity;
    for (const state of this.sources.values()) {
      for (const windows of state.open.values()) for (const start of windows.keys()) oldest = Math.min(oldest, start);
      if (state.held) oldest = Math.min(oldest, state.held.firstT);
    }
    return oldest;
  }

  snapshot(): ApiWindowsSnapshot {
    return {
      sources: [...this.sources].map(([source, state]) => ({
        source,
        maxT: Number.isFinite(state.maxT) ? state.maxT : null,
        closedUpTo: [...state.closedUpTo],
        held: state.held?.items ?? [],
        cells: [...state.open].flatMap(([size, windows]) =>
          [...windows].flatMap(([start, cells]) =>
            [...cells.values()].map((cell) => ({
              windowMs: size,
              startMs: start,
              ...cell.facts,
              ...cell.counts,
              latencies: hdr.encodeIntoCompressedBase64(cell.hist),
              maxUs: cell.maxUs,
            })),
          ),
        ),
      })),
    };
  }

  /**
   * Resumes a snapshot (at start, before any request): its open windows go on collecting, its
   * sources count as having just sent (`readingMs`), so idle timeouts start over. Cells of window
   * sizes no longer configured are dropped; returns how many cells were resumed.
   */
  restore(snapshot: ApiWindowsSnapshot, readingMs: number): number {
    let resumed = 0;
    for (const saved of snapshot.sources) {
      let state = this.sources.get(saved.source);
      if (!state) {
        state = { maxT: -Infinity, held: undefined, lastArrivalMs: readingMs, open: new Map(), closedUpTo: new Map() };
        this.sources.set(saved.source, state);
      }
      state.lastArrivalMs = readingMs;
      state.maxT = Math.max(state.maxT, saved.maxT ?? -Infinity);
      for (const [size, upTo] of saved.closedUpTo) state.closedUpTo.set(size, Math.max(state.closedUpTo.get(size) ?? -Infinity, upTo));
      if (saved.held.length > 0 && this.jumps) {
        const times = saved.held.map((f) => f.timeMs);
        state.held = { items: [...saved.held], times, firstT: Math.min(...times), lastT: Math.max(...times) };
      }
      for (const c of saved.cells) {
        if (!this.options.sizesMs.includes(c.windowMs)) continue;
        const cell = this.cellFor(state, c.windowMs, c.startMs, c);
        for (const k of Object.keys(cell.counts) as Array<keyof CellCounts>) cell.counts[k] += c[k];
        cell.hist.add(hdr.decodeFromCompressedBase64(c.latencies));
        cell.maxUs = Math.max(cell.maxUs, c.maxUs);
        resumed += 1;
      }
    }
    return resumed;
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
      out.push(closedCell(source, size, start, cell));
      this.openCells -= 1;
    }
    return out;
  }
}

function closedCell(source: string, size: number, start: number, cell: Cell): ClosedCell {
  return {
    source,
    windowMs: size,
    startMs: start,
    ...cell.facts,
    ...cell.counts,
    p50Ms: cell.hist.getValueAtPercentile(50) / 1000,
    p95Ms: cell.hist.getValueAtPercentile(95) / 1000,
    p99Ms: cell.hist.getValueAtPercentile(99) / 1000,
    maxMs: cell.maxUs / 1000,
  };
}
