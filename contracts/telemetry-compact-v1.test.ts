/**
 * Compact wire format 1, frozen. Signal codes and quanta are derived from the catalogue
 * (signals.ts), which may grow; what format 1 already means must never change, or payloads queued on
 * agents and ingests of other versions would read different numbers. The literals below were written
 * out from the codec before the quanta were derived, and must not be edited to make a test pass: a
 * change of meaning needs a new format version.
 */
import { describe, expect, it } from 'vitest';
import { SIGNALS } from './signals.ts';
import { decodeCompactTelemetry, encodeCompactTelemetry, QUANTA_V1, SIGNAL_CODES_V1 } from './telemetry-compact.ts';
import type { TelemetryBatch } from './telemetry.ts';

/** Codes 0–16 of format 1, by code. */
const FROZEN_CODES_V1 = [
  'RPM',
  'SPEED',
  'COOLANT_TEMP',
  'ENGINE_LOAD',
  'INTAKE_TEMP',
  'MAF',
  'THROTTLE_POS',
  'SHORT_FUEL_TRIM_1',
  'LONG_FUEL_TRIM_1',
  'CONTROL_MODULE_VOLTAGE',
  'INTAKE_PRESSURE',
  'BAROMETRIC_PRESSURE',
  'TIMING_ADVANCE',
  'O2_B1S1',
  'CATALYST_TEMP_B1S1',
  'FUEL_LEVEL',
  'RUN_TIME',
];

/** Their quanta (value = raw · scale + offset), compared as exact doubles. */
const FROZEN_QUANTA_V1: Record<string, { scale: number; offset: number }> = {
  RPM: { scale: 0.25, offset: 0 },
  SPEED: { scale: 1, offset: 0 },
  COOLANT_TEMP: { scale: 1, offset: -40 },
  ENGINE_LOAD: { scale: 100 / 255, offset: 0 },
  INTAKE_TEMP: { scale: 1, offset: -40 },
  MAF: { scale: 0.01, offset: 0 },
  THROTTLE_POS: { scale: 100 / 255, offset: 0 },
  SHORT_FUEL_TRIM_1: { scale: 100 / 128, offset: -100 },
  LONG_FUEL_TRIM_1: { scale: 100 / 128, offset: -100 },
  CONTROL_MODULE_VOLTAGE: { scale: 0.001, offset: 0 },
  INTAKE_PRESSURE: { scale: 1, offset: 0 },
  BAROMETRIC_PRESSURE: { scale: 1, offset: 0 },
  TIMING_ADVANCE: { scale: 0.5, offset: -64 },
  O2_B1S1: { scale: 0.005, offset: 0 },
  CATALYST_TEMP_B1S1: { scale: 0.1, offset: -40 },
  FUEL_LEVEL: { scale: 100 / 255, offset: 0 },
  RUN_TIME: { scale: 1, offset: 0 },
};

/** Every format 1 signal at raw 0, at its largest raw and at one raw in between: all quantised (mode 0). */
const EVERY_SIGNAL: TelemetryBatch = {
  v: 1,
  vehicle: 'car-7',
  seq: 42,
  samples: [
    { t: 1_763_900_000_000, RPM: 0, SPEED: 0, COOLANT_TEMP: -40, ENGINE_LOAD: 0, INTAKE_TEMP: -40, MAF: 0, THROTTLE_POS: 0, SHORT_FUEL_TRIM_1: -100, LONG_FUEL_TRIM_1: -100, CONTROL_MODULE_VOLTAGE: 0, INTAKE_PRESSURE: 0, BAROMETRIC_PRESSURE: 0, TIMING_ADVANCE: -64, O2_B1S1: 0, CATALYST_TEMP_B1S1: -40, FUEL_LEVEL: 0, RUN_TIME: 0 },
    { t: 1_763_900_000_200, RPM: 16383.75, SPEED: 255, COOLANT_TEMP: 215, ENGINE_LOAD: 100, INTAKE_TEMP: 215, MAF: 655.35, THROTTLE_POS: 100, SHORT_FUEL_TRIM_1: 99.21875, LONG_FUEL_TRIM_1: 99.21875, CONTROL_MODULE_VOLTAGE: 65.535, INTAKE_PRESSURE: 255, BAROMETRIC_PRESSURE: 255, TIMING_ADVANCE: 63.5, O2_B1S1: 1.275, CATALYST_TEMP_B1S1: 6513.5, FUEL_LEVEL: 100, RUN_TIME: 65535 },
    { t: 1_763_900_000_400, RPM: 2.75, SPEED: 48, COOLANT_TEMP: 45, ENGINE_LOAD: 47.843137, INTAKE_TEMP: 119, MAF: 1.96, THROTTLE_POS: 91.372549, SHORT_FUEL_TRIM_1: -89.0625, LONG_FUEL_TRIM_1: -60.15625, CONTROL_MODULE_VOLTAGE: 0.344, INTAKE_PRESSURE: 125, BAROMETRIC_PRESSURE: 162, TIMING_ADVANCE: 35.5, O2_B1S1: 1.18, CATALYST_TEMP_B1S1: 12.9, FUEL_LEVEL: 21.176471, RUN_TIME: 603 },
  ],
};
const EVERY_SIGNAL_BYTES = 'fc0100056361722d372a03808e8885ab3390039003118000feff07e7ff078100fe039d038200fe03d3028300fe0389028400fe03bf018500feff07f5fc078600fe032b8700fe03e1038800fe0397038900feff07cdfa078a00fe0383028b00fe03b9018c00fe036f8d00fe03258e00feff07dbf7078f00fe0391039000feff07c7f607';

/** Sparse columns, a float64 (RPM 1234.5678), float32s (SPEED) and a send time. */
const MIXED = {
  v: 1,
  vehicle: 'car-7',
  seq: 43,
  samples: [
    { t: 1_763_900_000_000, RPM: 1234.5678, SPEED: 0.5, MAF: 3.14 },
    { t: 1_763_900_000_100, SPEED: 33.25, FUEL_LEVEL: 50.196078 },
    { t: 1_763_900_000_050, RPM: 800, MAF: 3.15 },
  ],
} as TelemetryBatch;
const MIXED_WITH_SENT_AT_BYTES = 'fc0102e8958885ab33056361722d372b03808e8885ab33c80163044005adfa5c6d454a9340000000000000894021030000003f000005420505f404020f028002';
const MIXED_DEFLATED_BYTES = 'fc0101634d4e2cd235d7666ee8eb685d6d7c823199c58175edaf985c57afc90e0c60d0e9a0c8ccc0c060cfc0c0eac4cafa8585899fa9810900';

describe('compact format 1 is frozen', () => {
  it('keeps the codes it has: the catalogue may only append', () => {
    expect(SIGNAL_CODES_V1.slice(0, FROZEN_CODES_V1.length)).toEqual(FROZEN_CODES_V1);
    expect(SIGNAL_CODES_V1.length).toBeLessThanOrEqual(32);
  });

  it('keeps the quanta of those codes, derived from the catalogue', () => {
    for (const name of FROZEN_CODES_V1) expect(QUANTA_V1[name as keyof typeof QUANTA_V1], name).toEqual(FROZEN_QUANTA_V1[name]);
  });

  it('quantises every code, old and new, with its catalogue encoding', () => {
    for (const s of SIGNALS) expect(QUANTA_V1[s.name as keyof typeof QUANTA_V1], s.name).toEqual({ scale: s.scale, offset: s.offset });
    expect(Object.keys(QUANTA_V1)).toEqual([...SIGNAL_CODES_V1]);
  });

  it('writes the same bytes as before for every signal, and reads them back', () => {
    const bytes = encodeCompactTelemetry(EVERY_SIGNAL, { compression: 'none' });
    expect(bytes.toString('hex')).toBe(EVERY_SIGNAL_BYTES);
    // Mode 0 everywhere: each column header is its code | 0x80 (present in every sample).
    expect(decodeCompactTelemetry(Buffer.from(EVERY_SIGNAL_BYTES, 'hex'))).toEqual({ ok: true, batch: EVERY_SIGNAL });
  });

  it('writes the same bytes as before for sparse, float and deflated batches, and reads them back', () => {
    expect(encodeCompactTelemetry({ ...MIXED, sentAt: 1_763_900_001_000 }, { compression: 'none' }).toString('hex')).toBe(MIXED_WITH_SENT_AT_BYTES);
    expect(encodeCompactTelemetry(MIXED, { compression: 'deflate' }).toString('hex')).toBe(MIXED_DEFLATED_BYTES);
    expect(decodeCompactTelemetry(Buffer.from(MIXED_WITH_SENT_AT_BYTES, 'hex'))).toEqual({ ok: true, batch: { ...MIXED, sentAt: 1_763_900_001_000 } });
    expect(decodeCompactTelemetry(Buffer.from(MIXED_DEFLATED_BYTES, 'hex'))).toEqual({ ok: true, batch: MIXED });
  });
});
