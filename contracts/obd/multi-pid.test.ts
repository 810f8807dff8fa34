import { describe, expect, it } from 'vitest';
import { MAX_PIDS_PER_REQUEST, multiPidRequest, multiPidResponse, splitMultiPidResponse } from './multi-pid.ts';
import { SERVICE_01_PIDS, pidByName } from './pid-table.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(s.split(/\s+/).filter(Boolean).map((b) => parseInt(b, 16)));
const asHex = (m: Map<number, Uint8Array>): Record<string, string> =>
  Object.fromEntries([...m].map(([k, v]) => [k.toString(16).padStart(2, '0'), Buffer.from(v).toString('hex')]));

describe('splitMultiPidResponse', () => {
  it('splits a six-PID answer by the table byte counts', () => {
    const m = splitMultiPidResponse(hex('41 0C 1A F8 0D 3C 05 7B 11 40 04 80 10 01 F4'));
    expect(asHex(m)).toEqual({ '0c': '1af8', '0d': '3c', '05': '7b', '11': '40', '04': '80', '10': '01f4' });
    expect(pidByName('RPM')!.decode(m.get(0x0c)!)).toBe(1726);
  });

  it('accepts several 41 groups and tells PID 0x41 from a new group', () => {
    expect(asHex(splitMultiPidResponse(hex('41 0C 1A F8 41 0D 3C')))).toEqual({ '0c': '1af8', '0d': '3c' });
    // PID 0x41 (4 bytes) followed by PID 0x0D: only the PID reading consumes everything.
    expect(asHex(splitMultiPidResponse(hex('41 41 00 07 65 04 0D 3C')))).toEqual({ '41': '00076504', '0d': '3c' });
    // Here 0x41 must be a new group: as a PID it would leave 1 byte over.
    expect(asHex(splitMultiPidResponse(hex('41 0D 3C 41 05 7B')))).toEqual({ '0d': '3c', '05': '7b' });
  });

  it('returns what it could read before a truncated or unknown PID, and nothing for non-41 data', () => {
    expect(asHex(splitMultiPidResponse(hex('41 0D 3C 0C 1A')))).toEqual({ '0d': '3c' });
    expect(asHex(splitMultiPidResponse(hex('41 0D 3C 7F 01')))).toEqual({ '0d': '3c' });
    expect(splitMultiPidResponse(hex('7F 01 12')).size).toBe(0);
    expect(splitMultiPidResponse(new Uint8Array(0)).size).toBe(0);
  });

  it('round-trips every group of six consecutive table PIDs through multiPidResponse', () => {
    for (let i = 0; i + MAX_PIDS_PER_REQUEST <= SERVICE_01_PIDS.length; i += 1) {
      const group = SERVICE_01_PIDS.slice(i, i + MAX_PIDS_PER_REQUEST);
      const parts = group.map((d) => [d.pid, Uint8Array.from({ length: d.bytes }, (_, k) => (d.pid * 31 + k * 17) & 0xff)] as const);
      const m = splitMultiPidResponse(multiPidResponse(parts));
      expect([...m.keys()]).toEqual(group.map((d) => d.pid));
      for (const [pid, bytes] of parts) expect(Array.from(m.get(pid)!)).toEqual(Array.from(bytes));
    }
  });
});

describe('multiPidRequest', () => {
  it('builds 01 + PIDs and refuses more than six', () => {
    expect(Array.from(multiPidRequest([0x0c, 0x0d]))).toEqual([0x01, 0x0c, 0x0d]);
    expect(() => multiPidRequest([1, 2, 3, 4, 5, 6, 7])).toThrow(RangeError);
    expect(() => multiPidRequest([])).toThrow(RangeError);
  });
});
