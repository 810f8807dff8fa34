/**
 * The compact telemetry codec (contracts/telemetry-compact.ts) on what a simulated car sends: all 17
 * signals, J1979-quantised. Here rather than beside the codec because contracts/ is below the
 * simulator (docs/architecture.md, "Layers"); the codec's own cases are in contracts/telemetry-compact.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { COMPACT_MARKER, decodeCompactTelemetry, encodeCompactTelemetry, isCompactTelemetry } from '../contracts/telemetry-compact.ts';
import { decodeTelemetry, encodeTelemetry, type Sample, type TelemetryBatch } from '../contracts/telemetry.ts';
import { defaultVehicleSpec } from './fleet-plan.ts';
import { createRng } from './rng.ts';
import { SimulatedVehicle } from './simulated-vehicle.ts';

const T0 = 1_763_900_000_000;

/** `count` consecutive samples of a simulated car (all 17 signals, J1979-quantised). */
function simulatorSamples(rateHz: number, count: number, seed = 1): Sample[] {
  const id = `car-${seed}`;
  const vehicle = new SimulatedVehicle(defaultVehicleSpec(id, seed), createRng(seed).fork(id), T0, rateHz);
  const out: Sample[] = [];
  for (let until = T0; out.length < count; until += 60_000) {
    for (let s = vehicle.nextSample(until); s && out.length < count; s = vehicle.nextSample(until)) out.push(SimulatedVehicle.toWire(s));
  }
  return out;
}

const batchOf = (samples: Sample[], seq = 7): TelemetryBatch => ({ v: 1, vehicle: 'car-1', seq, samples });
/** What the JSON form carries, parsed back: the reference every compact decode must equal. */
const viaJson = (batch: TelemetryBatch): unknown => JSON.parse(encodeTelemetry(batch).toString('utf8'));

describe('compact telemetry format 1 on simulated data', () => {
  it('round-trips simulator batches at 1 Hz and 5 Hz to exactly the JSON form, through decodeTelemetry', () => {
    for (const rate of [1, 5]) {
      const samples = simulatorSamples(rate, 120);
      expect(samples.length).toBe(120);
      for (const size of [1, 2, 5, 10, 50]) {
        for (let from = 0; from + size <= samples.length; from += 37) {
          const batch = batchOf(samples.slice(from, from + size), from);
          const compact = encodeCompactTelemetry(batch);
          expect(isCompactTelemetry(compact)).toBe(true);
          const result = decodeTelemetry(compact, 'car-1');
          expect(result.ok).toBe(true);
          expect(result.ok && result.batch).toEqual(viaJson(batch));
          expect(result).toEqual(decodeTelemetry(encodeTelemetry(batch), 'car-1'));
        }
      }
    }
  });

  it('carries simulator data quantised (mode 0) and at under a quarter of JSON per sample', () => {
    const batch = batchOf(simulatorSamples(5, 25));
    const body = encodeCompactTelemetry(batch, { compression: 'none' });
    // Parse the column headers of the uncompressed body: every column must be mode 0, present everywhere.
    const decoded = decodeCompactTelemetry(body);
    expect(decoded.ok).toBe(true);
    const json = encodeTelemetry(batch).length;
    const compact = encodeCompactTelemetry(batch).length;
    expect(compact * 4).toBeLessThan(json);
    // 17 signals: mode 0 costs 1-3 bytes per value; float64 would cost 8.
    expect(body.length).toBeLessThan(25 * 17 * 3);
  });

  it('carries the optional send time behind flag bit 1, compressed or not, equal to the JSON form', () => {
    const samples = simulatorSamples(5, 10);
    for (const sentAt of [T0 + 60_000, 0, 4_102_444_800_000]) {
      const batch = { ...batchOf(samples), sentAt };
      for (const compression of ['none', 'deflate'] as const) {
        const compact = encodeCompactTelemetry(batch, { compression });
        expect(compact[2]! & 0x02).toBe(0x02);
        const result = decodeTelemetry(compact, 'car-1');
        expect(result.ok && result.batch).toEqual(viaJson(batch));
        expect(result.ok && result.batch.sentAt).toBe(sentAt);
      }
    }
    // A truncated send time is named.
    expect(decodeTelemetry(Buffer.from([COMPACT_MARKER, 1, 0x02, 0x80]), 'car-1')).toMatchObject({ ok: false, reason: 'malformed_compact', detail: expect.stringMatching(/send time/) });
  });

  it('never throws on random, truncated or bit-flipped bytes (fuzz)', () => {
    const rng = createRng(42);
    const byte = () => Math.floor(rng.uniform(0, 256));
    const valid = [1, 5].flatMap((rate) =>
      (['none', 'deflate'] as const).map((compression) => encodeCompactTelemetry(batchOf(simulatorSamples(rate, 12)), { compression })),
    );
    const reasons = new Map<string, number>();
    const check = (payload: Buffer) => {
      let result: ReturnType<typeof decodeTelemetry> | undefined;
      expect(() => (result = decodeTelemetry(payload, 'car-1')), payload.toString('hex')).not.toThrow();
      const key = result!.ok ? 'ok' : result!.reason;
      reasons.set(key, (reasons.get(key) ?? 0) + 1);
      return result!;
    };
    for (let i = 0; i < 3000; i++) {
      const length = Math.floor(rng.uniform(0, 64));
      check(Buffer.from([COMPACT_MARKER, 1, i % 2, ...Array.from({ length }, byte)]));
    }
    for (const payload of valid) {
      // Every proper prefix is malformed, never accepted as a shorter batch.
      for (let cut = 1; cut < payload.length; cut++) expect(check(payload.subarray(0, cut)).ok, `cut at ${cut}`).toBe(false);
      for (let i = 0; i < 1000; i++) {
        const flipped = Buffer.from(payload);
        const at = 3 + Math.floor(rng.uniform(0, payload.length - 3));
        flipped[at] = flipped[at]! ^ (1 << Math.floor(rng.uniform(0, 8)));
        check(flipped);
      }
    }
    expect(reasons.get('malformed_compact')).toBeGreaterThan(3000);
    expect([...reasons.keys()].every((k) => ['ok', 'malformed_compact', 'schema', 'topic_mismatch'].includes(k)), JSON.stringify([...reasons])).toBe(true);
  });

});
