/**
 * SAE J1979 linear encodings: a PID carries `raw`, an unsigned big-endian integer of `bytes` bytes,
 * and the value is raw · scale + offset (`scale` is the encoding's resolution, one raw step).
 *
 * Guarantees: every reader of J1979 numbers in fleetpulse — the agent's PID table, the simulator and
 * its ELM327 emulator, the compact telemetry codec — turns raw into a value with `valueOfRaw` and
 * a value into raw with `rawOfValue`, so all of them read identical doubles for identical bytes.
 * Values are rounded to six decimals: JSON stays short (a 1/255 step is 0.39215686…), and six
 * decimals keep every J1979 resolution exact to well below a sensor's accuracy.
 */

export interface LinearEncoding {
  /** Data bytes (after `41 <pid>`), unsigned big-endian. */
  readonly bytes: 1 | 2;
  /** Resolution: the value of one raw step. */
  readonly scale: number;
  /** The value of raw 0. */
  readonly offset: number;
  /** The formula in the usual A/B notation (A the first data byte), for docs and the probe. */
  readonly formula: string;
}

export function linear(bytes: 1 | 2, scale: number, offset: number, formula: string): LinearEncoding {
  return { bytes, scale, offset, formula };
}

/** The encodings J1979 gives many PIDs; a PID table row or a catalogue signal names one of these. */
export const PERCENT = linear(1, 100 / 255, 0, 'A·100/255');
export const TEMPERATURE = linear(1, 1, -40, 'A−40');
export const FUEL_TRIM = linear(1, 100 / 128, -100, 'A·100/128−100');

/** Six decimals; `+ 0` turns −0 into 0 so that JSON never carries `-0`. */
export function round6(v: number): number {
  return Math.round(v * 1e6) / 1e6 + 0;
}

/** The value `raw` stands for. */
export function valueOfRaw(e: { readonly scale: number; readonly offset: number }, raw: number): number {
  return round6(raw * e.scale + e.offset);
}

/** The raw integer nearest to `value`, not clamped (callers clamp to what their bytes hold). */
export function rawOfValue(e: { readonly scale: number; readonly offset: number }, value: number): number {
  return Math.round((value - e.offset) / e.scale);
}

/** Largest raw an unsigned field of `bytes` bytes holds. */
export function maxRaw(bytes: number): number {
  return 2 ** (8 * bytes) - 1;
}
