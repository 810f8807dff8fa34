import { describe, expect, it } from 'vitest';
import { LiveVehicle } from './live-vehicle.ts';

const START = Date.UTC(2026, 0, 5, 9);

describe('LiveVehicle', () => {
  it('follows its clock times the speed and never runs backwards', () => {
    let wall = 1_000_000;
    const v = new LiveVehicle({ seed: 3, speed: 2, startMs: START, preRollS: 30, now: () => wall });
    const t0 = v.timeMs;
    expect(t0).toBe(START); // the pre-roll ends where the clock starts
    wall += 10_000;
    v.sync();
    expect(v.timeMs).toBeCloseTo(t0 + 20_000, 3);
    wall -= 5_000; // a clock step backwards does not move the car back
    v.sync();
    expect(v.timeMs).toBeCloseTo(t0 + 20_000, 3);
  });

  it('returns one consistent set of values per simulated instant, and new ones when time moves', () => {
    const v = new LiveVehicle({ seed: 3, speed: 0, startMs: START, preRollS: 60 });
    const a = v.values();
    expect(v.values()).toBe(a);
    expect(a.RPM).toBeGreaterThan(0);
    v.advance(1);
    expect(v.values()).not.toBe(a);
  });

  it('drives trip after trip while the key is on and stops answering when it is off', () => {
    const v = new LiveVehicle({ seed: 3, speed: 0, startMs: START, preRollS: 10 });
    expect(v.ignitionOn).toBe(true);
    const trips = v.tripsStarted;
    v.advance(3 * 3600); // longer than any demo trip
    expect(v.tripsStarted).toBeGreaterThan(trips);
    expect(v.distanceKm).toBe(0); // distance counts only what readers saw
    let expectedKm = 0;
    let speed = v.values().SPEED;
    for (let i = 0; i < 60; i++) {
      v.advance(10);
      expectedKm += (speed * 10) / 3600;
      speed = v.values().SPEED;
    }
    expect(expectedKm).toBeGreaterThan(0);
    expect(v.distanceKm).toBeCloseTo(expectedKm, 6);
    v.setIgnition(false);
    expect(v.ignitionOn).toBe(false);
    v.advance(600);
    expect(v.values().RPM).toBe(0);
    v.setIgnition(true);
    expect(v.ignitionOn).toBe(true);
  });
});
