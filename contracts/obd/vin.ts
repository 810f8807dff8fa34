/**
 * Service 09 PID 02 (VIN). On CAN the answer is one ISO-TP message `49 02 01` + 17 ASCII bytes;
 * some ECUs pad with 00 bytes or leading filler. Pass the bytes after the `49 02 01` prefix.
 */

/** The VIN text: printable ASCII kept, padding (00, FF, spaces) and control bytes stripped. */
export function decodeVin(data: Uint8Array): string {
  let s = '';
  for (const b of data) if (b > 0x20 && b < 0x7f) s += String.fromCharCode(b);
  // Some ECUs left-pad a short field with '0'-free filler; a VIN is the last 17 characters.
  return s.length > 17 ? s.slice(-17) : s;
}

/** The service 09 payload for a VIN (`49 02 01` + 17 ASCII bytes) for the emulator and tests. */
export function encodeVinResponse(vin: string): Uint8Array {
  const text = Uint8Array.from(vin, (c) => c.charCodeAt(0) & 0x7f);
  return Uint8Array.from([0x49, 0x02, 0x01, ...text]);
}

const VIN_PATTERN = /^[A-HJ-NPR-Z0-9]{17}$/;

/** True for a syntactically valid VIN: 17 characters, no I, O or Q. */
export function isValidVin(vin: string): boolean {
  return VIN_PATTERN.test(vin);
}
