/**
 * A TelemetrySource that plays a recorded drive log (see replay-formats.ts) as if the car were
 * driving now.
 *
 * Guarantees:
 * - Every parsed row is handed to `onSample` exactly once, in order, with strictly increasing
 *   whole-ms `t` (also across rows that repeat each other exactly, and across engine restarts).
 * - `time: 'rebase'` (default) shifts the log so its first row is at `startMs` (default: the wall
 *   clock at `start()`), keeping the log's spacing; `'keep'` keeps the log's own Unix times and
 *   needs a log with a date-time clock.
 * - `speed` paces emission against the wall clock: 1 = as recorded, 10 = ten times faster,
 *   0 = as fast as possible. Event times never change with speed, only when they are emitted.
 *   At most `maxSamplesPerTick` samples go out per timer tick, so the event loop stays free.
 * - After the last row the source is finished: `finished` resolves and `onEnd` fires once.
 *   With `loop` the log starts over instead, continuing after the last event time.
 */
import { readFileSync } from 'node:fs';
import { MAX_EVENT_TIME_MS, MIN_EVENT_TIME_MS, type Sample } from '../contracts/telemetry.ts';
import { ConfigError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { CAROBD_FORMAT, detectFormat, parseCustomFormat, parseDriveLog, REPLAY_FORMATS, type ParsedDriveLog, type ReplayFormat } from './replay-formats.ts';
import type { TelemetrySource } from './telemetry-source.ts';

export interface ReplaySourceOptions {
  /** The parsed log (see `loadDriveLog`). */
  log: ParsedDriveLog;
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

  async start(onSample: (sample: Sample) => void): Promise<void> {
    if (this.timer || this.done) return;
    const rows = this.options.log.rows;
    const first = rows[0]!.t;
    const wallStart = this.now();
    this.shiftMs = this.options.time === 'keep' ? 0 : (this.options.startMs ?? wallStart) - first;
    const logSpanMs = rows[rows.length - 1]!.t - first;
    // Loop passes are laid end to end, one median row gap apart, so event times keep increasing.
    const gapMs = Math.max(1, Math.round(logSpanMs / Math.max(1, rows.length - 1)));
    const tickMs = this.speed === 0 ? 1 : Math.max(10, Math.min(250, 1000 / this.speed));
    let passWallStart = wallStart;
    const tick = (): void => {
      // Log time the wall clock has reached in this pass.
      const due = this.speed === 0 ? Number.POSITIVE_INFINITY : first + (this.now() - passWallStart) * this.speed;
      let n = 0;
      while (n < this.maxPerTick && this.next < rows.length && rows[this.next]!.t <= due) {
        const row = rows[this.next++]!;
        const t = row.t + this.shiftMs;
        if (t < MIN_EVENT_TIME_MS || t > MAX_EVENT_TIME_MS) {
          this.outsideTimeWindow++; // ingest would reject the whole batch for it
          continue;
        }
        onSample({ t, ...row.values });
        this.emitted++;
        n++;
      }
      if (this.next < rows.length) return;
      this.passes++;
      if (this.options.loop) {
        this.next = 0;
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

export type ReplayFormatChoice = 'auto' | keyof typeof REPLAY_FORMATS | 'custom';

/**
 * Reads and parses a log file. `format` 'auto' recognises the built-in formats from the header;
 * 'custom' needs `mappingPath` (a JSON mapping, see parseCustomFormat). Throws ConfigError when
 * the file cannot be read or used.
 */
export function loadDriveLog(path: string, format: ReplayFormatChoice = 'auto', mappingPath?: string): ParsedDriveLog {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError('replay', [{ field: 'replay', message: `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}` }]);
  }
  let f: ReplayFormat | undefined;
  if (format === 'custom') {
    if (!mappingPath) throw new ConfigError('replay', [{ field: 'replayMapping', message: 'is required with --replay-format custom' }]);
    let json: string;
    try {
      json = readFileSync(mappingPath, 'utf8');
    } catch (error) {
      throw new ConfigError('replay', [{ field: 'replayMapping', message: `cannot read ${mappingPath}: ${error instanceof Error ? error.message : String(error)}` }]);
    }
    f = parseCustomFormat(json, mappingPath);
  } else if (format === 'auto') {
    f = detectFormat(text);
    if (!f) throw new ConfigError('replay', [{ field: 'replayFormat', message: `cannot tell the format of ${path}; pass --replay-format carobd|torque|carscanner|custom` }]);
  } else {
    f = REPLAY_FORMATS[format] ?? CAROBD_FORMAT;
  }
  return parseDriveLog(text, f);
}

export interface ReplayConfig {
  replay?: string | undefined;
  replayFormat: ReplayFormatChoice;
  replayMapping?: string | undefined;
  replaySpeed: number;
  replayTime: 'rebase' | 'keep';
  replayLoop: boolean;
}

/** The source `fleetpulse agent --source replay` runs; logs what it maps and when it has played everything. */
export function replaySourceFromConfig(config: ReplayConfig, logger: Logger): ReplaySource {
  if (!config.replay) throw new ConfigError('agent', [{ field: 'replay', message: 'is required with --source replay (the drive log to play)' }]);
  const log = loadDriveLog(config.replay, config.replayFormat, config.replayMapping);
  logger.info('replaying drive log', {
    file: config.replay,
    format: log.format,
    rows: log.rows.length,
    skippedLines: log.skippedLines,
    droppedValues: log.droppedValues,
    mapping: log.mapping,
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
