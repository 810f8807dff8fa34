import { describe, expect, it } from 'vitest';
import { decodeVin, encodeVinResponse, isValidVin } from './vin.ts';

describe('VIN', () => {
  it('round-trips through the service 09 response', () => {
    const r = encodeVinResponse('1HGCM82633A004352');
    expect(Array.from(r.subarray(0, 3))).toEqual([0x49, 0x02, 0x01]);
    expect(r.length).toBe(20);
    expect(decodeVin(r.subarray(3))).toBe('1HGCM82633A004352');
  });

  it('strips 00 / FF / space padding', () => {
    const padded = Uint8Array.from([0, 0, 0, ...Buffer.from('WVWZZZ1KZAW000001'), 0xff, 0x20]);
    expect(decodeVin(padded)).toBe('WVWZZZ1KZAW000001');
  });

  it('validates VIN syntax', () => {
    expect(isValidVin('1HGCM82633A004352')).toBe(true);
    expect(isValidVin('1HGCM82633A00435')).toBe(false);
    expect(isValidVin('1HGCM82633A00435O')).toBe(false);
  });
});
