import { describe, expect, it } from 'vitest';
import { decodeDtc, decodeDtcs, dtcPayload, encodeDtc } from './dtc.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(s.split(/\s+/).filter(Boolean).map((b) => parseInt(b, 16)));

describe('DTCs', () => {
  it('decodes each system letter and digit', () => {
    expect(decodeDtc(0x01, 0x33)).toBe('P0133');
    expect(decodeDtc(0x03, 0x01)).toBe('P0301');
    expect(decodeDtc(0x14, 0x20)).toBe('P1420');
    expect(decodeDtc(0x41, 0x23)).toBe('C0123');
    expect(decodeDtc(0x9a, 0xbc)).toBe('B1ABC');
    expect(decodeDtc(0xc1, 0x00)).toBe('U0100');
    expect(decodeDtc(0xff, 0xff)).toBe('U3FFF');
  });

  it('skips 00 00 padding and a trailing odd byte', () => {
    expect(decodeDtcs(hex('01 33 00 00 03 01 00'))).toEqual(['P0133', 'P0301']);
    expect(decodeDtcs(hex('00 00 00 00 00 00'))).toEqual([]);
  });

  it('takes the CAN count byte into account, and the older fixed groups without it', () => {
    // 03 on CAN: 43 <count> pairs…
    expect(decodeDtcs(dtcPayload(hex('43 02 01 33 03 01'), true))).toEqual(['P0133', 'P0301']);
    expect(decodeDtcs(dtcPayload(hex('43 00'), true))).toEqual([]);
    // 07 on ISO 9141: 47 + three pairs, padded.
    expect(decodeDtcs(dtcPayload(hex('47 01 71 00 00 00 00'), false))).toEqual(['P0171']);
  });

  it('round-trips every code', () => {
    for (let a = 0; a < 256; a += 5) {
      for (let b = 0; b < 256; b += 3) {
        expect(encodeDtc(decodeDtc(a, b))).toEqual([a, b]);
      }
    }
    expect(encodeDtc('p0420')).toEqual([0x04, 0x20]);
  });

  it('rejects malformed codes', () => {
    for (const bad of ['', 'P042', 'X0420', 'P4420', 'P04G0', 'P04201']) expect(() => encodeDtc(bad), bad).toThrow(RangeError);
  });
});
