import { describe, expect, it } from 'vitest';
import { EngineRunClock } from './derived-signals.ts';

describe('EngineRunClock (RUN_TIME for cars without PID 1F)', () => {
  it('counts seconds since the engine started, on samples with and without RPM, and restarts after a stop', () => {
    const clock = new EngineRunClock();
    // The first minute of running decides whether the car reports RUN_TIME itself: nothing is derived yet.
    expect(clock.fill({ t: -120_000, RPM: 900 }).RUN_TIME).toBeUndefined();
    for (let t = -115_000; t < -60_000; t += 5000) clock.fill({ t, RPM: 900 });
    expect(clock.fill({ t: -60_000, RPM: 900 }).RUN_TIME).toBe(60);
    clock.fill({ t: -59_000, RPM: 0 });
    expect(clock.fill({ t: 0, RPM: 0 }).RUN_TIME).toBeUndefined(); // key on, engine off: nothing to count
    expect(clock.fill({ t: 1000, RPM: 900 }).RUN_TIME).toBe(0);
    expect(clock.fill({ t: 3500, COOLANT_TEMP: 40 }).RUN_TIME).toBe(2); // a slow-PID sample while running
    for (let t = 6000; t < 61_000; t += 5000) clock.fill({ t, RPM: 1500 });
    expect(clock.fill({ t: 61_000, RPM: 800 }).RUN_TIME).toBe(60);
    expect(clock.fill({ t: 62_000, RPM: 0 }).RUN_TIME).toBeUndefined(); // stalled
    expect(clock.fill({ t: 70_000, RPM: 850 }).RUN_TIME).toBe(0); // restarted
    // A gap in the data (the adapter unplugged) ends the run: the agent cannot know what happened.
    expect(clock.fill({ t: 200_000, RPM: 850 }).RUN_TIME).toBe(0);
    expect(clock.fill({ t: 260_000, SPEED: 0 }).RUN_TIME).toBeUndefined();
  });

  it('never derives for a car that reports RUN_TIME, even slowly', () => {
    const clock = new EngineRunClock();
    for (let t = 0; t < 50_000; t += 1000) expect(clock.fill({ t, RPM: 900 }).RUN_TIME).toBeUndefined();
    expect(clock.fill({ t: 50_000, RPM: 900, RUN_TIME: 120 }).RUN_TIME).toBe(120);
    expect(clock.fill({ t: 120_000, RPM: 900 }).RUN_TIME).toBeUndefined();
  });
});
