/**
 * Is this machine's clock synchronised? The agent stamps every sample with it, so a car whose clock
 * is off stores its data at the wrong time (and ingest's windows and the dashboard with it).
 *
 * Node cannot call adjtimex(2), so the answer comes from what Linux offers, in this order:
 *  1. A clock earlier than `floorMs` (the release of this code) is certainly wrong: `before-build`.
 *     A Raspberry Pi has no RTC and may boot at its last shutdown time, or in 1970.
 *  2. `timedatectl show -p NTPSynchronized --value` (systemd; reflects the kernel's sync flag, which
 *     systemd-timesyncd, chrony and ntpd all set): `yes` / `no`.
 *  3. systemd-timesyncd's flag file `/run/systemd/timesync/synchronized`, when timedatectl cannot
 *     answer (no D-Bus): present → synchronised; its directory without it → not (yet).
 *  4. Otherwise `unknown`: nothing to ask (a container, a system without systemd).
 * A check never throws; each answer says where it came from.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { errorMessage } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';

export type ClockState = 'synchronised' | 'unsynchronised' | 'before-build' | 'unknown';

export interface ClockStatus {
  state: ClockState;
  /** What answered: `floor`, `timedatectl`, `timesyncd` or `none`. */
  source: 'floor' | 'timedatectl' | 'timesyncd' | 'none';
  /** Why, in words (the floor, the command's answer or error). */
  detail: string;
}

/**
 * No correct clock shows a time before this code was released (2026-12-01); raise it with releases.
 * Only catches clocks that are badly wrong; smaller errors are what `sentAt` lets ingest measure.
 */
export const CLOCK_FLOOR_MS = Date.UTC(2026, 11, 1);

export interface ClockCheckOptions {
  now?: () => number;
  floorMs?: number;
  /** The timedatectl executable; false to skip it. */
  timedatectl?: string | false;
  /** systemd-timesyncd's flag file. */
  timesyncdFlagFile?: string;
  timeoutMs?: number;
}

/**
 * One answer per machine and second: a simulated fleet runs many agents in one process, and each
 * would otherwise start a timedatectl of its own. Not used with an injected clock (`now`).
 */
const recent = new Map<string, { atMs: number; answer: Promise<ClockStatus> }>();
const SHARE_MS = 1000;

export function checkClock(options: ClockCheckOptions = {}): Promise<ClockStatus> {
  if (options.now) return checkClockNow(options);
  const key = JSON.stringify([options.floorMs, options.timedatectl, options.timesyncdFlagFile]);
  const nowMs = Date.now();
  const hit = recent.get(key);
  if (hit && nowMs - hit.atMs < SHARE_MS) return hit.answer;
  const answer = checkClockNow(options);
  if (recent.size >= 16) recent.clear(); // bound: a handful of option sets per process
  recent.set(key, { atMs: nowMs, answer });
  return answer;
}

async function checkClockNow(options: ClockCheckOptions): Promise<ClockStatus> {
  const now = (options.now ?? Date.now)();
  const floorMs = options.floorMs ?? CLOCK_FLOOR_MS;
  if (now < floorMs) return { state: 'before-build', source: 'floor', detail: `clock shows ${new Date(now).toISOString()}, before ${new Date(floorMs).toISOString()}` };
  let timedatectlError = '';
  if (options.timedatectl !== false) {
    const answer = await run(options.timedatectl ?? 'timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], options.timeoutMs ?? 2000);
    if (answer.ok && answer.out === 'yes') return { state: 'synchronised', source: 'timedatectl', detail: 'NTPSynchronized=yes' };
    if (answer.ok && answer.out === 'no') return { state: 'unsynchronised', source: 'timedatectl', detail: 'NTPSynchronized=no' };
    timedatectlError = answer.ok ? `unexpected answer ${JSON.stringify(answer.out)}` : answer.error;
  }
  const flag = options.timesyncdFlagFile ?? '/run/systemd/timesync/synchronized';
  if (existsSync(flag)) return { state: 'synchronised', source: 'timesyncd', detail: `${flag} exists` };
  if (existsSync(dirname(flag))) return { state: 'unsynchronised', source: 'timesyncd', detail: `${flag} does not exist (yet)` };
  return { state: 'unknown', source: 'none', detail: `no timesyncd flag file${timedatectlError ? `; timedatectl: ${timedatectlError}` : ''}` };
}

function run(command: string, args: string[], timeoutMs: number): Promise<{ ok: true; out: string } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) resolve({ ok: false, error: (String(stderr).trim().split('\n')[0] || errorMessage(error)).slice(0, 200) });
      else resolve({ ok: true, out: String(stdout).trim() });
    });
  });
}

/**
 * Checks the clock every `intervalMs` and logs once per change of state: a warning when it is not
 * synchronised or certainly wrong, info when it is synchronised or cannot be told.
 */
export class ClockMonitor {
  private current: ClockStatus | undefined;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;

  constructor(
    private readonly options: ClockCheckOptions & { intervalMs?: number },
    private readonly log: Logger,
    private readonly onChange: (status: ClockStatus) => void = () => undefined,
  ) {}

  /** The last answer; `unknown` before the first check finished. */
  get status(): ClockStatus {
    return this.current ?? { state: 'unknown', source: 'none', detail: 'not checked yet' };
  }

  /** Checks now (resolves when done) and then every interval. */
  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => void this.check(), this.options.intervalMs ?? 60_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  check(): Promise<void> {
    this.checking ??= checkClock(this.options).then((status) => {
      this.checking = undefined;
      const previous = this.current?.state;
      this.current = status;
      if (status.state === previous) return;
      const fields = { clock: status.state, source: status.source, detail: status.detail };
      if (status.state === 'unsynchronised') this.log.warn('clock not synchronised: event times may be off (batches carry sentAt, so ingest can measure the skew)', fields);
      else if (status.state === 'before-build') this.log.warn('clock is certainly wrong (before this software was released): event times are off until it is set', fields);
      else if (status.state === 'synchronised') this.log.info('clock synchronised', fields);
      else this.log.info('cannot tell whether the clock is synchronised', fields);
      this.onChange(status);
    });
    return this.checking;
  }
}
