import { describe, expect, it } from 'vitest';
import { PacketSizeScanner } from './packet-size-guard.ts';

const packet = (bodyLength: number): Buffer => {
  const len: number[] = [];
  let n = bodyLength;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    len.push(byte);
  } while (n > 0);
  return Buffer.concat([Buffer.from([0x30, ...len]), Buffer.alloc(bodyLength, 7)]);
};

describe('PacketSizeScanner', () => {
  it('passes packets up to the limit, split anywhere across chunks', () => {
    const stream = Buffer.concat([packet(0), packet(100), packet(1000), packet(200)]);
    for (const cut of [1, 2, 3, 50, 101, 1103]) {
      const s = new PacketSizeScanner(1003);
      expect(s.feed(stream.subarray(0, cut)) && s.feed(stream.subarray(cut))).toBe(true);
    }
  });

  it('stops at a header that declares more than the limit, before the body arrives', () => {
    const s = new PacketSizeScanner(1024);
    expect(s.feed(packet(100))).toBe(true);
    expect(s.feed(packet(5000).subarray(0, 3))).toBe(false);
  });

  it('rejects a remaining length with a fifth continuation byte', () => {
    expect(new PacketSizeScanner(1 << 30).feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]))).toBe(false);
  });
});
