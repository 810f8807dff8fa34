/**
 * Diagnostic trouble codes as carried by services 03 (stored), 07 (pending), 0A (permanent) and
 * service 01 PID 02 (freeze-frame DTC): two bytes each. The top two bits of the first byte pick the
 * system letter (P powertrain, C chassis, B body, U network), the next two bits the first digit,
 * the remaining 12 bits three hex digits.
 */
const LETTERS = ['P', 'C', 'B', 'U'] as const;

/** One DTC from its two bytes, e.g. (0x03, 0x01) → 'P0301'. */
export function decodeDtc(a: number, b: number): string {
  const letter = LETTERS[(a >> 6) & 3]!;
  const digit = (a >> 4) & 3;
  const rest = (((a & 0x0f) << 8) | (b & 0xff)).toString(16).toUpperCase().padStart(3, '0');
  return `${letter}${digit}${rest}`;
}

/**
 * Byte pairs → codes, in order. `00 00` pairs are padding and skipped; a trailing odd byte is ignored.
 * Pass the bytes after the service byte; on CAN that payload starts with a count byte, which callers
 * strip (see `dtcPayload`).
 */
export function decodeDtcs(data: Uint8Array): string[] {
  const codes: string[] = [];
  for (let i = 0; i + 1 < data.length; i += 2) {
    const a = data[i]!;
    const b = data[i + 1]!;
    if (a === 0 && b === 0) continue;
    codes.push(decodeDtc(a, b));
  }
  return codes;
}

const DTC_PATTERN = /^([PCBU])([0-3])([0-9A-F]{3})$/i;

/** 'P0301' → [0x03, 0x01]. Throws on a malformed code (a programmer or configuration error). */
export function encodeDtc(code: string): [number, number] {
  const m = DTC_PATTERN.exec(code.trim());
  if (!m) throw new RangeError(`not a DTC: ${JSON.stringify(code)} (expected e.g. P0301)`);
  const letter = LETTERS.indexOf(m[1]!.toUpperCase() as (typeof LETTERS)[number]);
  const digit = Number(m[2]);
  const rest = parseInt(m[3]!, 16);
  return [(letter << 6) | (digit << 4) | (rest >> 8), rest & 0xff];
}

/**
 * The DTC bytes of a service 03/07/0A response message (starting with 43/47/4A). On CAN
 * (ISO 15765-4) the byte after the service byte is the number of codes; on the older protocols it
 * is not there and codes come in fixed groups of three (padded with 00 00). `can` says which.
 */
export function dtcPayload(message: Uint8Array, can: boolean): Uint8Array {
  if (!can) return message.subarray(1);
  const count = message[1] ?? 0;
  return message.subarray(2, 2 + count * 2);
}
