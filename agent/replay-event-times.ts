/**
 * A log's clock → event times. The one place that decides when each logged row happened, for
 * the agent's replay and for offline evaluation alike (agent/replay-formats.ts calls it per
 * vehicle).
 */
import type { ReplayTimeKind } from '../contracts/drive-log-formats.ts';

/**
 * Clock values → strictly increasing whole-ms event times. Rows sharing a clock value are spread
 * evenly over the step to the next value (a 1 s run-time clock logged at 2 rows/s gives 0, 500 ms);
 * the last group uses the row rate. A clock that goes backwards (engine restart: run time back to
 * 0) continues after the previous row instead. Relative clocks start at 0; absolute ones keep
 * their Unix time. NaN clocks (no clock column) are spaced at the row rate.
 */
export function eventTimes(clocks: readonly number[], kind: ReplayTimeKind, rowRateHz: number): number[] {
  const toMs = kind === 'datetime' || kind === 'epoch-ms' ? 1 : 1000;
  const rowMs = 1000 / rowRateHz;
  const out: number[] = new Array<number>(clocks.length);
  let offset = 0; // added after a clock restart
  let i = 0;
  let prevEnd = Number.NEGATIVE_INFINITY;
  let prevClock = Number.NEGATIVE_INFINITY;
  const base = Number.isFinite(clocks[0]) ? clocks[0]! * toMs : 0;
  while (i < clocks.length) {
    const c = clocks[i]!;
    if (!Number.isFinite(c)) {
      const t = Math.max(Math.round(prevEnd === Number.NEGATIVE_INFINITY ? 0 : prevEnd + rowMs), prevEnd + 1);
      out[i] = t;
      prevEnd = t;
      i++;
      continue;
    }
    let j = i;
    while (j < clocks.length && clocks[j] === c) j++;
    if (c < prevClock) {
      // The clock went back (engine restart): carry on one row gap after the previous row.
      offset = prevEnd + rowMs - (c * toMs - (toMs === 1 ? 0 : base));
    }
    prevClock = c;
    const groupStart = c * toMs - (toMs === 1 ? 0 : base) + offset;
    const next = clocks[j];
    const stepMs = next !== undefined && Number.isFinite(next) && next * toMs > c * toMs ? (next - c) * toMs : (j - i) * rowMs;
    for (let k = i; k < j; k++) {
      let t = Math.round(groupStart + ((k - i) * stepMs) / (j - i));
      if (t <= prevEnd) t = Math.floor(prevEnd) + 1;
      out[k] = t;
      prevEnd = t;
    }
    i = j;
  }
  return out;
}
