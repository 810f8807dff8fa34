import { describe, expect, it } from 'vitest';
import { parseHeaderlessResponse } from '../../contracts/obd/can-frames.ts';
import { type DisplaySettings, formatResponse, responseFrames } from './elm-format.ts';

const rpm = Uint8Array.of(0x41, 0x0c, 0x1a, 0xf8);
const s = (over: Partial<DisplaySettings> = {}): DisplaySettings => ({ headers: false, spaces: true, caf: true, ...over });

describe('formatResponse', () => {
  it('prints a single frame in every combination of headers, spaces and auto-formatting', () => {
    const r = responseFrames(0x7e8, 11, rpm);
    expect(formatResponse(r, s())).toEqual(['41 0C 1A F8']);
    expect(formatResponse(r, s({ spaces: false }))).toEqual(['410C1AF8']);
    expect(formatResponse(r, s({ trailingSpace: true }))).toEqual(['41 0C 1A F8 ']);
    expect(formatResponse(r, s({ headers: true }))).toEqual(['7E8 04 41 0C 1A F8 00 00 00']);
    expect(formatResponse(r, s({ headers: true, spaces: false }))).toEqual(['7E804410C1AF8000000']);
    expect(formatResponse(r, s({ caf: false }))).toEqual(['04 41 0C 1A F8 00 00 00']);
  });

  it('prints 29-bit IDs as four bytes', () => {
    const r = responseFrames(0x18daf110, 29, rpm);
    expect(formatResponse(r, s({ headers: true }))).toEqual(['18 DA F1 10 04 41 0C 1A F8 00 00 00']);
    expect(formatResponse(r, s({ headers: true, spaces: false }))).toEqual(['18DAF11004410C1AF8000000']);
  });

  it('prints a multi-frame message headerless as length line plus indexed frames, wrapping the index after F', () => {
    const payload = Uint8Array.from({ length: 130 }, (_, i) => i);
    const text = formatResponse(responseFrames(0x7e8, 11, payload), s());
    expect(text[0]).toBe('082');
    expect(text[1]).toBe('0: 00 01 02 03 04 05');
    expect(text[2]).toBe('1: 06 07 08 09 0A 0B 0C');
    expect(text[17]).toBe('0: 6F 70 71 72 73 74 75'); // the 17th frame's index wraps to 0
    expect(text).toHaveLength(1 + 19);
    const [message] = parseHeaderlessResponse(text);
    expect(message!.data).toEqual(payload);
    expect(formatResponse(responseFrames(0x7e8, 11, payload), s({ spaces: false }))[1]).toBe('0:000102030405');
  });

  it('prints every frame of a multi-frame message with its header', () => {
    const text = formatResponse(responseFrames(0x7e9, 11, Uint8Array.of(0x49, 0x02, 0x01, 0x41, 0x42, 0x43, 0x44, 0x45)), s({ headers: true }));
    expect(text).toEqual(['7E9 10 08 49 02 01 41 42 43', '7E9 21 44 45 00 00 00 00 00']);
  });
});
