import { describe, expect, it } from 'vitest';
import { groundTruthAt, parseSeverityCurve, severityAt, windowTruth } from './faults.ts';
import { encodePid, pidEncoding } from '../contracts/obd/pid-encoding.ts';

describe('fault severity', () => {
  const spec = { kind: 'misfire' as const, onsetMs: 1000, failureMs: 11_000 };
  it('is 0 before onset, 1 from failure on, and grows monotonically between', () => {
    expect(severityAt(spec, 0)).toBe(0);
    expect(severityAt(spec, 11_000)).toBe(1);
    expect(severityAt(spec, 20_000)).toBe(1);
    let last = 0;
    for (let t = 1000; t <= 11_000; t += 500) {
      const s = severityAt(spec, t);
      expect(s).toBeGreaterThanOrEqual(last);
      last = s;
    }
  });
  it('follows the configured curve', () => {
    expect(severityAt({ ...spec, curve: { kind: 'linear' } }, 6000)).toBeCloseTo(0.5);
    expect(severityAt({ ...spec, curve: { kind: 'power', exponent: 2 } }, 6000)).toBeCloseTo(0.25);
    expect(severityAt({ ...spec, curve: { kind: 'exponential', rate: 4 } }, 6000)).toBeCloseTo(Math.expm1(2) / Math.expm1(4));
    expect(parseSeverityCurve('power:3')).toEqual({ kind: 'power', exponent: 3 });
    expect(parseSeverityCurve('exp:5')).toEqual({ kind: 'exponential', rate: 5 });
    expect(() => parseSeverityCurve('cubic')).toThrow(/not a severity curve/);
  });
  it('gives ground truth with time to failure, and window truth', () => {
    expect(groundTruthAt(undefined, 5)).toEqual({ fault: null, severity: 0, timeToFailureS: null });
    const g = groundTruthAt(spec, 6000);
    expect(g.fault).toBe('misfire');
    expect(g.timeToFailureS).toBe(5);
    const w = windowTruth([groundTruthAt(spec, 500), groundTruthAt(spec, 6000), groundTruthAt(spec, 12_000)]);
    expect(w.maxSeverity).toBe(1);
    expect(w.timeToFailureS).toBe(0);
    expect(w.faultActive).toBe(true);
    expect(windowTruth([groundTruthAt(spec, 500)]).faultActive).toBe(false);
  });
});

describe('PID encoding', () => {
  it('encodes to the J1979 bytes', () => {
    expect(encodePid(pidEncoding('RPM')!, 780)).toEqual([0x0c, 0x30]);
    expect(encodePid(pidEncoding('COOLANT_TEMP')!, 90)).toEqual([130]);
    expect(encodePid(pidEncoding('TIMING_ADVANCE')!, 10)).toEqual([148]);
    expect(encodePid(pidEncoding('CONTROL_MODULE_VOLTAGE')!, 14.2)).toEqual([0x37, 0x78]);
    expect(encodePid(pidEncoding('SHORT_FUEL_TRIM_1')!, -200)).toEqual([0]); // clamped to the byte
  });
});
