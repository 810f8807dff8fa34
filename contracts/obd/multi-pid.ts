/**
 * Splits a service 01 answer to a multi-PID request (`01 0C 0D 05 …`, up to six PIDs on CAN) into
 * per-PID data, using the PID table's byte counts. The ECU answers `41 0C A B 0D A 05 A …`; PIDs
 * it does not support are simply left out, and the order need not follow the request.
 */
import { pidByNumber } from './pid-table.ts';

const SERVICE_01_RESPONSE = 0x41;

/**
 * `41 pidA bytesA… pidB bytesB…`, possibly several `41` groups concatenated (one per frame on
 * some adapters), → PID → its data bytes. A 0x41 byte where a PID is due can be the PID 0x41 or a
 * new group; the reading that consumes the whole message wins. If no reading does (unknown PID,
 * truncated data) the PIDs read before the problem are returned — never throws.
 */
export function splitMultiPidResponse(data: Uint8Array): Map<number, Uint8Array> {
  const complete = parseFrom(data, 0, true, new Set());
  const entries = complete ?? greedyPrefix(data);
  return new Map(entries);
}

type Entry = [number, Uint8Array];

/**
 * Depth-first over the two readings of an ambiguous 0x41. `failed` memoises positions known not
 * to parse (keyed by position and whether a service byte is required), which bounds the work to
 * O(length).
 */
function parseFrom(data: Uint8Array, i: number, needService: boolean, failed: Set<number>): Entry[] | undefined {
  if (i === data.length) return needService ? undefined : [];
  const key = i * 2 + (needService ? 1 : 0);
  if (failed.has(key)) return undefined;
  const b = data[i]!;
  if (needService) {
    const rest = b === SERVICE_01_RESPONSE ? parseFrom(data, i + 1, false, failed) : undefined;
    if (!rest) failed.add(key);
    return rest;
  }
  const def = pidByNumber(b);
  if (def && i + 1 + def.bytes <= data.length) {
    const rest = parseFrom(data, i + 1 + def.bytes, false, failed);
    if (rest) return [[b, data.slice(i + 1, i + 1 + def.bytes)], ...rest];
  }
  if (b === SERVICE_01_RESPONSE) {
    const rest = parseFrom(data, i + 1, false, failed);
    if (rest) return rest;
  }
  failed.add(key);
  return undefined;
}

function greedyPrefix(data: Uint8Array): Entry[] {
  const out: Entry[] = [];
  let i = 0;
  if (data[i] !== SERVICE_01_RESPONSE) return out;
  i++;
  while (i < data.length) {
    const b = data[i]!;
    const def = pidByNumber(b);
    if (!def || i + 1 + def.bytes > data.length) break;
    out.push([b, data.slice(i + 1, i + 1 + def.bytes)]);
    i += 1 + def.bytes;
  }
  return out;
}

/** Largest number of PIDs one CAN request may carry (SAE J1979). */
export const MAX_PIDS_PER_REQUEST = 6;

/** The request bytes for several PIDs: `01 0C 0D 05`. Throws for more than six (programmer error). */
export function multiPidRequest(pids: readonly number[]): Uint8Array {
  if (pids.length === 0 || pids.length > MAX_PIDS_PER_REQUEST) {
    throw new RangeError(`a service 01 request carries 1–${MAX_PIDS_PER_REQUEST} PIDs, got ${pids.length}`);
  }
  return Uint8Array.from([0x01, ...pids]);
}

/** The response an ECU sends for the given PIDs and their data (for the emulator and tests). */
export function multiPidResponse(parts: readonly (readonly [number, Uint8Array])[]): Uint8Array {
  const out: number[] = [SERVICE_01_RESPONSE];
  for (const [pid, bytes] of parts) out.push(pid, ...bytes);
  return Uint8Array.from(out);
}
