/**
 * How each simulated signal is carried on the bus (SAE J1979 service 01): PID, data bytes and the
 * linear formula value = raw · scale + offset, all taken from the signal catalogue
 * (contracts/signals.ts). The simulator quantises every value it reports through encode → decode,
 * so a simulated sample holds exactly the values a real ECU could send; tests use `encodePid` for
 * the bytes an ECU sends for a signal (the ELM327 emulator answers through the agent's PID table,
 * which takes the same encodings from the catalogue).
 */
import { maxRaw, rawOfValue, valueOfRaw } from '../j1979.ts';
import { SIGNALS, type SignalName } from '../signals.ts';

export interface PidEncoding {
  readonly signal: SignalName;
  /** Service 01 PID. */
  readonly pid: number;
  /** The signal's data bytes; PID 14 carries the sensor's trim after O2_B1S1's voltage byte. */
  readonly bytes: 1 | 2;
  readonly scale: number;
  readonly offset: number;
}

/** One per catalogue signal, by PID. */
export const PID_ENCODINGS: readonly PidEncoding[] = SIGNALS.map(({ name, pid, bytes, scale, offset }) => ({ signal: name as SignalName, pid, bytes, scale, offset })).sort(
  (x, y) => x.pid - y.pid,
);

const bySignal = new Map<string, PidEncoding>(PID_ENCODINGS.map((e) => [e.signal, e]));

export function pidEncoding(signal: string): PidEncoding | undefined {
  return bySignal.get(signal);
}

/** The raw integer a value encodes to, clamped to what the bytes can hold. */
export function encodeRaw(e: PidEncoding, value: number): number {
  const max = maxRaw(e.bytes);
  const raw = rawOfValue(e, value);
  return raw < 0 ? 0 : raw > max ? max : raw;
}

/** The value a reader decodes from `raw` (six decimals, as every J1979 reader here: contracts/j1979.ts). */
export function decodeRaw(e: PidEncoding, raw: number): number {
  return valueOfRaw(e, raw);
}

/** The response data bytes (after `41 <pid>`), big-endian. */
export function encodePid(e: PidEncoding, value: number): number[] {
  const raw = encodeRaw(e, value);
  return e.bytes === 1 ? [raw] : [raw >> 8, raw & 0xff];
}

/** Value as it reads back after encoding at the PID's resolution. */
export function quantise(e: PidEncoding, value: number): number {
  return decodeRaw(e, encodeRaw(e, value));
}
