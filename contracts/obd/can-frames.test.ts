import { describe, expect, it } from 'vitest';
import { assembleMessages, formatHex, parseFrameLine, parseHeaderlessResponse, parseResponseLines, segmentMessage, type CanFrame } from './can-frames.ts';
import { decodeVin } from './vin.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(s.split(/\s+/).filter(Boolean).map((b) => parseInt(b, 16)));
const msgs = (m: { ecu: string; data: Uint8Array }[]): { ecu: string; data: string }[] => m.map((x) => ({ ecu: x.ecu, data: formatHex(x.data) }));

// What an ELM327 prints for 0902 (VIN) from a Toyota-style ECU, headers on, spaces on.
const VIN_HEADERS = ['7E8 10 14 49 02 01 4A 54 44', '7E8 21 42 52 33 32 45 36 30', '7E8 22 33 30 35 32 30 38 34'];
const VIN = 'JTDBR32E603052084';

describe('parseFrameLine', () => {
  it('reads 11-bit frames with spaces on and off', () => {
    expect(parseFrameLine('7E8 06 41 00 BE 1F A8 13 00', true)).toEqual({ id: 0x7e8, idBits: 11, data: hex('06 41 00 BE 1F A8 13 00') });
    expect(parseFrameLine('7E8064100BE1FA81300', true)).toEqual({ id: 0x7e8, idBits: 11, data: hex('06 41 00 BE 1F A8 13 00') });
    expect(parseFrameLine('  7e9 03 41 0d 3c  ', true)).toEqual({ id: 0x7e9, idBits: 11, data: hex('03 41 0D 3C') });
  });

  it('reads 29-bit frames with spaces on and off', () => {
    expect(parseFrameLine('18 DA F1 10 04 41 0C 1A F8 AA AA AA', true)).toEqual({ id: 0x18daf110, idBits: 29, data: hex('04 41 0C 1A F8 AA AA AA') });
    expect(parseFrameLine('18DAF11004410C1AF8AAAAAA', true)).toEqual({ id: 0x18daf110, idBits: 29, data: hex('04 41 0C 1A F8 AA AA AA') });
    expect(parseFrameLine('18DAF110 04 41 0C 1A F8', true)?.id).toBe(0x18daf110);
  });

  it('returns undefined for anything that is not a frame', () => {
    for (const line of ['NO DATA', 'SEARCHING...', 'CAN ERROR', 'BUFFER FULL', '?', '>', '', 'STOPPED', '7E8', '7E8 0', 'ELM327 v1.5', '<DATA ERROR', 'BUS INIT: ...ERROR', '41 0G']) {
      expect(parseFrameLine(line, true), line).toBeUndefined();
    }
  });

  it('with headers off takes the whole line as frame data', () => {
    expect(parseFrameLine('41 0C 1A F8', false)).toEqual({ id: 0, idBits: 11, data: hex('41 0C 1A F8') });
    expect(parseFrameLine('NO DATA', false)).toBeUndefined();
  });
});

describe('assembleMessages', () => {
  const frames = (lines: string[]): CanFrame[] => lines.map((l) => parseFrameLine(l, true)!);

  it('reassembles a multi-frame VIN (first frame + consecutive frames)', () => {
    const [m, ...rest] = assembleMessages(frames(VIN_HEADERS));
    expect(rest).toHaveLength(0);
    expect(m!.ecu).toBe('7E8');
    expect(formatHex(m!.data)).toBe('49 02 01 4A 54 44 42 52 33 32 45 36 30 33 30 35 32 30 38 34');
    expect(decodeVin(m!.data.subarray(3))).toBe(VIN);
  });

  it('separates several ECUs answering one request, interleaved, 11-bit', () => {
    const lines = ['7E8 06 41 00 BE 3F A8 13 00', '7E9 06 41 00 98 18 80 11 00', '7EA 06 41 00 80 00 00 01 00'];
    expect(msgs(assembleMessages(frames(lines)))).toEqual([
      { ecu: '7E8', data: '41 00 BE 3F A8 13' },
      { ecu: '7E9', data: '41 00 98 18 80 11' },
      { ecu: '7EA', data: '41 00 80 00 00 01' },
    ]);
  });

  it('keeps two interleaved multi-frame answers apart (29-bit)', () => {
    const a = segmentMessage(hex('49 02 01 31 31 31 31 31 31 31 31 31 31 31 31 31 31 31 31 31'));
    const b = segmentMessage(hex('49 02 01 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32'));
    const f: CanFrame[] = [];
    for (let i = 0; i < 3; i++) f.push({ id: 0x18daf110, idBits: 29, data: a[i]! }, { id: 0x18daf118, idBits: 29, data: b[i]! });
    const out = assembleMessages(f);
    expect(out.map((m) => m.ecu)).toEqual(['18DAF110', '18DAF118']);
    expect(decodeVin(out[0]!.data.subarray(3))).toBe('1'.repeat(17));
    expect(decodeVin(out[1]!.data.subarray(3))).toBe('2'.repeat(17));
  });

  it('drops a message with a missing or out-of-sequence consecutive frame', () => {
    expect(assembleMessages(frames([VIN_HEADERS[0]!, VIN_HEADERS[2]!]))).toEqual([]);
    expect(assembleMessages(frames([VIN_HEADERS[0]!, VIN_HEADERS[1]!]))).toEqual([]);
    // A consecutive frame with no first frame, and a flow-control frame, are ignored.
    expect(msgs(assembleMessages(frames(['7E8 21 47 50 30 30 52 35 35', '7E0 30 00 00 00 00 00 00 00', '7E8 03 41 0D 3C 00 00 00 00'])))).toEqual([{ ecu: '7E8', data: '41 0D 3C' }]);
  });

  it('handles a multi-PID answer spread over frames', () => {
    const lines = ['7E8 10 0A 41 0C 1A F8 0D 3C', '7E8 21 05 7B 11 40 00 00 00'];
    expect(msgs(assembleMessages(frames(lines)))).toEqual([{ ecu: '7E8', data: '41 0C 1A F8 0D 3C 05 7B 11 40' }]);
  });
});

describe('segmentMessage', () => {
  it('makes a padded single frame for up to 7 bytes', () => {
    expect(segmentMessage(hex('41 0C 1A F8')).map((f) => formatHex(f))).toEqual(['04 41 0C 1A F8 00 00 00']);
    expect(segmentMessage(hex('41 0C 1A F8'), 0xaa).map((f) => formatHex(f))).toEqual(['04 41 0C 1A F8 AA AA AA']);
  });

  it('makes first + consecutive frames with wrapping sequence numbers, and round-trips through assembly', () => {
    for (const len of [7, 8, 13, 14, 20, 111, 112, 200, 4095]) {
      const payload = Uint8Array.from({ length: len }, (_, i) => (i * 7 + 3) & 0xff);
      const frames = segmentMessage(payload);
      expect(frames.every((f) => f.length === 8)).toBe(true);
      expect(frames.length).toBe(len <= 7 ? 1 : 1 + Math.ceil((len - 6) / 7));
      if (len > 7) expect(frames[16]?.[0] ?? 0x20).toBe(0x20); // CF 16 wraps to sequence 0
      const back = assembleMessages(frames.map((data) => ({ id: 0x7e8, idBits: 11, data })));
      expect(back).toHaveLength(1);
      expect(Array.from(back[0]!.data)).toEqual(Array.from(payload));
    }
  });

  it('rejects empty and oversized payloads', () => {
    expect(() => segmentMessage(new Uint8Array(0))).toThrow(RangeError);
    expect(() => segmentMessage(new Uint8Array(4096))).toThrow(RangeError);
  });
});

describe('parseHeaderlessResponse', () => {
  it('reads single-frame answers, spaces on and off, one message per ECU line', () => {
    expect(msgs(parseHeaderlessResponse(['41 0C 1A F8', '']))).toEqual([{ ecu: '?', data: '41 0C 1A F8' }]);
    expect(msgs(parseHeaderlessResponse(['410C1AF8']))).toEqual([{ ecu: '?', data: '41 0C 1A F8' }]);
    expect(msgs(parseHeaderlessResponse(['41 00 BE 3F A8 13', '41 00 98 18 80 11']))).toHaveLength(2);
  });

  it('reads the 014 / 0: / 1: multi-frame form, spaces on and off', () => {
    const spaced = ['014', '0: 49 02 01 4A 54 44', '1: 42 52 33 32 45 36 30', '2: 33 30 35 32 30 38 34'];
    const compact = ['014', '0:4902014A5444', '1:42523332453630', '2:33303532303834'];
    for (const lines of [spaced, compact]) {
      const out = parseHeaderlessResponse(lines);
      expect(out).toHaveLength(1);
      expect(decodeVin(out[0]!.data.subarray(3))).toBe(VIN);
    }
  });

  it('wraps the line index after F and drops incomplete or mis-numbered messages', () => {
    const payload = Uint8Array.from({ length: 6 + 7 * 17 }, (_, i) => i & 0xff);
    const lines = [formatHex(Uint8Array.of(payload.length >> 8, payload.length & 0xff)).replace(' ', '').slice(1)];
    lines.push(`0: ${formatHex(payload.subarray(0, 6))}`);
    for (let i = 0; i < 17; i++) lines.push(`${((i + 1) & 0xf).toString(16).toUpperCase()}: ${formatHex(payload.subarray(6 + 7 * i, 13 + 7 * i))}`);
    expect(Array.from(parseHeaderlessResponse(lines)[0]!.data)).toEqual(Array.from(payload));
    expect(parseHeaderlessResponse(['014', '0: 49 02 01 4A 54 44', '2: 33 30 35 32 30 38 34'])).toEqual([]);
    expect(parseHeaderlessResponse(['014', '0: 49 02 01 4A 54 44'])).toEqual([]);
  });

  it('skips status lines', () => {
    expect(parseHeaderlessResponse(['SEARCHING...', 'NO DATA'])).toEqual([]);
    expect(msgs(parseHeaderlessResponse(['SEARCHING...', '41 0D 3C']))).toEqual([{ ecu: '?', data: '41 0D 3C' }]);
  });
});

describe('parseResponseLines', () => {
  it('gives the same payload with headers on and off', () => {
    const on = parseResponseLines(VIN_HEADERS, true);
    const off = parseResponseLines(['014', '0: 49 02 01 4A 54 44', '1: 42 52 33 32 45 36 30', '2: 33 30 35 32 30 38 34'], false);
    expect(formatHex(on[0]!.data)).toBe(formatHex(off[0]!.data));
    expect(on[0]!.ecu).toBe('7E8');
    expect(off[0]!.ecu).toBe('?');
  });
});
