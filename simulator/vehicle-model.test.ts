import { describe, expect, it } from 'vitest';
import { SIGNALS } from '../contracts/signals.ts';
import { createRng } from './rng.ts';
import { VehicleModel } from './vehicle-model.ts';

function drive(seed: number, seconds: number, ambientC?: number) {
  const model = new VehicleModel({ rng: createRng(seed), ambientC });
  const out = [];
  for (let i = 0; i < seconds; i++) {
    model.step(1);
    out.push(model.read());
  }
  return out;
}

describe('VehicleModel (minimal)', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    expect(drive(1, 200)).toEqual(drive(1, 200));
    expect(drive(1, 200)).not.toEqual(drive(2, 200));
  });

  it('keeps every signal within its catalogued range', () => {
    for (const sample of drive(3, 3600)) {
      for (const s of SIGNALS) {
        const value = (sample as Record<string, number>)[s.name];
        if (value === undefined) continue;
        expect(value, s.name).toBeGreaterThanOrEqual(s.min);
        expect(value, s.name).toBeLessThanOrEqual(s.max);
      }
    }
  });

  it('changes smoothly: speed by less than 5 km/h per second', () => {
    const samples = drive(4, 1800);
    for (let i = 1; i < samples.length; i++) expect(Math.abs(samples[i]!.SPEED - samples[i - 1]!.SPEED)).toBeLessThanOrEqual(5);
    expect(Math.max(...samples.map((s) => s.SPEED))).toBeGreaterThan(40); // it actually drives
  });

  it('links signals: idle RPM when stopped, more air at higher RPM·load', () => {
    const samples = drive(5, 3600);
    const stopped = samples.filter((s) => s.SPEED === 0);
    expect(stopped.length).toBeGreaterThan(10);
    for (const s of stopped) expect(s.RPM).toBeLessThan(1100);
    const byAir = [...samples].sort((a, b) => a.RPM * a.ENGINE_LOAD - b.RPM * b.ENGINE_LOAD);
    const mean = (xs: typeof samples) => xs.reduce((n, s) => n + s.MAF, 0) / xs.length;
    expect(mean(byAir.slice(-300))).toBeGreaterThan(2 * mean(byAir.slice(0, 300)));
  });

  it('warms a cold engine up to thermostat temperature and holds it there', () => {
    const samples = drive(6, 3600, 10);
    expect(samples[0]!.COOLANT_TEMP).toBeLessThan(70);
    const lastTen = samples.slice(-600).map((s) => s.COOLANT_TEMP);
    expect(Math.min(...lastTen)).toBeGreaterThan(80);
    expect(Math.max(...lastTen)).toBeLessThan(100);
  });
});
