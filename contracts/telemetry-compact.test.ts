import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { PID_ENCODINGS } from './obd/pid-encoding.ts';
import { SIGNAL_NAMES } from './signals.ts';
import { COMPACT_MARKER, decodeCompactTelemetry, encodeCompactTelemetry, MAX_COMPACT_BODY_BYTES, QUANTA_V1, SIGNAL_CODES_V1 } from './telemetry-compact.ts';
import { decodeTelemetry, encodeTelemetry, MAX_SAMPLES_PER_BATCH, type Sample, type TelemetryBatch } from './telemetry.ts';

/**
 * The codec on hand-made batches: edge values, malformed payloads, the frozen bytes of format 1.
 * The codec on a simulated car's data (round trips, size, send time, fuzz) is in
 * simulator/telemetry-compact-simulated.test.ts: contracts/ is below the simulator.
 */

const T0 = 1_763_900_000_000;

const batchOf = (samples: Sample[], seq = 7): TelemetryBatch => ({ v: 1, vehicle: 'car-1', seq, samples });
/** What the JSON form carries, parsed back: the reference every compact decode must equal. */
const viaJson = (batch: TelemetryBatch): unknown => JSON.parse(encodeTelemetry(batch).toString('utf8'));

describe('compact telemetry format 1', () => {
  it('keeps sparse samples, floats that are not on the J1979 grid, negatives and zero exactly', () => {
    const samples: Sample[] = [
      { t: T0, RPM: 812.25, COOLANT_TEMP: -40, TIMING_ADVANCE: -12.5 },
      { t: T0 + 1, SPEED: 12, COOLANT_TEMP: 0 },
      { t: T0 + 1001, RPM: 812.3, SHORT_FUEL_TRIM_1: -3.125, MAF: 0.1 + 0.2 },
      { t: T0 + 1002, RPM: 1000, MAF: 3.5, O2_B1S1: 0.4375 },
      { t: T0 + 9_000_000, CATALYST_TEMP_B1S1: 6513.5, RUN_TIME: 65535 },
      ...Array.from({ length: 9 }, (_, i) => ({ t: T0 + 9_000_001 + i, FUEL_LEVEL: i * 11.1 })),
    ];
    const batch = batchOf(samples, 0);
    for (const compression of ['none', 'deflate', 'auto'] as const) {
      const compact = encodeCompactTelemetry(batch, { compression });
      const result = decodeCompactTelemetry(compact);
      expect(result, compression).toEqual({ ok: true, batch: viaJson(batch) });
      expect(decodeTelemetry(compact, 'car-1').ok).toBe(true);
    }
  });

  it('uses float32 and float64 columns when values are off the grid', () => {
    const f32 = batchOf([{ t: T0, MAF: 1.5 + 2 ** -20 }, { t: T0 + 1, MAF: 2.75 + 2 ** -21 }]);
    const f64 = batchOf([{ t: T0, MAF: 0.1 + 0.2 }, { t: T0 + 1, MAF: 1 / 3 }]);
    const size = (b: TelemetryBatch) => encodeCompactTelemetry(b, { compression: 'none' }).length;
    expect(size(f64) - size(f32)).toBe(8); // 2 values × (8 − 4) bytes
    expect(decodeCompactTelemetry(encodeCompactTelemetry(f32))).toEqual({ ok: true, batch: f32 });
    expect(decodeCompactTelemetry(encodeCompactTelemetry(f64))).toEqual({ ok: true, batch: f64 });
  });

  it('lets the same schema reject what is structurally fine but invalid', () => {
    const outOfRange = encodeCompactTelemetry(batchOf([{ t: T0, SPEED: 1e6 }]));
    expect(decodeTelemetry(outOfRange, 'car-1')).toMatchObject({ ok: false, reason: 'schema', detail: expect.stringMatching(/SPEED/) });
    const backwards = encodeCompactTelemetry(batchOf([{ t: T0, RPM: 800 }, { t: T0 - 5, RPM: 800 }]));
    expect(decodeTelemetry(backwards, 'car-1')).toMatchObject({ ok: false, reason: 'schema', detail: expect.stringMatching(/strictly increase/) });
    const noSignal = encodeCompactTelemetry(batchOf([{ t: T0 }]));
    expect(decodeTelemetry(noSignal, 'car-1')).toMatchObject({ ok: false, reason: 'schema' });
    const other = encodeCompactTelemetry(batchOf([{ t: T0, RPM: 800 }]));
    expect(decodeTelemetry(other, 'car-2')).toMatchObject({ ok: false, reason: 'topic_mismatch' });
  });

  it('decodes format-1 payloads written before the send time existed, and writes them byte for byte as before', () => {
    const batch = batchOf([{ t: T0, RPM: 812.5, SPEED: 37 }, { t: T0 + 200, RPM: 815, SPEED: 38, COOLANT_TEMP: 88 }], 42);
    // Encoded by the codec of commit e947b7f (no send time).
    const plain = Buffer.from('fc0100056361722d312a02808e8885ab3390030380e43214814a0202028002', 'hex');
    const deflated = Buffer.from('fc0101634d4e2cd235d4626ae8eb685d6d3c8199b9e1899148a317131353031300', 'hex');
    for (const old of [plain, deflated]) {
      const result = decodeTelemetry(old, 'car-1');
      expect(result).toEqual({ ok: true, batch });
    }
    expect(encodeCompactTelemetry(batch, { compression: 'none' })).toEqual(plain);
    expect(encodeCompactTelemetry(batch, { compression: 'deflate' })).toEqual(deflated);
  });

  it('refuses a signal it has no code for instead of dropping it', () => {
    expect(() => encodeCompactTelemetry(batchOf([{ t: T0, TURBO: 1 } as unknown as Sample]))).toThrow(/TURBO/);
  });

  it('names what is wrong with malformed payloads', () => {
    const good = encodeCompactTelemetry(batchOf([{ t: T0, RPM: 800 }]), { compression: 'none' });
    const cases: Array<[Buffer, RegExp]> = [
      [Buffer.from([COMPACT_MARKER]), /truncated.*version/],
      [Buffer.from([COMPACT_MARKER, 9, 0]), /version 9/],
      [Buffer.from([COMPACT_MARKER, 1, 0x80]), /flags/],
      [Buffer.from([COMPACT_MARKER, 1, 0x04]), /flags/],
      [Buffer.from([COMPACT_MARKER, 1, 1, 1, 2, 3]), /deflate/],
      [Buffer.concat([good, Buffer.from([0])]), /trailing/],
      [good.subarray(0, good.length - 1), /truncated/],
      [Buffer.from([COMPACT_MARKER, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), /varint/],
      [Buffer.from([COMPACT_MARKER, 1, 0, 0, 0, 1, 1, 1, 31]), /signal code 31/],
      [Buffer.from([COMPACT_MARKER, 1, 0, 0, 0, 1, 1, 2, 0x80, 0, 0x80, 0]), /twice/],
      [Buffer.from([COMPACT_MARKER, 1, 0, 0, 0, 1, 1, 1, 0x60, 0]), /mode 3/],
      [Buffer.from([COMPACT_MARKER, 1, 0, 0, 0, 1, 1, 1, 0x00, 0x03, 0]), /bits past/],
      [Buffer.from([COMPACT_MARKER, 1, 0, 0, 0, 0xa0, 0x9c, 0x01]), /samples > 5000/],
    ];
    for (const [payload, detail] of cases) {
      const result = decodeTelemetry(payload, 'car-1');
      expect(result, payload.toString('hex')).toMatchObject({ ok: false, reason: 'malformed_compact', detail: expect.stringMatching(detail) });
    }
  });

  it('refuses a deflate bomb without inflating it', () => {
    const bomb = Buffer.concat([Buffer.from([COMPACT_MARKER, 1, 1]), deflateRawSync(Buffer.alloc(MAX_COMPACT_BODY_BYTES + 1))]);
    expect(bomb.length).toBeLessThan(4096);
    expect(decodeTelemetry(bomb, 'car-1')).toMatchObject({ ok: false, reason: 'malformed_compact' });
  });

  it('agrees with the catalogue, the J1979 encodings and the JSON bound', () => {
    expect([...SIGNAL_CODES_V1].sort()).toEqual([...SIGNAL_NAMES].sort());
    for (const e of PID_ENCODINGS) expect(QUANTA_V1[e.signal as keyof typeof QUANTA_V1], e.signal).toEqual({ scale: e.scale, offset: e.offset });
    const most = batchOf(Array.from({ length: MAX_SAMPLES_PER_BATCH }, (_, i) => ({ t: T0 + i, RPM: 800 })));
    expect(decodeTelemetry(encodeCompactTelemetry(most), 'car-1').ok).toBe(true);
    const tooMany = batchOf([...most.samples, { t: T0 + MAX_SAMPLES_PER_BATCH, RPM: 800 }]);
    expect(decodeTelemetry(encodeCompactTelemetry(tooMany), 'car-1')).toMatchObject({ ok: false, reason: 'malformed_compact' });
  });
});
