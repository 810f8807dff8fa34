/**
 * The car's diagnosis from a drive log's own columns, for the replay source: what a log may carry
 * (a MIL column, a DTC column, the ECU's since-clear counters — the carOBD logs carry the four
 * counters, PIDs 4D, 4E, 21, 30) read per row, and turned into a VehicleHealthState
 * (contracts/vehicle-health.ts) whose unknown parts are `null`.
 *
 * The MIL when the log has no MIL column: PID 4D (minutes run with the MIL on) grows by one every
 * minute the engine runs with the MIL on, and PID 21 (km with the MIL on) with every km. So the MIL
 * is on when either grew within the last two minutes of log time, off when both are zero or neither
 * grew over two minutes or more of log, and unknown before two minutes of log have been seen.
 */
import { DTC_PATTERN, type HealthCounters, type VehicleHealthState } from '../contracts/vehicle-health.ts';
import type { ReplayHealthField } from '../contracts/drive-log-formats.ts';
import { readLoggedValue } from './replay-csv.ts';

/** One row's diagnosis columns, as read. */
export interface ReplayHealthValues {
  mil?: boolean;
  /** Codes the row lists (a DTC column: codes separated by spaces, commas, semicolons or `|`). */
  dtcs?: string[];
  minutesWithMil?: number;
  minutesSinceClear?: number;
  distanceWithMilKm?: number;
  distanceSinceClearKm?: number;
  warmupsSinceClear?: number;
}

const TRUE = new Set(['1', 'on', 'true', 'yes', 'y']);
const FALSE = new Set(['0', 'off', 'false', 'no', 'n']);

/**
 * Reads one field into `into`; a value it cannot read is left out (the caller counts it): false then.
 * An empty DTC cell is "no codes"; other empty cells (and `-`) say nothing.
 */
export function readHealthField(into: ReplayHealthValues, field: ReplayHealthField, text: string | undefined, decimalComma: boolean): boolean {
  if (field === 'dtcs' && text !== undefined && text.trim() === '') {
    into.dtcs = [];
    return true;
  }
  if (text === undefined || text.trim() === '' || text.trim() === '-') return true;
  const t = text.trim().toLowerCase();
  if (field === 'mil') {
    if (TRUE.has(t)) into.mil = true;
    else if (FALSE.has(t)) into.mil = false;
    else return false;
    return true;
  }
  if (field === 'dtcs') {
    const codes = t.toUpperCase().split(/[\s,;|]+/).filter((c) => c !== '' && c !== 'NONE');
    if (!codes.every((c) => DTC_PATTERN.test(c))) return false;
    into.dtcs = [...new Set(codes)];
    return true;
  }
  const v = readLoggedValue(text, decimalComma);
  if (v.kind !== 'number' || !(v.value >= 0)) return false;
  into[field] = v.value;
  return true;
}

/** How long a with-MIL counter may stand still while the MIL is on (it counts whole minutes). */
const MIL_COUNTER_WINDOW_MS = 120_000;

/**
 * Turns a log's rows into diagnosis states, row by row (`next`), inferring the MIL from the
 * counters when the log has no MIL column. Feed rows in log order; `reset` for a new pass.
 */
export class ReplayHealthReader {
  private firstT: number | undefined;
  private lastGrowthT: number | undefined;
  private previous: { minutes?: number; km?: number } = {};

  reset(): void {
    this.firstT = undefined;
    this.lastGrowthT = undefined;
    this.previous = {};
  }

  next(t: number, h: ReplayHealthValues): VehicleHealthState {
    this.firstT ??= t;
    const grew = (now: number | undefined, before: number | undefined) => now !== undefined && before !== undefined && now > before;
    if (grew(h.minutesWithMil, this.previous.minutes) || grew(h.distanceWithMilKm, this.previous.km)) this.lastGrowthT = t;
    if (h.minutesWithMil !== undefined) this.previous.minutes = h.minutesWithMil;
    if (h.distanceWithMilKm !== undefined) this.previous.km = h.distanceWithMilKm;
    return {
      source: 'replay',
      mil: h.mil ?? this.inferMil(t, h),
      dtcCount: null,
      readiness: null,
      // A DTC column lists what the logger read as confirmed codes.
      confirmed: h.dtcs ? [...h.dtcs] : null,
      pending: null,
      permanent: null,
      freezeFrame: null,
      vin: null,
      counters: counters(h),
    };
  }

  private inferMil(t: number, h: ReplayHealthValues): boolean | null {
    if (h.minutesWithMil === undefined && h.distanceWithMilKm === undefined) return null;
    if (this.lastGrowthT !== undefined && t - this.lastGrowthT <= MIL_COUNTER_WINDOW_MS) return true;
    if ((h.minutesWithMil ?? 0) === 0 && (h.distanceWithMilKm ?? 0) === 0) return false;
    return t - this.firstT! >= MIL_COUNTER_WINDOW_MS ? false : null;
  }
}

function counters(h: ReplayHealthValues): HealthCounters {
  const out: HealthCounters = {};
  for (const f of ['minutesWithMil', 'minutesSinceClear', 'distanceWithMilKm', 'distanceSinceClearKm', 'warmupsSinceClear'] as const) {
    if (h[f] !== undefined) out[f] = h[f];
  }
  return out;
}
