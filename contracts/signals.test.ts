import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { maxRaw, valueOfRaw } from './j1979.ts';
import { SIGNALS, SIGNAL_NAMES, signalField, signalInfo, signalTableMarkdown } from './signals.ts';

/** Evaluates a formula in A/B notation ('(256A+B)/10−40', 'A·100/255') for data bytes A and B. */
function evaluate(formula: string, a: number, b: number): number {
  const js = formula
    .replace(/·/g, '*')
    .replace(/−/g, '-')
    .replace(/(\d)([AB])/g, '$1*$2');
  if (!/^[\d\s()+\-*/.AB]+$/.test(js)) throw new Error(`cannot evaluate ${formula}`);
  return new Function('A', 'B', `return ${js};`)(a, b) as number;
}

describe('signal catalogue', () => {
  it('has one row per name and per PID, upper-case names and lower-case fields', () => {
    expect(new Set(SIGNALS.map((s) => s.name)).size).toBe(SIGNALS.length);
    expect(new Set(SIGNALS.map((s) => s.pid)).size).toBe(SIGNALS.length);
    expect(SIGNAL_NAMES).toEqual(SIGNALS.map((s) => s.name));
    for (const s of SIGNALS) {
      expect(s.name).toMatch(/^[A-Z][A-Z0-9_]*$/);
      expect(signalField(s.name)).toBe(s.name.toLowerCase());
      expect(signalInfo(s.name)).toBe(s);
      expect(s.pid, s.name).toBeGreaterThan(0);
      expect(s.pid, s.name).toBeLessThanOrEqual(0xff);
      expect(s.scale, s.name).toBeGreaterThan(0);
      expect(s.unit.length, s.name).toBeGreaterThan(0);
      expect(s.description.length, s.name).toBeGreaterThan(3);
    }
  });

  it('states each formula as the scale and offset it uses', () => {
    for (const s of SIGNALS) {
      for (const raw of [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x1234, maxRaw(s.bytes)]) {
        if (raw > maxRaw(s.bytes)) continue;
        const [a, b] = s.bytes === 1 ? [raw, 0] : [raw >> 8, raw & 0xff];
        expect(raw * s.scale + s.offset, `${s.name} ${s.formula} raw ${raw}`).toBeCloseTo(evaluate(s.formula, a, b), 9);
      }
    }
  });

  it('derives the range from the encoding: raw 0 … every bit set', () => {
    for (const s of SIGNALS) {
      expect(s.min, s.name).toBe(valueOfRaw(s, 0));
      expect(s.max, s.name).toBe(valueOfRaw(s, maxRaw(s.bytes)));
    }
    // Spelled out for three encodings, as J1979 lists them.
    expect([signalInfo('RPM')!.min, signalInfo('RPM')!.max]).toEqual([0, 16383.75]);
    expect([signalInfo('SHORT_FUEL_TRIM_1')!.min, signalInfo('SHORT_FUEL_TRIM_1')!.max]).toEqual([-100, 99.21875]);
    expect([signalInfo('CATALYST_TEMP_B1S1')!.min, signalInfo('CATALYST_TEMP_B1S1')!.max]).toEqual([-40, 6513.5]);
  });
});

describe('docs/data-layout.md', () => {
  it('lists every telemetry field exactly as the catalogue defines it', () => {
    const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'data-layout.md'), 'utf8');
    expect(doc).toContain(signalTableMarkdown());
  });
});
