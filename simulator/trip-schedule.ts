/**
 * When a vehicle drives: trips per day. Each day's trips are drawn from a generator forked by
 * vehicle and day number, so any day can be produced on its own and the same seed always gives
 * the same calendar.
 *
 * - `daily`: a private or fleet car — commutes on workdays, errands, an occasional long trip;
 *   parked most of the day (about 1–3 h of driving per day, more for `usage` > 1).
 * - `continuous`: the laptop demo — back-to-back trips with a short idle between, engine always on.
 */
import type { Rng } from './rng.ts';
import type { TripKind } from './driving-cycle.ts';

export type ScheduleKind = 'daily' | 'continuous';

export interface PlannedTrip {
  startMs: number;
  kind: TripKind;
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

export class TripSchedule {
  constructor(
    private readonly rng: Rng,
    private readonly kind: ScheduleKind,
    /** Relative amount of driving (1 = private car; 3 = a delivery van). */
    private readonly usage = 1,
  ) {}

  /** The first trip that starts at or after `afterMs`. */
  nextTrip(afterMs: number): PlannedTrip {
    if (this.kind === 'continuous') return { startMs: afterMs, kind: 'demo' };
    for (let day = Math.floor(afterMs / DAY_MS); ; day++) {
      const trip = this.tripsOfDay(day).find((t) => t.startMs >= afterMs);
      if (trip) return trip;
    }
  }

  tripsOfDay(day: number): PlannedTrip[] {
    const r = this.rng.fork(`day-${day}`);
    const base = day * DAY_MS;
    const weekday = (day + 4) % 7; // 1970-01-01 was a Thursday; 0 = Sunday
    const workday = weekday >= 1 && weekday <= 5;
    const at = (hour: number, spreadH: number): number => base + Math.round((hour + r.uniform(-spreadH, spreadH)) * HOUR_MS);
    const trips: PlannedTrip[] = [];
    if (workday && r.next() < 0.85) {
      trips.push({ startMs: at(7.8, 0.8), kind: 'commute' });
      trips.push({ startMs: at(17.5, 1), kind: 'commute' });
    }
    const errands = Math.floor(r.uniform(0, workday ? 2 : 3.5));
    for (let i = 0; i < errands; i++) trips.push({ startMs: at(r.uniform(10, 20), 0), kind: 'errand' });
    if (!workday && r.next() < 0.25) trips.push({ startMs: at(10, 1.5), kind: 'long' });
    // Heavier users (vans, taxis) add errands through the working day.
    const extra = Math.round((this.usage - 1) * r.uniform(2, 5));
    for (let i = 0; i < extra; i++) trips.push({ startMs: at(r.uniform(8, 19), 0), kind: r.next() < 0.7 ? 'errand' : 'commute' });
    return trips.sort((a, b) => a.startMs - b.startMs);
  }
}
