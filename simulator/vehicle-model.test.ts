import { describe, expect, it } from 'vitest';
import { SIGNALS } from '../contracts/signals.ts';
import { sampleSchema } from '../contracts/telemetry.ts';
import { PID_ENCODINGS, quantise } from '../contracts/obd/pid-encoding.ts';
import { PROFILES } from './profiles.ts';
import { baseSpec, drive } from './test-support.ts';

const etios = drive(baseSpec(PROFILES['etios-1.5-map']), 2);
const compact = drive(baseSpec(PROFILES['compact-2.0-maf']), 2);
const values = (r: typeof etios) => r.samples.map((s) => s.values as Record<string, number>);

describe('VehicleModel', () => {
  it('drives: a day has trips with idle, town and highway speeds', () => {
    const speeds = etios.samples.map((s) => s.values.SPEED);
    expect(etios.samples.length).toBeGreaterThan(2000);
    expect(speeds.filter((v) => v === 0).length).toBeGreaterThan(100);
    expect(speeds.filter((v) => v > 20 && v < 60).length).toBeGreaterThan(300);
    expect(Math.max(...speeds)).toBeGreaterThan(85);
    expect(new Set(etios.samples.map((s) => s.trip)).size).toBeGreaterThanOrEqual(3);
  });

  it('keeps every signal within its catalogued range and valid for the telemetry contract', () => {
    for (const r of [etios, compact]) {
      for (const s of r.samples) {
        for (const info of SIGNALS) {
          const v = (s.values as Record<string, number>)[info.name];
          if (v === undefined) continue;
          expect(Number.isFinite(v), info.name).toBe(true);
          expect(v, info.name).toBeGreaterThanOrEqual(info.min);
          expect(v, info.name).toBeLessThanOrEqual(info.max);
        }
      }
      // The whole sample passes the wire schema (every 50th, to keep the test quick).
      for (let i = 0; i < r.samples.length; i += 50) expect(sampleSchema.safeParse({ t: r.samples[i]!.t, ...r.samples[i]!.values }).success).toBe(true);
    }
  });

  it('reports values at PID resolution: decoding the encoded value gives it back', () => {
    for (const row of values(compact).slice(0, 3000)) {
      for (const e of PID_ENCODINGS) {
        const v = row[e.signal];
        if (v === undefined) continue;
        expect(Math.abs(quantise(e, v) - v), e.signal).toBeLessThan(1e-9);
      }
    }
    // Temperatures are whole degrees, trims are steps of 100/128 %.
    expect(values(etios).every((v) => Number.isInteger(v.COOLANT_TEMP!))).toBe(true);
    expect(values(etios).every((v) => Math.abs(Math.round(v.LONG_FUEL_TRIM_1! / (100 / 128)) * (100 / 128) - v.LONG_FUEL_TRIM_1!) < 1e-5)).toBe(true);
  });

  it('reports MAP (no MAF) for a MAP-based profile, and MAF (no MAP) for a MAF-based one', () => {
    expect(values(etios).every((v) => v.INTAKE_PRESSURE !== undefined && v.MAF === undefined)).toBe(true);
    expect(values(compact).every((v) => v.MAF !== undefined && v.INTAKE_PRESSURE === undefined)).toBe(true);
  });

  it('is deterministic for a seed and differs between seeds', () => {
    const a = drive(baseSpec(PROFILES['city-1.2-maf']), 1, 11);
    const b = drive(baseSpec(PROFILES['city-1.2-maf']), 1, 11);
    const c = drive(baseSpec(PROFILES['city-1.2-maf']), 1, 12);
    expect(a.samples).toEqual(b.samples);
    expect(a.samples.map((s) => s.values.RPM)).not.toEqual(c.samples.map((s) => s.values.RPM));
  });

  it('links signals: idle RPM when stopped, RPM follows speed through the gears, MAP tracks load, more air at higher RPM·load', () => {
    const rows = values(compact).filter((v) => v.RUN_TIME! > 120);
    const stopped = rows.filter((v) => v.SPEED === 0 && v.RPM! > 0);
    expect(stopped.length).toBeGreaterThan(50);
    const idle = stopped.map((v) => v.RPM!).sort((a, b) => a - b);
    expect(idle[Math.floor(idle.length / 2)]).toBeGreaterThan(600);
    expect(idle[Math.floor(idle.length / 2)]).toBeLessThan(1000);
    const fast = rows.filter((v) => v.SPEED! > 90);
    for (const v of fast) expect(v.RPM).toBeGreaterThan(1800);
    const byAir = [...rows].sort((a, b) => a.RPM! * a.ENGINE_LOAD! - b.RPM! * b.ENGINE_LOAD!);
    const mean = (xs: typeof rows, k: string) => xs.reduce((n, v) => n + v[k]!, 0) / xs.length;
    expect(mean(byAir.slice(-300), 'MAF')).toBeGreaterThan(4 * mean(byAir.slice(0, 300), 'MAF'));
    const etiosRows = values(etios).filter((v) => v.RPM! > 500);
    for (const v of etiosRows) expect(Math.abs(v.ENGINE_LOAD! - v.INTAKE_PRESSURE!)).toBeLessThan(20);
  });

  it('warms a cold engine up to thermostat temperature and holds it there', () => {
    const first = etios.samples.filter((s) => s.trip === 1);
    expect(first[0]!.values.COOLANT_TEMP).toBeLessThan(30);
    const warm = first.filter((s) => s.values.RUN_TIME! > 1200).map((s) => s.values.COOLANT_TEMP);
    expect(warm.length).toBeGreaterThan(60);
    expect(Math.min(...warm)).toBeGreaterThan(80);
    expect(Math.max(...warm)).toBeLessThan(100);
  });

  it('runs in open loop while cold (STFT 0) and in closed loop once warm', () => {
    const first = etios.samples.filter((s) => s.trip === 1);
    const cold = first.filter((s) => s.values.COOLANT_TEMP < 35 && s.values.RPM > 0);
    expect(cold.length).toBeGreaterThan(10);
    for (const s of cold) expect(s.values.SHORT_FUEL_TRIM_1).toBe(0);
    const warm = first.filter((s) => s.values.RUN_TIME! > 900 && s.values.SPEED > 0);
    expect(new Set(warm.map((s) => s.values.SHORT_FUEL_TRIM_1)).size).toBeGreaterThan(3);
    // The O2 sensor switches rich/lean in closed loop.
    const o2 = warm.map((s) => s.values.O2_B1S1);
    expect(o2.filter((v) => v > 0.6).length).toBeGreaterThan(20);
    expect(o2.filter((v) => v < 0.3).length).toBeGreaterThan(20);
  });
});
