import { describe, expect, it } from 'vitest';
import { decodeSupportedPids, encodeSupportedPids, isSupportedPidsPid } from './supported-pids.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(s.split(/\s+/).filter(Boolean).map((b) => parseInt(b, 16)));

describe('supported-PID bitmaps', () => {
  it('decodes a real 0100 answer (BE 1F A8 13)', () => {
    expect(decodeSupportedPids(0x00, hex('BE 1F A8 13'))).toEqual([0x01, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x13, 0x15, 0x1c, 0x1f, 0x20]);
  });

  it('offsets by the base PID (0120, 0140)', () => {
    expect(decodeSupportedPids(0x20, hex('80 00 00 01'))).toEqual([0x21, 0x40]);
    expect(decodeSupportedPids(0x40, hex('40 00 00 00'))).toEqual([0x42]);
    expect(decodeSupportedPids(0x40, hex('00'))).toEqual([]);
  });

  it('encodes and sets the next-range bit when any higher PID is supported', () => {
    const supported = [0x04, 0x05, 0x0c, 0x0d, 0x2f, 0x42];
    expect(Buffer.from(encodeSupportedPids(0x00, supported)).toString('hex')).toBe('18180001');
    expect(decodeSupportedPids(0x20, encodeSupportedPids(0x20, supported))).toEqual([0x2f, 0x40]);
    expect(decodeSupportedPids(0x40, encodeSupportedPids(0x40, supported))).toEqual([0x42]);
    expect(Array.from(encodeSupportedPids(0x60, supported))).toEqual([0, 0, 0, 0]);
  });

  it('round-trips every single PID of every range', () => {
    for (let base = 0; base <= 0xe0; base += 0x20) {
      for (let pid = base + 1; pid <= base + 0x20; pid++) expect(decodeSupportedPids(base, encodeSupportedPids(base, [pid]))).toEqual([pid]);
    }
  });

  it('knows the bitmap PIDs', () => {
    expect([0x00, 0x20, 0x40, 0x60, 0xe0].every(isSupportedPidsPid)).toBe(true);
    expect([0x01, 0x21, 0x100].some(isSupportedPidsPid)).toBe(false);
  });
});
