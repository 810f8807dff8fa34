/**
 * Quiet hours in the operator's time zone: whether an instant falls in them, and when they end.
 * `start` 22:00, `end` 07:00 spans midnight; `start` = `end` means never quiet. Wall-clock times
 * are read in the zone (Intl), so daylight-saving changes move the instants, not the hours.
 */
import type { QuietHours } from './notify-config.ts';

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Minutes since local midnight at `ms` in `timeZone`. */
function localMinutes(ms: number, timeZone: string): number {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, format);
  }
  const parts = format.formatToParts(new Date(ms));
  const hour = Number(parts.find((p) => p.type === 'hour')?.value ?? 0);
  const minute = Number(parts.find((p) => p.type === 'minute')?.value ?? 0);
  return hour * 60 + minute;
}

const minutesOf = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

export function inQuietHours(quiet: QuietHours, ms: number): boolean {
  const start = minutesOf(quiet.start);
  const end = minutesOf(quiet.end);
  if (start === end) return false;
  const now = localMinutes(ms, quiet.timeZone);
  return start < end ? now >= start && now < end : now >= start || now < end;
}

/** The first instant at or after `ms` that is not in quiet hours (`ms` itself when it is not). */
export function quietHoursEnd(quiet: QuietHours, ms: number): number {
  if (!inQuietHours(quiet, ms)) return ms;
  // Step to the next whole minute, then a minute at a time: at most a day of steps, and exact
  // across daylight-saving changes without date arithmetic in the zone.
  let t = Math.floor(ms / 60_000) * 60_000 + 60_000;
  for (let i = 0; i < 1500 && inQuietHours(quiet, t); i++) t += 60_000;
  return t;
}
