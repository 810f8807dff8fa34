/**
 * A TelemetrySource that plays a recorded drive log (see replay-formats.ts) as if the car were
 * driving now.
 *
 * Guarantees:
 * - Every parsed row is handed to `onSample` exactly once, in order, with strictly increasing
 *   whole-ms `t` (also across rows that repeat each other exactly, and across engine restarts);
 *   a row whose event time falls outside the telemetry contract's window is counted
 *   (`outsideTimeWindow`) instead. Rows become samples through agent/replay-samples.ts, as they
 *   do for offline evaluation (agent/replay-drive-log.ts).
 * - `time: 'rebase'` (default) shifts the log so its first row is at `startMs` (default: the wall
 *   clock at `start()` when played as recorded; played faster, so that its last row is at that
 *   time, since ingest refuses event times from the future), keeping the log's spacing; `'keep'` keeps the log's own Unix times and
 *   needs a log with a date-time clock.
 * - `speed` paces emission against the wall clock: 1 = as recorded, 10 = ten times faster,
 *   0 = as fast as possible. Event times never change with speed, only when they are emitted.
 *   At most `maxSamplesPerTick` samples go out per timer tick, so the event loop stays free.
 * - After the last row the source is finished: `finished` resolves and `onEnd` fires once.
 *   With `loop` the log starts over instead, continuing after the last event time.
 * - A log with diagnosis columns (MIL, DTCs, the since-clear counters: agent/replay-health.ts)
 *   gives a health reading at its first such row and whenever the diagnosis it shows changes,
 *   at that row's event time.
 */
import type { Sample } from '../contracts/telemetry.ts';
import { sameDiagnosis, type VehicleHealthState } from '../contracts/vehicle-health.ts';
import { ConfigError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { loadDriveLog, type ReplayFormatChoice } from './replay-file.ts';
import { pickVehicle, type ReplayLog } from './replay-formats.ts';
import { ReplayHealthReader } from './replay-health.ts';
import { eventTimeShiftMs, sampleOf } from './replay-samples.ts';
import type { HealthReading, TelemetrySource } from './telemetry-source.ts';

export interface ReplaySourceOptions {
  /** One vehicle's parsed log (`pickVehicle(loadDriveLog(…))`). */
  log: ReplayLog;
  /** Log seconds per wall-clock second; 0 = as fast as possible. Default 1. */
  speed?: number;
  time?: 'rebase' | 'keep';
  /** Event time of the first row when rebasing; default: the wall clock at start(). */
  startMs?: number;
  loop?: boolean;
  maxSamplesPerTick?: number;
  onEnd?: (stats: ReplayStats) => void;
  /** Injected for tests; wall-clock milliseconds. */
  now?: () => number;
}

export interface ReplayStats {
  format: string;
  rows: number;
  emitted: number;
  passes: number;
  /** Rows not sent because their kept time lies outside the telemetry contract's window (2000–2100). */
  outsideTimeWindow: number;
  finished: boolean;
}

export class ReplaySource implements TelemetrySource {
  readonly name = 'replay';
  readonly finished: Promise<ReplayStats>;
  private resolveFinished!: (stats: ReplayStats) => void;
  private readonly speed: number;
  private readonly now: () => number;
  private readonly maxPerTick: number;
  private timer: NodeJS.Timeout | undefined;
  private next = 0;
  private passes = 0;
  private emitted = 0;
  private outsideTimeWindow = 0;
  private done = false;
  /** Added to the log's times: rebase shift, plus the log's length for each loop pass. */
  private shiftMs = 0;

  constructor(private readonly options: ReplaySourceOptions) {
    this.speed = options.speed ?? 1;
    if (!(this.speed >= 0) || !Number.isFinite(this.speed)) throw new ConfigError('replay', [{ field: 'replaySpeed', message: 'must be a number ≥ 0' }]);
    if (options.time === 'keep' && !options.log.absolute) {
      throw new ConfigError('replay', [{ field: 'replayTime', message: `"keep" needs a log with date-time stamps; this ${options.log.format} log has only a relative clock` }]);
    }
    if (options.log.rows.length === 0) throw new ConfigError('replay', [{ field: 'replay', message: 'the log has no usable rows' }]);
    this.now = options.now ?? Date.now;
    this.maxPerTick = options.maxSamplesPerTick ?? 2000;
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
  }

  stats(): ReplayStats {
    return { format: this.options.log.format, rows: this.options.log.rows.length, emitted: this.emitted, passes: this.passes, outsideTimeWindow: this.outsideTimeWindow, finished: this.done };
  }

  async start(onSample: (sample: Sample) => void, onHealth?: (reading: HealthReading) => void): Promise<void> {
    if (this.timer || this.done) return;
    const health = new ReplayHealthReader();
    let lastHealth: VehicleHealthState | undefined;
    const rows = this.options.log.rows;
    const first = rows[0]!.t;
    const wallStart = this.now();
    const logSpanMs = rows[rows.length - 1]!.t - first;
    // Played faster than recorded, a log rebased to start now would run ahead of the clock, and
    // ingest refuses samples from the future (clock sanity): such a replay ends now instead.
    const rebaseTo = this.options.startMs ?? (this.speed === 1 ? wallStart : wallStart - logSpanMs);
    this.shiftMs = eventTimeShiftMs(this.options.log, this.options.time ?? 'rebase', rebaseTo);
    // Loop passes are laid end to end, one median row gap apart, so event times keep increasing.
    const gapMs = Math.max(1, Math.round(logSpanMs / Math.max(1, rows.length - 1)));
    const tickMs = this.speed === 0 ? 1 : Math.max(10, Math.min(250, 1000 / this.speed));
    let passWallStart = wallStart;
    const tick = (): void => {
      // Log time the wall clock has reached in this pass.
      const due = this.speed === 0 ? Number.POSITIVE_INFINITY : first + (this.now() - passWallStart) * this.speed;
      let n = 0;
      while (n < this.maxPerTick && this.next < rows.length && rows[this.next]!.t <= due) {
        const sample = sampleOf(rows[this.next++]!, this.shiftMs);
        if (!sample) {
          this.outsideTimeWindow++;
          continue;
        }
        onSample(sample);
        this.emitted++;
        n++;
        const rowHealth = rows[this.next - 1]!.health;
        if (onHealth && rowHealth) {
          const state = health.next(sample.t, rowHealth);
          if (!lastHealth || !sameDiagnosis(lastHealth, state)) onHealth({ t: sample.t, state });
          lastHealth = state;
        }
      }
      if (this.next < rows.length) return;
      this.passes++;
      if (this.options.loop) {
        this.next = 0;
        health.reset();
        const endMs = rows[rows.length - 1]!.t + this.shiftMs;
        this.shiftMs = endMs + gapMs - first;
        passWallStart = this.speed === 0 ? this.now() : passWallStart + (logSpanMs + gapMs) / this.speed;
        return;
      }
      this.finish();
    };
    this.timer = setInterval(tick, tickMs);
    tick();
  }

  private finish(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.done) return;
    this.done = true;
    const stats = this.stats();
    this.options.onEnd?.(stats);
    this.resolveFinished(stats);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

export interface ReplayConfig {
  replay?: string | undefined;
  replayFormat: ReplayFormatChoice;
  replayMapping?: string | undefined;
  replayVehicleColumn?: string | undefined;
  replayVehicle?: string | undefined;
  replaySpeed: number;
  replayTime: 'rebase' | 'keep';
  replayLoop: boolean;
}

/** The source `fleetpulse agent --source replay` runs; logs what it maps and when it has played everything. */
export function replaySourceFromConfig(config: ReplayConfig, logger: Logger): ReplaySource {
  if (!config.replay) throw new ConfigError('agent', [{ field: 'replay', message: 'is required with --source replay (the drive log to play)' }]);
  if (config.replayVehicle !== undefined && config.replayVehicleColumn === undefined) {
    throw new ConfigError('agent', [{ field: 'replayVehicle', message: 'needs --replay-vehicle-column (the column that holds the vehicle of each row)' }]);
  }
  const parsed = loadDriveLog(config.replay, { format: config.replayFormat, mappingPath: config.replayMapping, vehicleColumn: config.replayVehicleColumn });
  const log = pickVehicle(parsed, config.replayVehicle);
  logger.info('replaying drive log', {
    file: config.replay,
    format: parsed.format,
    ...(log.vehicle !== undefined ? { vehicle: log.vehicle, vehiclesInLog: parsed.vehicles.length } : {}),
    rows: log.rows.length,
    linesRead: parsed.linesRead,
    skipped: parsed.skipped,
    dropped: parsed.dropped,
    shortRows: parsed.shortRows,
    mapping: parsed.mapping,
    speed: config.replaySpeed,
  });
  return new ReplaySource({
    log,
    speed: config.replaySpeed,
    time: config.replayTime,
    loop: config.replayLoop,
    onEnd: (stats) => logger.info('replay finished', { ...stats }),
  });
}
