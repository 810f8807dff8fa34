/**
 * How an ELM327 prints what it received from one ECU, for each combination of its display
 * settings (ATH headers, ATS spaces, ATCAF CAN auto-formatting):
 *
 * - headers on: one line per CAN frame, the ID then all eight data bytes (PCI and padding
 *   included): `7E8 06 41 00 BE 3F B8 13 00`, 29-bit `18 DA F1 10 06 41 00 …`;
 * - headers off, CAF on: a single frame prints just its payload (`41 0C 1A F8`); a multi-frame
 *   message prints its length as three hex digits, then each frame's data prefixed by its
 *   sequence digit (`014`, `0: 49 02 01 31 47 31`, `1: 4A …`);
 * - headers off, CAF off: each frame's eight bytes, PCI included.
 *
 * Spaces off drops the spaces between bytes and after the ID; the `0:` prefix keeps no space.
 */
import { segmentMessage } from '../../contracts/obd/can-frames.ts';

export interface DisplaySettings {
  headers: boolean;
  spaces: boolean;
  caf: boolean;
  /** Some adapters print a space after the last byte of a line too; off by default. */
  trailingSpace?: boolean;
}

export interface BusResponse {
  /** CAN ID the ECU answered with (0x7E8, 0x18DAF110 …). */
  readonly id: number;
  readonly idBits: 11 | 29;
  /** The frames as sent on the bus (8 bytes each, ISO-TP PCI included). */
  readonly frames: readonly Uint8Array[];
}

const hex2 = (b: number): string => b.toString(16).toUpperCase().padStart(2, '0');

function bytesText(bytes: Iterable<number>, s: DisplaySettings): string {
  const parts = [...bytes].map(hex2);
  const sep = s.spaces ? ' ' : '';
  return parts.join(sep) + (s.spaces && s.trailingSpace && parts.length > 0 ? ' ' : '');
}

function idText(id: number, idBits: 11 | 29, s: DisplaySettings): string {
  if (idBits === 11) return id.toString(16).toUpperCase().padStart(3, '0');
  const bytes = [(id >>> 24) & 0x1f, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff];
  return bytes.map(hex2).join(s.spaces ? ' ' : '');
}

/** The bus frames of one response message (ISO 15765-4 segmentation, zero padding). */
export function responseFrames(id: number, idBits: 11 | 29, payload: Uint8Array): BusResponse {
  return { id, idBits, frames: segmentMessage(payload) };
}

/** The lines (without line ends) an ELM327 prints for one ECU's response. */
export function formatResponse(r: BusResponse, s: DisplaySettings): string[] {
  if (s.headers) {
    const sep = s.spaces ? ' ' : '';
    return r.frames.map((f) => `${idText(r.id, r.idBits, s)}${sep}${bytesText(f, s)}`);
  }
  if (!s.caf) return r.frames.map((f) => bytesText(f, s));
  const first = r.frames[0];
  if (!first) return [];
  const pci = first[0]! >> 4;
  if (pci === 0) return [bytesText(first.subarray(1, 1 + (first[0]! & 0x0f)), s)];
  const length = ((first[0]! & 0x0f) << 8) | first[1]!;
  const lines = [length.toString(16).toUpperCase().padStart(3, '0')];
  const sep = s.spaces ? ' ' : '';
  r.frames.forEach((f, i) => {
    const data = i === 0 ? f.subarray(2) : f.subarray(1);
    lines.push(`${(i & 0x0f).toString(16).toUpperCase()}:${sep}${bytesText(data, s)}`);
  });
  return lines;
}
