/**
 * How each simulated signal is carried on the bus (SAE J1979 service 01): PID, data bytes and the
 * linear formula value = raw · scale + offset. The simulator quantises every value it reports
 * through encode → decode, so a simulated sample holds exactly the values a real ECU could send;
 * the ELM327 emulator uses `encodePid` to produce the response bytes.
 */
import type { SignalName } from '../contracts/signals.ts';

export interface PidEncoding {
  readonly signal: SignalName;
  /** Service 01 PID. */
  readonly pid: number;
  readonly bytes: 1 | 2;
  readonly scale: number;
  readonly offset: number;
}

const row = (signal: SignalName, pid: number, bytes: 1 | 2, scale: number, offset: number): PidEncoding => ({ signal, pid, bytes, scale, offset });

export const PID_ENCODINGS: readonly PidEncoding[] = [
  row('ENGINE_LOAD',            0x04, 1, 100 / 255, 0),
  row('COOLANT_TEMP',           0x05, 1, 1, -40),
  row('SHORT_FUEL_TRIM_1',      0x06, 1, 100 / 128, -100),
  row('LONG_FUEL_TRIM_1',       0x07, 1, 100 / 128, -100),
  row('INTAKE_PRESSURE',        0x0b, 1, 1, 0),
  row('RPM',                    0x0c, 2, 0.25, 0),
  row('SPEED',                  0x0d, 1, 1, 0),
  row('TIMING_ADVANCE',         0x0e, 1, 0.5, -64),
  row('INTAKE_TEMP',            0x0f, 1, 1, -40),
  row('MAF',                    0x10, 2, 0.01, 0),
  row('THROTTLE_POS',           0x11, 1, 100 / 255, 0),
  // PID 14 carries the voltage in byte A (B is the sensor's trim, 0xFF = not used for trim).
  row('O2_B1S1',                0x14, 1, 0.005, 0),
  row('RUN_TIME',               0x1f, 2, 1, 0),
  row('FUEL_LEVEL',             0x2f, 1, 100 / 255, 0),
  row('BAROMETRIC_PRESSURE',    0x33, 1, 1, 0),
  row('CATALYST_TEMP_B1S1',     0x3c, 2, 0.1, -40),
  row('CONTROL_MODULE_VOLTAGE', 0x42, 2, 0.001, 0),
];

const bySignal = new Map<string, PidEncoding>(PID_ENCODINGS.map((e) => [e.signal, e]));

export function pidEncoding(signal: string): PidEncoding | undefined {
  return bySignal.get(signal);
}

/** The raw integer a value encodes to, clamped to what the bytes can hold. */
export function encodeRaw(e: PidEncoding, value: number): number {
  const max = e.bytes === 1 ? 0xff : 0xffff;
  const raw = Math.round((value - e.offset) / e.scale);
  return raw < 0 ? 0 : raw > max ? max : raw;
}

/**
 * The value a reader decodes from `raw`, rounded to 6 decimals so that JSON stays short
 * (a 1/255 step is 0.39…; six decimals keep it exact to well below the sensor resolution).
 */
export function decodeRaw(e: PidEncoding, raw: number): number {
  return Math.round((raw * e.scale + e.offset) * 1e6) / 1e6 + 0; // + 0 turns -0 into 0
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
