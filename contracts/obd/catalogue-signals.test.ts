/**
 * Adding a signal to the catalogue (contracts/signals.ts) is one edit: for every catalogue signal,
 * whatever the table holds, the agent's PID table, the simulator's encoding and the compact codec
 * must carry it with the catalogue's encoding, derived, with no second table to keep equal.
 */
import { describe, expect, it } from 'vitest';
import { maxRaw, valueOfRaw } from '../j1979.ts';
import { SIGNALS } from '../signals.ts';
import { decodeCompactTelemetry, encodeCompactTelemetry, QUANTA_V1, SIGNAL_CODES_V1 } from '../telemetry-compact.ts';
import type { Sample } from '../telemetry.ts';
import { encodePid, pidEncoding, quantise } from './pid-encoding.ts';
import { pidByName, pidByNumber, scalarValue } from './pid-table.ts';

/** Every raw value of a 1-byte signal; of a 2-byte one the ends and every 7th. */
function raws(bytes: number): number[] {
  const max = maxRaw(bytes);
  const out: number[] = [];
  for (let raw = 0; raw <= max; raw += bytes === 1 ? 1 : 7) out.push(raw);
  if (out.at(-1) !== max) out.push(max);
  return out;
}

const uvarintBytes = (v: number): number => (v < 0x80 ? 1 : 1 + uvarintBytes(Math.floor(v / 0x80)));

/**
 * Where the first column header sits in an uncompressed payload without send time for vehicle
 * 'car-1', seq 0 and samples 1 ms apart: marker, version, flags, vehicle, seq, n, t₀, n−1 one-byte
 * time deltas, column count.
 */
function columnHeaderAt(n: number): number {
  return 3 + 1 + 'car-1'.length + 1 + uvarintBytes(n) + uvarintBytes(1_763_900_000_000) + (n - 1) + 1;
}

describe('every catalogue signal', () => {
  it('has its PID table row at its PID, with its name and unit', () => {
    for (const s of SIGNALS) {
      const def = pidByNumber(s.pid);
      expect(def, s.name).toBeDefined();
      expect(def!.name, s.name).toBe(s.name);
      expect(pidByName(s.name), s.name).toBe(def);
      expect(def!.unit, s.name).toBe(s.unit);
      expect(def!.bytes, s.name).toBeGreaterThanOrEqual(s.bytes);
    }
  });

  it('has the simulator encoding of the catalogue', () => {
    for (const s of SIGNALS) expect(pidEncoding(s.name), s.name).toEqual({ signal: s.name, pid: s.pid, bytes: s.bytes, scale: s.scale, offset: s.offset });
  });

  it('reads every raw value the same through the simulator, the PID table and back', () => {
    for (const s of SIGNALS) {
      const def = pidByNumber(s.pid)!;
      const e = pidEncoding(s.name)!;
      for (const raw of raws(s.bytes)) {
        const value = valueOfRaw(s, raw);
        const bytes = encodePid(e, value);
        // A PID wider than its signal (PID 14: trim after the voltage) gets the rest as an ECU sends it unused.
        const wire = Uint8Array.from([...bytes, ...Array<number>(def.bytes - s.bytes).fill(0xff)]);
        const read = scalarValue(def, def.decode(wire));
        expect(read, `${s.name} raw ${raw}`).toBe(value);
        expect(quantise(e, value), `${s.name} raw ${raw}`).toBe(value);
        expect(Array.from(def.encode(read!)).slice(0, s.bytes), `${s.name} raw ${raw}`).toEqual(bytes);
      }
    }
  });

  it('has a compact code whose quantum is its encoding, so its values travel as integers (mode 0)', () => {
    for (const s of SIGNALS) {
      const code = SIGNAL_CODES_V1.indexOf(s.name as (typeof SIGNAL_CODES_V1)[number]);
      expect(code, s.name).toBeGreaterThanOrEqual(0);
      expect(QUANTA_V1[s.name as keyof typeof QUANTA_V1], s.name).toEqual({ scale: s.scale, offset: s.offset });
      const all = raws(s.bytes).map((raw) => valueOfRaw(s, raw));
      for (let from = 0; from < all.length; from += 5000) {
        const samples = all.slice(from, from + 5000).map((v, i) => ({ t: 1_763_900_000_000 + i, [s.name]: v }) as Sample);
        const payload = encodeCompactTelemetry({ v: 1, vehicle: 'car-1', seq: 0, samples }, { compression: 'none' });
        // The one column's header: code, mode 0 (bits 5-6 clear), present in every sample (bit 7).
        expect(payload[columnHeaderAt(samples.length)], s.name).toBe(code | 0x80);
        const decoded = decodeCompactTelemetry(payload);
        expect(decoded.ok && decoded.batch.samples, s.name).toEqual(samples);
      }
    }
  });
});
