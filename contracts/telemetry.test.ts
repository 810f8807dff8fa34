import { describe, expect, it } from 'vitest';
import { decodeTelemetry, encodeTelemetry, MAX_TELEMETRY_PAYLOAD_BYTES, type TelemetryBatch } from './telemetry.ts';

const T0 = 1_763_900_000_000;
const batch: TelemetryBatch = {
  v: 1,
  vehicle: 'car-1',
  seq: 3,
  samples: [
    { t: T0, RPM: 812.25, SPEED: 0, COOLANT_TEMP: 88 },
    { t: T0 + 500, RPM: 1500, SPEED: 12, COOLANT_TEMP: 89, CONTROL_MODULE_VOLTAGE: 14.2 },
  ],
};
const payload = (value: unknown): Buffer => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));

describe('telemetry wire format v1', () => {
  it('round-trips a valid batch', () => {
    const result = decodeTelemetry(encodeTelemetry(batch), 'car-1');
    expect(result).toEqual({ ok: true, batch });
  });

  const cases: Array<[string, unknown, string, RegExp]> = [
    ['not JSON', 'garbage{', 'not_json', /JSON|Unexpected/],
    ['wrong version', { ...batch, v: 2 }, 'schema', /^v:/],
    ['missing seq', { ...batch, seq: undefined }, 'schema', /^seq:/],
    ['negative seq', { ...batch, seq: -1 }, 'schema', /^seq:/],
    ['no samples', { ...batch, samples: [] }, 'schema', /^samples:/],
    ['string value', { ...batch, samples: [{ t: T0, RPM: '812' }] }, 'schema', /samples\.0\.RPM/],
    ['unknown signal', { ...batch, samples: [{ t: T0, TURBO: 1 }] }, 'schema', /TURBO|Unrecognized/],
    ['out of range', { ...batch, samples: [{ t: T0, SPEED: 300 }] }, 'schema', /samples\.0\.SPEED: must be within/],
    ['time in seconds', { ...batch, samples: [{ t: 1_763_900_000, RPM: 800 }] }, 'schema', /samples\.0\.t/],
    ['fractional time', { ...batch, samples: [{ t: T0 + 0.5, RPM: 800 }] }, 'schema', /samples\.0\.t/],
    ['only a timestamp', { ...batch, samples: [{ t: T0 }] }, 'schema', /at least one signal/],
    ['times not increasing', { ...batch, samples: [{ t: T0, RPM: 1 }, { t: T0, RPM: 2 }] }, 'schema', /samples\.1\.t: event times must strictly increase/],
    ['extra top-level key', { ...batch, extra: true }, 'schema', /extra|Unrecognized/],
    ['bad vehicle id', { ...batch, vehicle: 'a/b' }, 'schema', /^vehicle:/],
    ['other vehicle', { ...batch, vehicle: 'car-2' }, 'topic_mismatch', /car-2/],
    ['negative send time', { ...batch, sentAt: -1 }, 'schema', /^sentAt:/],
    ['fractional send time', { ...batch, sentAt: T0 + 0.5 }, 'schema', /^sentAt:/],
    ['send time as a string', { ...batch, sentAt: '2026-12-01T00:00:00Z' }, 'schema', /^sentAt:/],
  ];
  for (const [name, value, reason, detail] of cases) {
    it(`rejects ${name} as ${reason}`, () => {
      const result = decodeTelemetry(payload(value), 'car-1');
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.reason).toBe(reason);
        expect(result.detail).toMatch(detail);
      }
    });
  }

  it('carries the optional send time (the agent clock at publish) and decodes batches without it as before', () => {
    const sent = { ...batch, sentAt: T0 + 1000 };
    expect(decodeTelemetry(encodeTelemetry(sent), 'car-1')).toEqual({ ok: true, batch: sent });
    const old = decodeTelemetry(payload({ v: 1, vehicle: 'car-1', seq: 3, samples: batch.samples }), 'car-1');
    expect(old).toEqual({ ok: true, batch });
    expect(old.ok && 'sentAt' in old.batch).toBe(false);
    // A clock years off is the skew ingest wants to see, not a schema error.
    expect(decodeTelemetry(encodeTelemetry({ ...batch, sentAt: 0 }), 'car-1')).toMatchObject({ ok: true, batch: { sentAt: 0 } });
  });

  it('rejects oversized payloads before parsing them', () => {
    const result = decodeTelemetry(Buffer.alloc(MAX_TELEMETRY_PAYLOAD_BYTES + 1, 0x20), 'car-1');
    expect(result).toMatchObject({ ok: false, reason: 'too_large' });
  });
});
