/**
 * Each fault leaves its signature in the signals, compared with the same car, driver and roads
 * without the fault; the healthy car shows none of them. DTCs come only late.
 */
import { describe, expect, it } from 'vitest';
import { createSimulatedVehicle } from './fleet-generator.ts';
import { FAULT_KINDS, type FaultKind, faultApplies } from './faults.ts';
import { PROFILES, type VehicleProfile } from './profiles.ts';
import type { VehicleSignals } from './vehicle-model.ts';
import { TEST_START_MS, baseSpec, drive, specWithSeverity } from './test-support.ts';

type Row = VehicleSignals & Record<string, number>;
type Pick = (r: Row) => boolean;

const rowsOf = (profile: VehicleProfile, kind: FaultKind | undefined, severity: number, days = 3): Row[] =>
  drive(specWithSeverity(baseSpec(profile), kind, severity), days).samples.map((s) => s.values as Row);
const mean = (rows: Row[], pick: Pick, key: string): number => {
  const xs = rows.filter(pick).map((r) => r[key]!);
  expect(xs.length, `samples for ${key}`).toBeGreaterThan(20);
  return xs.reduce((a, b) => a + b, 0) / xs.length;
};
const sd = (rows: Row[], pick: Pick, key: string): number => {
  const xs = rows.filter(pick).map((r) => r[key]!);
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length);
};
const p99 = (rows: Row[], key: string): number => {
  const xs = rows.map((r) => r[key]!).sort((x, y) => x - y);
  return xs[Math.floor(0.99 * (xs.length - 1))]!;
};
const highLoad: Pick = (r) => r.ENGINE_LOAD > 55 && r.SPEED > 20;
const warmIdle: Pick = (r) => r.SPEED === 0 && r.RPM > 500 && r.RUN_TIME > 600;
const highway: Pick = (r) => r.SPEED > 80 && r.RUN_TIME > 900;
const warmDriving: Pick = (r) => r.SPEED > 30 && r.RUN_TIME > 900;
const cruise: Pick = (r) => r.SPEED > 40 && r.RUN_TIME > 600 && r.ENGINE_LOAD > 25 && r.ENGINE_LOAD < 45;

const maf = PROFILES['compact-2.0-maf'];
const map = PROFILES['etios-1.5-map'];
const healthyMaf = rowsOf(maf, undefined, 0);
const healthyMap = rowsOf(map, undefined, 0);

/** Signatures, each a number that should be clearly larger for the fault than for a healthy car. */
const signatures: Record<FaultKind, { profile: VehicleProfile; score: (rows: Row[], healthy: Row[]) => number; threshold: number; what: string }> = {
  coolant_leak: { profile: map, what: 'coolant hotter under load (°C)', threshold: 3, score: (r, h) => mean(r, highway, 'COOLANT_TEMP') - mean(h, highway, 'COOLANT_TEMP') },
  thermostat_stuck_open: { profile: map, what: 'coolant colder when warm (°C)', threshold: 8, score: (r, h) => mean(h, warmDriving, 'COOLANT_TEMP') - mean(r, warmDriving, 'COOLANT_TEMP') },
  thermostat_stuck_closed: { profile: map, what: 'coolant hotter when warm (°C)', threshold: 3, score: (r, h) => mean(r, warmDriving, 'COOLANT_TEMP') - mean(h, warmDriving, 'COOLANT_TEMP') },
  vacuum_leak: { profile: maf, what: 'LTFT at idle positive (%), more than at cruise', threshold: 8, score: (r) => Math.min(mean(r, warmIdle, 'LONG_FUEL_TRIM_1'), 2 * (mean(r, warmIdle, 'LONG_FUEL_TRIM_1') - mean(r, cruise, 'LONG_FUEL_TRIM_1'))) },
  maf_drift: { profile: maf, what: 'LTFT positive at cruise too (%)', threshold: 8, score: (r, h) => mean(r, cruise, 'LONG_FUEL_TRIM_1') - mean(h, cruise, 'LONG_FUEL_TRIM_1') },
  misfire: { profile: map, what: 'idle RPM roughness (rpm sd) and catalyst heat (°C/10)', threshold: 8, score: (r, h) => Math.min(sd(r, warmIdle, 'RPM') - sd(h, warmIdle, 'RPM'), (mean(r, warmIdle, 'CATALYST_TEMP_B1S1') - mean(h, warmIdle, 'CATALYST_TEMP_B1S1')) / 10) },
  failing_alternator: { profile: map, what: 'charging voltage lower at idle (V ×10)', threshold: 3, score: (r, h) => 10 * (mean(h, warmIdle, 'CONTROL_MODULE_VOLTAGE') - mean(r, warmIdle, 'CONTROL_MODULE_VOLTAGE')) },
  clogged_air_filter: { profile: maf, what: 'lower full-load ENGINE_LOAD (99th percentile, %) plus more throttle at high load (%)', threshold: 5, score: (r, h) => p99(h, 'ENGINE_LOAD') - p99(r, 'ENGINE_LOAD') + mean(r, highLoad, 'THROTTLE_POS') - mean(h, highLoad, 'THROTTLE_POS') },
};

describe('fault signatures', () => {
  for (const kind of FAULT_KINDS) {
    const sig = signatures[kind];
    it(`${kind}: ${sig.what}`, () => {
      const healthy = sig.profile === maf ? healthyMaf : healthyMap;
      const faulty = rowsOf(sig.profile, kind, 0.8);
      expect(sig.score(faulty, healthy)).toBeGreaterThan(sig.threshold);
      // The same car without the fault shows nothing (score near zero against a second healthy run).
      const otherHealthy = drive({ ...specWithSeverity(baseSpec(sig.profile), undefined, 0) }, 3, 6).samples.map((s) => s.values as Row);
      expect(Math.abs(sig.score(otherHealthy, healthy))).toBeLessThan(sig.threshold);
    });
  }

  it('MAF drift does not apply to a MAP-based engine', () => {
    expect(faultApplies('maf_drift', 'map')).toBe(false);
    expect(() => drive(specWithSeverity(baseSpec(map), 'maf_drift', 0.5), 1)).toThrow(/does not apply/);
  });

  it('a healthy car sets no DTC and keeps trims, voltage and coolant normal', () => {
    for (const [rows, dtcs] of [
      [healthyMaf, drive(specWithSeverity(baseSpec(maf), undefined, 0), 3).dtcs],
      [healthyMap, drive(specWithSeverity(baseSpec(map), undefined, 0), 3).dtcs],
    ] as const) {
      expect(dtcs).toEqual({ stored: [], pending: [] });
      expect(Math.abs(mean(rows, warmIdle, 'LONG_FUEL_TRIM_1'))).toBeLessThan(6);
      expect(mean(rows, warmIdle, 'CONTROL_MODULE_VOLTAGE')).toBeGreaterThan(13.3);
      expect(Math.max(...rows.map((r) => r.COOLANT_TEMP))).toBeLessThan(105);
      expect(mean(rows, warmDriving, 'COOLANT_TEMP')).toBeGreaterThan(82);
    }
  });
});

describe('DTCs appear late', () => {
  const DAY = 86_400_000;
  const expected: Record<FaultKind, string[]> = {
    coolant_leak: ['P0217'],
    thermostat_stuck_open: ['P0128'],
    thermostat_stuck_closed: ['P0217'],
    vacuum_leak: ['P0171'],
    maf_drift: ['P0171', 'P0101'],
    misfire: ['P0300', 'P0301', 'P0302', 'P0303', 'P0304'],
    failing_alternator: ['P0562'],
    clogged_air_filter: [], // no OBD-II monitor watches the air filter
  };
  for (const kind of FAULT_KINDS) {
    it(`${kind}: no code in the early stage, ${expected[kind].length ? expected[kind].join('/') : 'none'} once failed`, () => {
      const profile = faultApplies(kind, 'map') ? map : maf;
      const spec = { ...baseSpec(profile), usage: 2, fault: { kind, onsetMs: TEST_START_MS + DAY, failureMs: TEST_START_MS + 11 * DAY } };
      const vehicle = createSimulatedVehicle(spec, 3, TEST_START_MS, 1);
      let firstCode: { severity: number; codes: string[] } | undefined;
      let earlySignalsSeen = 0;
      for (;;) {
        const s = vehicle.nextSample(TEST_START_MS + 14 * DAY);
        if (!s) break;
        const d = vehicle.dtcs();
        if (!firstCode && d.pending.length + d.stored.length > 0) firstCode = { severity: s.truth.severity, codes: [...d.pending, ...d.stored] };
        if (!firstCode && s.truth.severity > 0) earlySignalsSeen++;
      }
      const final = vehicle.dtcs();
      if (expected[kind].length === 0) {
        expect(firstCode).toBeUndefined();
        return;
      }
      expect(firstCode, 'a DTC was set').toBeDefined();
      expect(firstCode!.severity, 'severity when the first DTC appeared').toBeGreaterThan(0.3);
      expect(expected[kind]).toEqual(expect.arrayContaining(firstCode!.codes));
      expect(final.stored.some((c) => expected[kind].includes(c)), `stored: ${final.stored}`).toBe(true);
      expect(earlySignalsSeen).toBeGreaterThan(3600); // hours of driving with the fault before any code
    });
  }
});
