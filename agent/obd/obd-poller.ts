/**
 * Polls service 01 PIDs through an ELM327 session on a schedule: fast PIDs (engine speed, load …)
 * at `fastHz`, slow ones (temperatures, fuel level …) at `slowHz`.
 *
 * How a request is built: every PID has a due time on a fixed grid (its period). When the line is
 * free the scheduler takes the PIDs that are due, most overdue first, and on CAN fills the request
 * up to six PIDs with PIDs due within the next quarter of their period — one multi-PID request
 * costs little more than a single one, because the serial line and the ECU's answer latency, not
 * the bytes, dominate. Pulling a PID forward does not move its grid, so its average rate stays the
 * configured one. A PID whose slot passes while the line is busy is counted as missed and
 * re-anchored, never bursts.
 *
 * Multi-PID fallback: some ECUs and clone adapters answer only the first PID of a multi-PID
 * request, or reject it (NO DATA, `?`, a 7F negative response). Missing PIDs are then retried one
 * by one; when they answer singly twice in a row, multi-PID is switched off for this session.
 *
 * Guarantees: `onReading` fires once per answered request with the PIDs it carried, with `t`
 * strictly increasing (ms). The poller never throws for a car's or adapter's conditions; while
 * the session is not ready it waits, and after the session re-initialises it discovers the
 * supported PIDs again (the adapter may be in another car).
 */
import { sleep } from '../../common/backoff.ts';
import { type Logger, silentLogger } from '../../common/logger.ts';
import { MAX_PIDS_PER_REQUEST } from '../../contracts/obd/multi-pid.ts';
import { pidByName, pidByNumber } from '../../contracts/obd/pid-table.ts';
import type { Elm327Session } from './elm327-session.ts';
import { type PidReading, discoverSupportedPids, readPids } from './obd-requests.ts';

export interface PollReading {
  /** Event time (Unix ms) of the answer. */
  readonly t: number;
  readonly readings: readonly PidReading[];
}

export interface ObdPollerOptions {
  session: Elm327Session;
  /** PID names (python-OBD names, e.g. `RPM`) polled at `fastHz`. */
  fastPids: readonly string[];
  slowPids: readonly string[];
  fastHz: number;
  slowHz: number;
  /** Use multi-PID requests on CAN (default true); falls back by itself when the car rejects them. */
  multiPid?: boolean;
  /** PIDs per request at most (1–6). */
  maxPidsPerRequest?: number;
  onReading: (reading: PollReading) => void;
  logger?: Logger;
  now?: () => number;
  /**
   * How the poller waits for the next due PID, in the same milliseconds as `now` (default: real
   * timers). Hardware-in-the-loop tests give both a clock that runs faster than the wall, with an
   * emulated car on the same clock, to poll thirty simulated minutes in three.
   */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface PollerCounters {
  discoveries: number;
  requests: number;
  multiPidRequests: number;
  /** PID values decoded and handed out. */
  values: number;
  /** Requests that brought no value (NO DATA, timeout, not ready …). */
  emptyRequests: number;
  /** Slots passed while the line was busy (the configured rate was not reached). */
  missedSlots: number;
  /** PIDs retried singly after a multi-PID request left them out. */
  singleRetries: number;
  multiPidDisabled: number;
  /** PIDs dropped because the car announced them but never answered them. */
  droppedPids: number;
}

interface Scheduled {
  readonly pid: number;
  readonly periodMs: number;
  readonly fast: boolean;
  due: number;
}

/** PID names → numbers; throws on an unknown name (a configuration error caught at start). */
export function resolvePidNames(names: readonly string[]): number[] {
  return names.map((name) => {
    const def = pidByName(name.trim().toUpperCase());
    if (!def) throw new RangeError(`unknown PID name ${JSON.stringify(name)} (use names such as RPM, SPEED, COOLANT_TEMP)`);
    return def.pid;
  });
}

export class ObdPoller {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly wait: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly stopController = new AbortController();
  private readonly fastPids: number[];
  private readonly slowPids: number[];
  private schedule: Scheduled[] = [];
  private discoveredGeneration = -1;
  private multiPid: boolean;
  private multiPidStrikes = 0;
  private lastT = 0;
  private running: Promise<void> | undefined;
  private supportedPids: readonly number[] = [];
  /** Consecutive single requests without an answer, per PID, while other PIDs did answer. */
  private readonly silentPids = new Map<number, number>();

  readonly counters: PollerCounters = {
    discoveries: 0,
    requests: 0,
    multiPidRequests: 0,
    values: 0,
    emptyRequests: 0,
    missedSlots: 0,
    singleRetries: 0,
    multiPidDisabled: 0,
    droppedPids: 0,
  };

  constructor(private readonly options: ObdPollerOptions) {
    if (!(options.fastHz > 0) || !(options.slowHz > 0)) throw new RangeError('fastHz and slowHz must be > 0');
    this.log = (options.logger ?? silentLogger).child('poller');
    this.now = options.now ?? Date.now;
    this.wait = options.sleep ?? sleep;
    this.fastPids = [...new Set(resolvePidNames(options.fastPids))];
    const fast = new Set(this.fastPids);
    this.slowPids = [...new Set(resolvePidNames(options.slowPids))].filter((p) => !fast.has(p));
    this.multiPid = options.multiPid ?? true;
  }

  /** PIDs the car said it supports at the last discovery. */
  get supported(): readonly number[] {
    return this.supportedPids;
  }

  /** Whether requests currently carry several PIDs. */
  get usingMultiPid(): boolean {
    return this.multiPid && this.options.session.info?.isCan === true && (this.options.maxPidsPerRequest ?? MAX_PIDS_PER_REQUEST) > 1;
  }

  start(): void {
    this.running ??= this.loop().catch((error: unknown) => this.log.error('poller loop failed', { error }));
  }

  async stop(): Promise<void> {
    this.stopController.abort();
    await this.running;
  }

  private get stopped(): boolean {
    return this.stopController.signal.aborted;
  }

  private async loop(): Promise<void> {
    const session = this.options.session;
    while (!this.stopped) {
      if (session.state !== 'ready') {
        await Promise.race([session.waitForState('ready', 1000), sleep(1000, this.stopController.signal)]);
        continue;
      }
      if (this.discoveredGeneration !== session.generation) {
        await this.discover();
        continue;
      }
      const now = this.now();
      const batch = this.nextBatch(now);
      if (batch.length === 0) {
        const next = Math.min(...this.schedule.map((s) => s.due), now + 1000);
        await this.wait(Math.max(1, next - now), this.stopController.signal);
        continue;
      }
      await this.poll(batch);
    }
  }

  private async discover(): Promise<void> {
    const session = this.options.session;
    const generation = session.generation;
    const found = await discoverSupportedPids(session);
    if (found.status !== 'data') {
      // The session notices a car that stopped answering; give it a moment instead of spinning.
      await sleep(200, this.stopController.signal);
      return;
    }
    this.counters.discoveries += 1;
    this.supportedPids = found.pids;
    const supported = new Set(found.pids);
    const unsupported = [...this.fastPids, ...this.slowPids].filter((p) => !supported.has(p));
    if (unsupported.length > 0) {
      this.log.warn('vehicle does not support some configured PIDs; they are skipped', { pids: unsupported.map((p) => pidByNumber(p)?.name ?? p) });
    }
    const now = this.now();
    const fastPeriod = 1000 / this.options.fastHz;
    const slowPeriod = 1000 / this.options.slowHz;
    this.schedule = [
      ...this.fastPids.filter((p) => supported.has(p)).map((pid) => ({ pid, periodMs: fastPeriod, fast: true, due: now })),
      ...this.slowPids.filter((p) => supported.has(p)).map((pid) => ({ pid, periodMs: slowPeriod, fast: false, due: now })),
    ];
    this.multiPid = this.options.multiPid ?? true;
    this.multiPidStrikes = 0;
    this.silentPids.clear();
    this.discoveredGeneration = generation;
    this.log.info('supported PIDs discovered', {
      supported: found.pids.length,
      ecus: [...found.byEcu.keys()],
      polled: this.schedule.length,
      multiPid: this.usingMultiPid,
    });
    if (this.schedule.length === 0) this.log.warn('none of the configured PIDs is supported: nothing to poll');
  }

  /** Due PIDs, most overdue first (fast before slow on ties), topped up with PIDs due soon. */
  private nextBatch(now: number): Scheduled[] {
    const limit = this.usingMultiPid ? Math.min(this.options.maxPidsPerRequest ?? MAX_PIDS_PER_REQUEST, MAX_PIDS_PER_REQUEST) : 1;
    const order = (a: Scheduled, b: Scheduled): number => a.due - b.due || Number(b.fast) - Number(a.fast);
    const due = this.schedule.filter((s) => s.due <= now).sort(order);
    if (due.length === 0) return [];
    const batch = due.slice(0, limit);
    if (batch.length < limit) {
      const soon = this.schedule.filter((s) => s.due > now && s.due - now <= s.periodMs / 4).sort(order);
      batch.push(...soon.slice(0, limit - batch.length));
    }
    return batch;
  }

  private advance(entry: Scheduled, now: number): void {
    entry.due += entry.periodMs;
    if (entry.due <= now) {
      // The line could not keep up: skip the missed slots instead of bursting to catch up.
      const missed = Math.floor((now - entry.due) / entry.periodMs) + 1;
      this.counters.missedSlots += missed;
      entry.due += missed * entry.periodMs;
    }
  }

  private async poll(batch: readonly Scheduled[]): Promise<void> {
    const pids = batch.map((s) => s.pid);
    const result = await readPids(this.options.session, pids);
    this.counters.requests += 1;
    if (pids.length > 1) this.counters.multiPidRequests += 1;
    const readings = [...result.readings];
    if (pids.length > 1 && result.readings.length < pids.length && this.options.session.state === 'ready') {
      await this.retrySingly(pids, readings, result.rejected);
    }
    const now = this.now();
    for (const entry of batch) this.advance(entry, now);
    if (readings.length === 0) {
      this.counters.emptyRequests += 1;
      return;
    }
    const t = Math.max(now, this.lastT + 1);
    this.lastT = t;
    this.counters.values += readings.length;
    this.options.onReading({ t, readings });
  }

  /**
   * Some ECUs announce PIDs they never answer. A PID that stays silent while the PIDs asked with
   * it answer is dropped after three tries (until the next discovery), so it stops costing a
   * request every cycle.
   */
  private noteSilentPid(pid: number): void {
    const strikes = (this.silentPids.get(pid) ?? 0) + 1;
    this.silentPids.set(pid, strikes);
    if (strikes < 3) return;
    this.schedule = this.schedule.filter((s) => s.pid !== pid);
    this.silentPids.delete(pid);
    this.counters.droppedPids += 1;
    this.log.warn('vehicle announces a PID it does not answer; no longer polled', { pid: pidByNumber(pid)?.name ?? pid });
  }

  /**
   * A multi-PID request left PIDs out. Ask those singly; if they answer, the multi-PID form is
   * what failed, and after two such requests in a row it is switched off.
   */
  private async retrySingly(pids: readonly number[], readings: PidReading[], rejected: boolean): Promise<void> {
    const answered = new Set(readings.map((r) => r.pid));
    const ecuAlive = readings.length > 0;
    let recovered = 0;
    for (const pid of pids) {
      if (answered.has(pid)) continue;
      this.counters.singleRetries += 1;
      const single = await readPids(this.options.session, [pid]);
      this.counters.requests += 1;
      for (const r of single.readings) {
        readings.push(r);
        recovered += 1;
      }
      if (single.readings.length > 0) this.silentPids.delete(pid);
      else if (ecuAlive) this.noteSilentPid(pid);
    }
    if (recovered > 0 || rejected) this.multiPidStrikes += 1;
    else this.multiPidStrikes = 0;
    if (this.multiPid && this.multiPidStrikes >= 2) {
      this.multiPid = false;
      this.counters.multiPidDisabled += 1;
      this.log.warn('vehicle or adapter does not answer multi-PID requests: polling one PID per request');
    }
  }
}
