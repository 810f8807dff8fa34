/**
 * Clock sanity at ingest: event times that cannot be right are refused before they reach the
 * spool, the windows or InfluxDB, so one bad clock reading never moves a watermark.
 *
 * - Ahead: an event time more than `maxAheadMs` after ingest received it. Ingest's receive time
 *   is at or after the broker's, so this never refuses an honest sample, also one that waited at
 *   the broker. A sample from the future cannot be followed, however consistent: the sender's
 *   clock is wrong (the agent warns when its clock is not synchronised).
 * - Old: an event time more than `maxAgeMs` before it was received (a GPS week rollover puts a
 *   clock 19.6 years back; a Raspberry Pi without RTC starts in 1970, which the wire schema
 *   already refuses). Ten years by default, so replays of recorded drives still count.
 *
 * Refused samples (log lines) become one `clock_skew` dead letter per message, with the offset.
 * A forward jump that is plausible against the receive time is a matter of the windows
 * (common/windows/clock-jump-gate.ts), not of this check.
 */
export interface ClockBounds {
  maxAheadMs: number;
  maxAgeMs: number;
}

const DAY_MS = 86_400_000;

export const DEFAULT_CLOCK_BOUNDS: ClockBounds = { maxAheadMs: 300_000, maxAgeMs: 3650 * DAY_MS };

/** True when event time `t` is not plausible for something received at `receivedAtMs`. */
export function outsideClockBounds(t: number, receivedAtMs: number, bounds: ClockBounds): boolean {
  return t - receivedAtMs > bounds.maxAheadMs || receivedAtMs - t > bounds.maxAgeMs;
}

export interface ClockSplit<T> {
  /** `items` itself when nothing was refused. */
  plausible: readonly T[];
  skewed: T[];
  /** Event time minus receive time of the skewed item furthest off (0 when none). */
  worstOffsetMs: number;
}

/** Splits items into plausible and skewed ones by their event time (see the module comment). */
export function splitByClock<T>(items: readonly T[], timeOf: (item: T) => number, receivedAtMs: number, bounds: ClockBounds): ClockSplit<T> {
  let skewed: T[] | undefined;
  let worstOffsetMs = 0;
  for (const item of items) {
    const t = timeOf(item);
    if (!outsideClockBounds(t, receivedAtMs, bounds)) continue;
    (skewed ??= []).push(item);
    if (Math.abs(t - receivedAtMs) > Math.abs(worstOffsetMs)) worstOffsetMs = t - receivedAtMs;
  }
  if (!skewed) return { plausible: items, skewed: [], worstOffsetMs: 0 };
  const refused = new Set(skewed);
  return { plausible: items.filter((item) => !refused.has(item)), skewed, worstOffsetMs };
}

function seconds(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${s >= 0 ? '+' : '-'}${Math.abs(s).toLocaleString('en-US')} s`;
}

/** The dead letter's detail: how many were refused, the worst offset, the bounds, and the sender's clock when known. */
export function describeClockSkew(skewed: number, total: number, noun: string, worstOffsetMs: number, bounds: ClockBounds, senderOffsetMs?: number): string {
  const sender = senderOffsetMs === undefined ? '' : `; sender clock ${seconds(senderOffsetMs)} from receive time`;
  return (
    `${skewed} of ${total} ${noun} outside the clock bounds: event time ${seconds(worstOffsetMs)} from receive time ` +
    `(allowed: up to ${seconds(bounds.maxAheadMs)} ahead, ${Math.round(bounds.maxAgeMs / DAY_MS).toLocaleString('en-US')} days back)${sender}`
  );
}
