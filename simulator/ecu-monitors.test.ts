import { describe, expect, it } from 'vitest';
import { type EcuObservation, EcuMonitors } from './ecu-monitors.ts';

/** A warm engine cruising in closed loop; `misfiring` makes 10 % of combustions fail. */
function cruise(misfiring: boolean): EcuObservation {
  const combustions = (2400 / 120) * 4; // per second at 2400 rpm, four cylinders
  return { dtS: 1, rpm: 2400, speedKmh: 90, coolantC: 90, voltageV: 14.1, totalTrimPct: 2, closedLoop: true, misfires: misfiring ? combustions * 0.1 : 0, combustions, mafPlausibility: 1, steadyCruise: true, runTimeS: 600 };
}

/** One trip of `seconds` seconds of the same observation. */
function trip(ecu: EcuMonitors, seconds: number, misfiring: boolean): void {
  ecu.startTrip({ coolantC: 85, ambientC: 20 });
  for (let s = 0; s < seconds; s++) ecu.observe(cruise(misfiring));
  ecu.endTrip();
}

describe('ECU monitors: permanent codes, freeze frame, readiness and clear', () => {
  it('confirms a misfire in the second failing trip, makes it permanent and asks for a freeze frame once', () => {
    const ecu = new EcuMonitors<{ RPM: number }>('P0302', false);
    trip(ecu, 300, true);
    expect(ecu.diagnosis()).toMatchObject({ stored: [], pending: ['P0302'], permanent: [], milOn: false });
    expect(ecu.freezeFrameWanted).toBeUndefined();
    ecu.startTrip({ coolantC: 85, ambientC: 20 });
    for (let s = 0; s < 300 && ecu.freezeFrameWanted === undefined; s++) ecu.observe(cruise(true));
    expect(ecu.freezeFrameWanted).toBe('P0302');
    ecu.storeFreezeFrame({ RPM: 2400 }, 1234);
    expect(ecu.freezeFrameWanted).toBeUndefined();
    expect(ecu.storedFreezeFrame).toEqual({ code: 'P0302', atMs: 1234, signals: { RPM: 2400 } });
    for (let s = 0; s < 300; s++) ecu.observe(cruise(true));
    ecu.endTrip();
    expect(ecu.diagnosis()).toMatchObject({ stored: ['P0302'], pending: ['P0302'], permanent: ['P0302'], milOn: true });
    // A third failing trip confirms nothing new: the frame stays the first one.
    trip(ecu, 300, true);
    expect(ecu.freezeFrameWanted).toBeUndefined();
    expect(ecu.storedFreezeFrame?.atMs).toBe(1234);
  });

  it('keeps a cleared code permanent until its monitor passes a whole trip, and readiness starts over at the clear', () => {
    const ecu = new EcuMonitors<{ RPM: number }>('P0301', false);
    trip(ecu, 300, true);
    trip(ecu, 300, true);
    ecu.storeFreezeFrame({ RPM: 800 }, 1);
    expect(ecu.diagnosis().readiness).toMatchObject({ MISFIRE: true, FUEL_SYSTEM: true, COMPONENTS: true, OXYGEN_SENSOR: true, OXYGEN_SENSOR_HEATER: true, CATALYST: true });

    ecu.clear();
    const cleared = ecu.diagnosis();
    expect(cleared).toMatchObject({ stored: [], pending: [], permanent: ['P0301'], milOn: false });
    expect(Object.values(cleared.readiness).every((complete) => !complete)).toBe(true);
    expect(ecu.storedFreezeFrame).toBeUndefined();

    // The fault persists: the monitor fails again after its debounce, pending first, still permanent.
    ecu.startTrip({ coolantC: 85, ambientC: 20 });
    ecu.observe(cruise(true));
    expect(ecu.diagnosis().pending).toEqual([]);
    for (let s = 0; s < 300; s++) ecu.observe(cruise(true));
    expect(ecu.diagnosis()).toMatchObject({ stored: [], pending: ['P0301'], permanent: ['P0301'] });
    ecu.endTrip();

    // Repaired: the first passing trip erases the pending and the permanent code and completes readiness.
    trip(ecu, 300, false);
    const repaired = ecu.diagnosis();
    expect(repaired).toMatchObject({ stored: [], pending: [], permanent: [], milOn: false });
    expect(repaired.readiness.MISFIRE).toBe(true);
  });

  it('keeps a confirmed code permanent while it is confirmed, however many trips pass', () => {
    const ecu = new EcuMonitors('P0301', false);
    trip(ecu, 300, true);
    trip(ecu, 300, true);
    for (let i = 0; i < 39; i++) trip(ecu, 300, false);
    expect(ecu.diagnosis()).toMatchObject({ stored: ['P0301'], permanent: ['P0301'] });
    trip(ecu, 300, false); // the 40th passing trip erases the confirmed code, and with it the permanent one
    expect(ecu.diagnosis()).toMatchObject({ stored: [], permanent: [], milOn: false });
  });

  it('completes each readiness group only under its own conditions', () => {
    const ecu = new EcuMonitors('P0300', false);
    ecu.startTrip({ coolantC: 20, ambientC: 20 });
    // Idling in open loop for 25 s: no monitor has run yet.
    for (let s = 0; s < 25; s++) ecu.observe({ ...cruise(false), rpm: 800, speedKmh: 0, closedLoop: false, steadyCruise: false, runTimeS: s });
    expect(Object.values(ecu.diagnosis().readiness).some(Boolean)).toBe(false);
    // Closed loop at idle: O2 sensor, heater, components, fuel system and misfire complete, the catalyst does not (no cruise).
    for (let s = 25; s < 400; s++) ecu.observe({ ...cruise(false), rpm: 800, speedKmh: 0, steadyCruise: false, runTimeS: s });
    expect(ecu.diagnosis().readiness).toEqual({ MISFIRE: true, FUEL_SYSTEM: true, COMPONENTS: true, CATALYST: false, OXYGEN_SENSOR: true, OXYGEN_SENSOR_HEATER: true });
    for (let s = 0; s < 130; s++) ecu.observe(cruise(false));
    expect(ecu.diagnosis().readiness.CATALYST).toBe(true);
  });
});
