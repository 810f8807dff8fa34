/**
 * Supported-PID bitmaps (service 01 PIDs 0x00, 0x20, 0x40 …): four bytes, most significant bit of
 * the first byte = PID base+1, least significant bit of the last byte = PID base+0x20, which also
 * says "ask the next bitmap".
 */

/** The PIDs a bitmap response for `basePid` marks as supported, ascending. Short data reads as zero bits. */
export function decodeSupportedPids(basePid: number, data: Uint8Array): number[] {
  const supported: number[] = [];
  for (let bit = 0; bit < 32; bit++) {
    const byte = data[bit >> 3] ?? 0;
    if (byte & (0x80 >> (bit & 7))) supported.push(basePid + bit + 1);
  }
  return supported;
}

/**
 * The bitmap for `basePid` from a set of supported PIDs. PIDs outside base+1 … base+0x20 are ignored,
 * except that any PID above the range sets the base+0x20 bit (an ECU must announce the next bitmap).
 */
export function encodeSupportedPids(basePid: number, supported: Iterable<number>): Uint8Array {
  const out = new Uint8Array(4);
  const set = (pid: number): void => {
    const bit = pid - basePid - 1;
    out[bit >> 3]! |= 0x80 >> (bit & 7);
  };
  for (const pid of supported) {
    if (pid > basePid && pid <= basePid + 0x20) set(pid);
    else if (pid > basePid + 0x20) set(basePid + 0x20);
  }
  return out;
}

/** The bitmap PIDs to ask, in order, while the previous one announces the next: 0x00, 0x20, … 0xE0. */
export function isSupportedPidsPid(pid: number): boolean {
  return pid % 0x20 === 0 && pid >= 0 && pid <= 0xe0;
}
