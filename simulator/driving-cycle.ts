/**
 * Driving cycles: what the road asks of the driver, as a target speed over time. A trip is a list
 * of segments (idle, city, highway, stop-and-go, warm-up); each segment runs its own small state
 * machine (accelerate, cruise, brake for a red light, wait …) driven by a seeded generator.
 */
import type { Rng } from './rng.ts';

export type SegmentKind = 'idle' | 'warmup' | 'city' | 'highway' | 'stop_and_go';

export interface Segment {
  kind: SegmentKind;
  /** Nominal length; a segment ends at the first full stop after it (a highway segment that is not the trip's last ends at speed). */
  durationS: number;
}

/** Target speed and road grade the driver sees now. */
export interface RoadDemand {
  targetKmh: number;
  /** Road grade as a fraction (0.03 = 3 % uphill). */
  grade: number;
  segment: SegmentKind;
}

/**
 * Follows a trip's segments. `update` is called every step with the current speed; `finished`
 * becomes true when the last segment has ended with the car stopped. Guarantee: once the last
 * segment's nominal length is over the target stays 0 km/h, so a car that follows its target
 * finishes the trip (before, a trip ending on the highway restarted that segment forever).
 */
export class CycleFollower {
  private index = 0;
  private segmentElapsedS = 0;
  /** Within a segment: time left in the current micro-phase and its target. */
  private phaseLeftS = 0;
  private phaseTargetKmh = 0;
  private grade = 0;
  private gradeTarget = 0;
  private gradeLeftS = 0;
  finished = false;

  constructor(
    private readonly segments: readonly Segment[],
    private readonly rng: Rng,
    /** Multiplies cruise targets: calm drivers drive a little slower. */
    private readonly speedFactor: number,
  ) {
    if (segments.length === 0) this.finished = true;
  }

  get current(): Segment | undefined {
    return this.segments[this.index];
  }

  update(dtS: number, speedKmh: number): RoadDemand {
    const seg = this.segments[this.index];
    if (!seg || this.finished) return { targetKmh: 0, grade: this.grade, segment: 'idle' };
    this.segmentElapsedS += dtS;
    this.phaseLeftS -= dtS;
    this.updateGrade(dtS, seg.kind);
    const over = this.segmentElapsedS >= seg.durationS;
    const last = this.index === this.segments.length - 1;
    // A highway segment hands over at speed (the next segment starts where the exit ramp ends);
    // every other segment, and the last one whatever its kind, ends only once the car has stopped.
    if (over && (speedKmh < 1 || (seg.kind === 'highway' && !last))) {
      this.index++;
      this.segmentElapsedS = 0;
      this.phaseLeftS = 0;
      if (this.index >= this.segments.length) this.finished = true;
      return this.update(0, speedKmh);
    }
    if (over) return { targetKmh: 0, grade: this.grade, segment: seg.kind }; // come to a stop, then move on
    if (this.phaseLeftS <= 0) this.nextPhase(seg.kind, speedKmh);
    return { targetKmh: this.phaseTargetKmh, grade: this.grade, segment: seg.kind };
  }

  private nextPhase(kind: SegmentKind, speedKmh: number): void {
    const r = this.rng;
    switch (kind) {
      case 'idle':
      case 'warmup':
        this.phaseTargetKmh = 0;
        this.phaseLeftS = 1e9;
        return;
      case 'city':
        if (this.phaseTargetKmh > 0 && speedKmh > 5 && r.next() < 0.55) {
          // Red light or junction: stop, then wait (the wait is the next phase at 0 km/h).
          this.phaseTargetKmh = 0;
          this.phaseLeftS = r.uniform(12, 55);
        } else {
          this.phaseTargetKmh = r.uniform(22, 52) * this.speedFactor;
          this.phaseLeftS = r.uniform(15, 60);
        }
        return;
      case 'stop_and_go':
        if (this.phaseTargetKmh > 0) {
          this.phaseTargetKmh = 0;
          this.phaseLeftS = r.uniform(4, 20);
        } else {
          this.phaseTargetKmh = r.uniform(6, 24) * this.speedFactor;
          this.phaseLeftS = r.uniform(5, 18);
        }
        return;
      case 'highway':
        // Mostly cruising, now and then slowing for traffic.
        this.phaseTargetKmh = (r.next() < 0.12 ? r.uniform(55, 80) : r.uniform(88, 122)) * this.speedFactor;
        this.phaseLeftS = r.uniform(30, 150);
        return;
    }
  }

  /** Road grade wanders between hills: ±4 % in town, ±3 % on the highway. */
  private updateGrade(dtS: number, kind: SegmentKind): void {
    this.gradeLeftS -= dtS;
    if (this.gradeLeftS <= 0) {
      const limit = kind === 'highway' ? 0.03 : 0.04;
      this.gradeTarget = Math.max(-limit, Math.min(limit, this.rng.normal(0, limit / 2)));
      this.gradeLeftS = this.rng.uniform(20, 90);
    }
    this.grade += (this.gradeTarget - this.grade) * Math.min(1, dtS / 15);
  }
}

export type TripKind = 'errand' | 'commute' | 'long' | 'demo';

/** The segments of one trip; a cold engine gets a short warm-up idle first with some drivers. */
export function planTrip(kind: TripKind, rng: Rng, coldStart: boolean): Segment[] {
  const segs: Segment[] = [];
  if (coldStart && rng.next() < 0.5) segs.push({ kind: 'warmup', durationS: rng.uniform(20, 120) });
  const city = (lo: number, hi: number): Segment => ({ kind: 'city', durationS: rng.uniform(lo, hi) });
  switch (kind) {
    case 'errand':
      segs.push(city(240, 900));
      if (rng.next() < 0.4) segs.push({ kind: 'stop_and_go', durationS: rng.uniform(120, 600) });
      if (rng.next() < 0.3) segs.push({ kind: 'idle', durationS: rng.uniform(20, 120) });
      segs.push(city(120, 480));
      break;
    case 'commute':
      segs.push(city(180, 600));
      if (rng.next() < 0.5) segs.push({ kind: 'stop_and_go', durationS: rng.uniform(180, 900) });
      segs.push({ kind: 'highway', durationS: rng.uniform(420, 1500) });
      segs.push(city(180, 600));
      break;
    case 'long':
      segs.push(city(180, 480));
      segs.push({ kind: 'highway', durationS: rng.uniform(2400, 6000) });
      segs.push(city(120, 480));
      break;
    case 'demo': {
      // A bit of everything, for a laptop demo that shows all regimes within minutes.
      const pool: Segment['kind'][] = ['city', 'highway', 'stop_and_go', 'idle', 'city'];
      for (let i = 0; i < 6; i++) {
        const k = pool[Math.floor(rng.next() * pool.length)]!;
        segs.push({ kind: k, durationS: k === 'idle' ? rng.uniform(15, 60) : rng.uniform(90, 400) });
      }
      break;
    }
  }
  return segs;
}
