/**
 * Every trip the simulator plans must end: the car stops after its last segment. A trip that never
 * ends hangs whoever drives it to completion (LiveVehicle's pre-drive trips, `simulate elm327
 * --pre-drive-trips`), so each drive here is bounded in simulated time and asserted finished.
 */
import { describe, expect, it } from 'vitest';
import { CycleFollower, planTrip, type Segment, type TripKind } from './driving-cycle.ts';
import { createRng } from './rng.ts';
import { PROFILES } from './profiles.ts';
import { VehicleModel } from './vehicle-model.ts';

const START_MS = Date.UTC(2025, 0, 6, 9);

/** Longest a segment may run past its nominal length before the car has stopped (generous: a red light cycle and braking). */
const OVERRUN_PER_SEGMENT_S = 600;

const boundS = (segments: readonly Segment[]): number => segments.reduce((s, seg) => s + seg.durationS + OVERRUN_PER_SEGMENT_S, 0);

/** Drives `segments` in the real vehicle model one second at a time, at most `limitS` simulated seconds. */
function driveModel(segments: readonly Segment[], seed: number, limitS: number): { finished: boolean; seconds: number; lastSpeed: number } {
  const model = new VehicleModel({ rng: createRng(seed).fork('model'), profile: PROFILES['compact-2.0-maf'], startMs: START_MS, ambientC: 15, altitudeM: 100 });
  model.startTrip(segments);
  let seconds = 0;
  while (!model.tripFinished && seconds < limitS) {
    model.step(1);
    seconds++;
  }
  return { finished: model.tripFinished, seconds, lastSpeed: model.read().SPEED };
}

/**
 * The follower alone against a car that reaches its target at a bounded rate (±3 km/h per second):
 * cheap enough to run thousands of trip plans.
 */
function driveFollower(segments: readonly Segment[], rngSeed: number, limitS: number): { finished: boolean; seconds: number } {
  const follower = new CycleFollower(segments, createRng(rngSeed), 1);
  let speed = 0;
  let seconds = 0;
  while (!follower.finished && seconds < limitS) {
    const { targetKmh } = follower.update(1, speed);
    speed = targetKmh > speed ? Math.min(targetKmh, speed + 3) : Math.max(targetKmh, speed - 3);
    seconds++;
  }
  return { finished: follower.finished, seconds };
}

describe('driving cycles end', () => {
  it('a trip whose last segment is highway brakes to a stop and ends', () => {
    const segments: Segment[] = [
      { kind: 'city', durationS: 120 },
      { kind: 'highway', durationS: 300 },
    ];
    const limitS = 6 * 3600;
    const run = driveModel(segments, 7, limitS);
    expect(run.finished, `still driving after ${limitS} simulated seconds`).toBe(true);
    expect(run.seconds).toBeLessThanOrEqual(boundS(segments));
    expect(run.lastSpeed).toBeLessThan(1);
  });

  it("the third pre-drive trip of `simulate elm327 --seed 1` (it ends on the highway) ends", () => {
    // LiveVehicle draws trip N of the car 'elm327' with seed 1 from this generator (simulator/elm327/live-vehicle.ts).
    const segments = planTrip('demo', createRng(1).fork('elm327-elm327').fork('trip-2'), false);
    expect(segments.at(-1)!.kind).toBe('highway');
    const run = driveModel(segments, 1, 6 * 3600);
    expect(run.finished).toBe(true);
    expect(run.seconds).toBeLessThanOrEqual(boundS(segments));
  });

  it('every planned trip ends within its nominal length plus a bounded overrun per segment (many seeds, every trip kind)', () => {
    const kinds: TripKind[] = ['errand', 'commute', 'long', 'demo'];
    let highwayLast = 0;
    let plans = 0;
    for (let seed = 0; seed < 500; seed++) {
      for (const kind of kinds) {
        const segments = planTrip(kind, createRng(seed).fork(`plan-${kind}`), seed % 2 === 0);
        if (segments.at(-1)?.kind === 'highway') highwayLast++;
        const run = driveFollower(segments, seed, boundS(segments));
        expect(run.finished, `${kind} trip of seed ${seed} (${segments.map((s) => s.kind).join(',')}) did not end within ${boundS(segments)} s`).toBe(true);
        plans++;
      }
    }
    expect(plans).toBe(2000);
    expect(highwayLast).toBeGreaterThan(50); // the case that hung is well represented
  });

  it('trips driven by the real vehicle model end too (demo trips, which may end on any kind of segment)', () => {
    for (let seed = 0; seed < 40; seed++) {
      const segments = planTrip('demo', createRng(seed).fork('demo'), seed % 3 === 0);
      const run = driveModel(segments, seed, boundS(segments));
      expect(run.finished, `demo trip of seed ${seed} (${segments.map((s) => s.kind).join(',')})`).toBe(true);
    }
  });

  it('an empty trip is finished at once', () => {
    expect(new CycleFollower([], createRng(1), 1).finished).toBe(true);
  });
});
