/**
 * Tumbling event-time windows over API requests, per log source, for several window sizes at once
 * (10 s and 1 min by default), keyed by endpoint × status class × country × customer × plan: the
 * keyed windows of common/windows/keyed-windows.ts (membership, lateness, closing, idle sources,
 * clock jumps), keyed by source, one shape per size, each window holding its cells.
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
 * - Bound: `maxOpenCells` over all sources; at the bound the oldest open window of any source is
 *   closed early (on a tie, the one of the size listed first; counted as `forcedCloses`).
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
import type { JumpGateOptions } from '../../common/windows/clock-jump-gate.ts';
import { KeyedWindows, type ClosedKeyWindow } from '../../common/windows/keyed-windows.ts';

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

export interface ApiWindowOptions {
  sizesMs: readonly number[];
  allowedLatenessMs: number;
  idleTimeoutMs: number;
  maxOpenCells: number;
  /** Follow forward clock jumps only once confirmed; absent = follow every request at once. */
  jump?: JumpGateOptions;
}

/** One open window of a source: its cells by dimensions. */
type Cells = Map<string, Cell>;

export class ApiWindows {
  private readonly windows: KeyedWindows<RequestFacts, Cells>;
  private openCells = 0;
  private counters = { lateRequests: 0, forcedCloses: 0, windowsClosed: 0 };

  constructor(private readonly options: ApiWindowOptions) {
    this.windows = new KeyedWindows<RequestFacts, Cells>({
      shapes: options.sizesMs.map((sizeMs) => ({ sizeMs, slideMs: sizeMs })),
      allowedLatenessMs: options.allowedLatenessMs,
      idleTimeoutMs: options.idleTimeoutMs,
      jump: options.jump,
      timeOf: (facts) => facts.timeMs,
      open: () => new Map(),
      add: (cells, facts) => this.count(this.cellFor(cells, facts), facts),
    });
  }

  /** Adds one request arriving at `readingMs` (the reading clock); returns the cells of windows this closed. */
  add(source: string, facts: RequestFacts, readingMs: number): ClosedCell[] {
    const { closed, late } = this.windows.add(source, [facts], readingMs);
    this.counters.lateRequests += late;
    const cells = this.emit(closed);
    if (this.openCells > this.options.maxOpenCells) cells.push(...this.forceClose());
    return cells;
  }

  /** Closes windows of sources idle for `idleTimeoutMs` of `readingMs`, up to the wall clock `nowMs`. */
  closeIdle(nowMs: number, readingMs = nowMs): ClosedCell[] {
    return this.emit(this.windows.closeIdle(readingMs, nowMs - this.options.allowedLatenessMs));
  }

  /** Closes every open window (shutdown of a benchmark or test; a service keeps them). */
  closeAll(): ClosedCell[] {
    return this.emit(this.windows.closeAll('flush'));
  }

  /** What the open windows hold so far, without closing them. */
  openCellsSoFar(): ClosedCell[] {
    const out: ClosedCell[] = [];
    for (const [source, state] of this.windows.entries()) {
      state.open.forEach((windows, shape) => {
        const size = this.options.sizesMs[shape]!;
        for (const [start, cells] of windows) for (const cell of cells.values()) out.push(closedCell(source, size, start, cell));
      });
    }
    return out;
  }

  /** Earliest event time an open window or held run covers (Infinity when none): older requests are late if repeated. */
  oldestOpenMs(): number {
    let oldest = Infinity;
    for (const [, state] of this.windows.entries()) {
      for (const windows of state.open) for (const start of windows.keys()) oldest = Math.min(oldest, start);
      if (state.held) oldest = Math.min(oldest, state.held.firstT);
    }
    return oldest;
  }

  snapshot(): ApiWindowsSnapshot {
    const { sizesMs } = this.options;
    return {
      sources: [...this.windows.entries()].map(([source, state]) => ({
        source,
        maxT: Number.isFinite(state.maxT) ? state.maxT : null,
        closedUpTo: state.closedUpTo.flatMap((upTo, shape): [number, number][] => (Number.isFinite(upTo) ? [[sizesMs[shape]!, upTo]] : [])),
        held: state.held?.items.map((h) => h.item) ?? [],
        cells: state.open.flatMap((windows, shape) =>
          [...windows].flatMap(([start, cells]) =>
            [...cells.values()].map((cell) => ({
              windowMs: sizesMs[shape]!,
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
    const { sizesMs } = this.options;
    let resumed = 0;
    for (const saved of snapshot.sources) {
      const closedUpTo = sizesMs.map((size) => saved.closedUpTo.find(([savedSize]) => savedSize === size)?.[1] ?? -Infinity);
      this.windows.restore(saved.source, { seenMs: readingMs, maxT: saved.maxT ?? -Infinity, closedUpTo, held: saved.held }, readingMs);
      for (const c of saved.cells) {
        const shape = sizesMs.indexOf(c.windowMs);
        if (shape < 0) continue;
        const cell = this.cellFor(this.windows.window(saved.source, shape, c.startMs, readingMs), c);
        for (const k of Object.keys(cell.counts) as Array<keyof CellCounts>) cell.counts[k] += c[k];
        cell.hist.add(hdr.decodeFromCompressedBase64(c.latencies));
        cell.maxUs = Math.max(cell.maxUs, c.maxUs);
        resumed += 1;
      }
    }
    return resumed;
  }

  stats(): ApiWindowStats {
    const { clockJumpsFollowed, clockJumpItemsDiscarded } = this.windows.stats();
    return { openCells: this.openCells, ...this.counters, clockJumpsFollowed, clockJumpRequestsDiscarded: clockJumpItemsDiscarded };
  }

  /** Adds one request to its cell. */
  private count(cell: Cell, facts: RequestFacts): void {
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

  /** The cell of a window for these dimensions, created empty when missing. */
  private cellFor(cells: Cells, dims: Cell['facts']): Cell {
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

  /** At `maxOpenCells`: closes the oldest open window of any source and size. */
  private forceClose(): ClosedCell[] {
    let oldest: { source: string; shape: number; start: number } | undefined;
    for (const [source, state] of this.windows.entries()) {
      state.open.forEach((windows, shape) => {
        for (const start of windows.keys()) if (!oldest || start < oldest.start) oldest = { source, shape, start };
      });
    }
    const closed = oldest && this.windows.closeWindow(oldest.source, oldest.shape, oldest.start, 'bound');
    if (!closed) return [];
    this.counters.forcedCloses += 1;
    return this.emit([closed]);
  }

  private emit(windows: readonly ClosedKeyWindow<Cells>[]): ClosedCell[] {
    const out: ClosedCell[] = [];
    for (const { key, shape, startMs, contents } of windows) {
      this.counters.windowsClosed += 1;
      for (const cell of contents.values()) {
        out.push(closedCell(key, this.options.sizesMs[shape]!, startMs, cell));
        this.openCells -= 1;
      }
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
