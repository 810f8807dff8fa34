/**
 * SAE J1979 service 01 PIDs 0x00–0x5F as data: one row per PID with its name, byte count, unit and
 * codec. Names follow python-OBD's (`RPM`, `SPEED` …). The rows of catalogue signals are not written
 * here: they are derived from contracts/signals.ts (name, PID, unit, description, encoding), as are
 * the simulator's encodings, so the two cannot disagree. A PID that carries more than its signal
 * (PID 14: O2_B1S1's voltage and the sensor's trim) has a row here whose primary field is the
 * catalogue's encoding.
 *
 * Guarantees: `decode` never throws; it reads missing bytes as zero and ignores extra bytes.
 * `encode` never throws for a value `decode` could have produced; numbers are rounded to the PID's
 * resolution and clamped to what its bytes hold, and an object-valued PID with a `primary` field
 * also accepts that field's number alone (e.g. O2_B1S1 encodes 0.45 V as voltage with no trim).
 */
import { FUEL_TRIM, type LinearEncoding, PERCENT, TEMPERATURE, rawOfValue, valueOfRaw } from '../j1979.ts';
import { SIGNALS, type SignalInfo, signalInfo } from '../signals.ts';
// The monitor names are the health contract's, so a decoded PID 01 is already in its terms.
import { COMMON_MONITORS, COMPRESSION_MONITORS, SPARK_MONITORS } from '../vehicle-health.ts';
import { decodeSupportedPids, encodeSupportedPids } from './supported-pids.ts';
import { decodeDtc, encodeDtc } from './dtc.ts';

export type PidObject = { readonly [key: string]: number | string | boolean | null };
export type PidValue = number | string | readonly number[] | PidObject;

export interface PidDefinition {
  /** Service 01 PID, 0x00–0x5F. */
  readonly pid: number;
  /** python-OBD-style name: 'RPM', 'SPEED', 'COOLANT_TEMP', 'PIDS_A', 'STATUS', … */
  readonly name: string;
  readonly description: string;
  /** Data bytes after the `41 <pid>` prefix. */
  readonly bytes: number;
  /** Unit of a numeric value, or of the `primary` field of an object value; null for enumerations and bitfields. */
  readonly unit: string | null;
  /** How the value is computed, in the usual A/B/C/D notation (for docs and the probe). */
  readonly formula: string;
  /** For object values: the field that is the PID's main number (e.g. 'voltage' for O2_B1S1). */
  readonly primary?: string;
  decode(data: Uint8Array): PidValue;
  encode(value: PidValue): Uint8Array;
}

// ---- codecs ---------------------------------------------------------------------------------

type Codec = Pick<PidDefinition, 'bytes' | 'unit' | 'formula' | 'decode' | 'encode'> & { primary?: string };

const at = (d: Uint8Array, i: number): number => d[i] ?? 0;

function readUint(d: Uint8Array, offset: number, bytes: number): number {
  let raw = 0;
  for (let i = 0; i < bytes; i++) raw = raw * 256 + at(d, offset + i);
  return raw;
}

function writeUint(out: Uint8Array, offset: number, bytes: number, raw: number): void {
  for (let i = bytes - 1; i >= 0; i--) {
    out[offset + i] = raw & 0xff;
    raw = Math.floor(raw / 256);
  }
}

function toNumber(value: PidValue, primary?: string): number {
  if (typeof value === 'number') return value;
  if (primary !== undefined && typeof value === 'object' && !Array.isArray(value)) {
    const v = (value as PidObject)[primary];
    if (typeof v === 'number') return v;
  }
  return Number.NaN;
}

/** A linear field: value = raw · scale + offset, raw unsigned (or two's complement when signed). */
interface Field {
  readonly bytes: number;
  readonly scale: number;
  readonly offset: number;
  readonly signed?: boolean;
}

function decodeField(f: Field, d: Uint8Array, at0: number): number {
  let raw = readUint(d, at0, f.bytes);
  const span = 2 ** (8 * f.bytes);
  if (f.signed && raw >= span / 2) raw -= span;
  return valueOfRaw(f, raw);
}

function encodeField(f: Field, out: Uint8Array, at0: number, value: number): void {
  const span = 2 ** (8 * f.bytes);
  const lo = f.signed ? -span / 2 : 0;
  const hi = f.signed ? span / 2 - 1 : span - 1;
  let raw = Number.isFinite(value) ? rawOfValue(f, value) : 0;
  raw = raw < lo ? lo : raw > hi ? hi : raw;
  writeUint(out, at0, f.bytes, raw < 0 ? raw + span : raw);
}

function linear(bytes: number, scale: number, offset: number, unit: string, formula: string, signed = false): Codec {
  const f: Field = { bytes, scale, offset, signed };
  return {
    bytes,
    unit,
    formula,
    decode: (d) => decodeField(f, d, 0),
    encode: (v) => {
      const out = new Uint8Array(bytes);
      encodeField(f, out, 0, toNumber(v));
      return out;
    },
  };
}

/** A codec for one of the shared J1979 encodings of contracts/j1979.ts. */
const encoded = (e: LinearEncoding, unit: string): Codec => linear(e.bytes, e.scale, e.offset, unit, e.formula);
const percent = (): Codec => encoded(PERCENT, '%');
const temperature = (): Codec => encoded(TEMPERATURE, '°C');
const trim = (): Codec => encoded(FUEL_TRIM, '%');
/** A field of a multi-value PID with the shared encoding `e`. */
const field = (key: string, e: LinearEncoding): Field & { key: string } => ({ key, bytes: e.bytes, scale: e.scale, offset: e.offset });

/**
 * Several linear fields packed into the PID's bytes, decoded to an object. A field may be marked
 * `unusedAt` (a raw value meaning "not used"), which decodes to null.
 */
function fields(
  unit: string | null,
  formula: string,
  primary: string | undefined,
  spec: readonly (Field & { key: string; unusedAt?: number })[],
  totalBytes?: number,
): Codec {
  const bytes = totalBytes ?? spec.reduce((n, f) => n + f.bytes, 0);
  return {
    bytes,
    unit,
    formula,
    ...(primary !== undefined ? { primary } : {}),
    decode: (d) => {
      const out: Record<string, number | null> = {};
      let o = 0;
      for (const f of spec) {
        out[f.key] = f.unusedAt !== undefined && readUint(d, o, f.bytes) === f.unusedAt ? null : decodeField(f, d, o);
        o += f.bytes;
      }
      return out;
    },
    encode: (v) => {
      const out = new Uint8Array(bytes);
      const obj: PidObject = typeof v === 'object' && !Array.isArray(v) ? (v as PidObject) : {};
      let o = 0;
      for (const f of spec) {
        const x = typeof v === 'number' && f.key === primary ? v : obj[f.key];
        if (typeof x === 'number') encodeField(f, out, o, x);
        else if (f.unusedAt !== undefined) writeUint(out, o, f.bytes, f.unusedAt);
        o += f.bytes;
      }
      return out;
    },
  };
}

function supportedBitmap(base: number): Codec {
  return {
    bytes: 4,
    unit: null,
    formula: `bit n (MSB of A = 1) set → PID 0x${base.toString(16).padStart(2, '0').toUpperCase()}+n supported`,
    decode: (d) => decodeSupportedPids(base, d),
    encode: (v) => encodeSupportedPids(base, Array.isArray(v) ? (v as readonly number[]) : []),
  };
}

/** Byte values with names; any other value reads as 'code 0xNN' so that it still round-trips. */
function enumeration(labels: Readonly<Record<number, string>>, formula = 'A, enumerated'): Codec {
  const byLabel = new Map(Object.entries(labels).map(([k, v]) => [v, Number(k)]));
  return {
    bytes: 1,
    unit: null,
    formula,
    decode: (d) => labels[at(d, 0)] ?? `code 0x${hex2(at(d, 0))}`,
    encode: (v) => Uint8Array.of(typeof v === 'string' ? (byLabel.get(v) ?? parseCode(v)) : toNumber(v) & 0xff),
  };
}

const hex2 = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0');

function parseCode(label: string): number {
  const m = /0x([0-9a-f]{1,2})\b/i.exec(label);
  return m ? parseInt(m[1]!, 16) : 0;
}

/** Single-bit flags over `bytes` bytes; bit names are listed from A's MSB, '' = reserved (ignored). */
function flags(bytes: number, names: readonly string[], formula: string): Codec {
  return {
    bytes,
    unit: null,
    formula,
    decode: (d) => {
      const out: Record<string, boolean> = {};
      names.forEach((n, i) => {
        if (n) out[n] = (at(d, i >> 3) & (0x80 >> (i & 7))) !== 0;
      });
      return out;
    },
    encode: (v) => {
      const out = new Uint8Array(bytes);
      const obj: PidObject = typeof v === 'object' && !Array.isArray(v) ? (v as PidObject) : {};
      names.forEach((n, i) => {
        if (n && obj[n] === true) out[i >> 3]! |= 0x80 >> (i & 7);
      });
      return out;
    },
  };
}

/**
 * Monitor status (PID 01 since DTCs cleared, PID 41 this drive cycle). B bit 3 selects spark or
 * compression ignition, which renames the eight engine-specific monitors of bytes C (available) and
 * D (incomplete). PID 41 has no MIL/DTC count: its byte A is reserved and reads as 0.
 */
function monitorStatus(withMil: boolean): Codec {
  return {
    bytes: 4,
    unit: null,
    formula: withMil ? 'A7 MIL, A0–6 DTC count, B3 ignition type, B/C/D monitor available/incomplete bits' : 'B3 ignition type, B/C/D monitor available/incomplete bits',
    decode: (d) => {
      const a = at(d, 0);
      const b = at(d, 1);
      const c = at(d, 2);
      const e = at(d, 3);
      const compression = (b & 0x08) !== 0;
      const out: Record<string, number | string | boolean | null> = {};
      if (withMil) {
        out.MIL = (a & 0x80) !== 0;
        out.DTC_COUNT = a & 0x7f;
      }
      out.IGNITION = compression ? 'compression' : 'spark';
      COMMON_MONITORS.forEach((m, i) => {
        out[`${m}_AVAILABLE`] = (b & (1 << i)) !== 0;
        out[`${m}_INCOMPLETE`] = (b & (0x10 << i)) !== 0;
      });
      const names = compression ? COMPRESSION_MONITORS : SPARK_MONITORS;
      names.forEach((m, i) => {
        if (!m) return;
        out[`${m}_AVAILABLE`] = (c & (1 << i)) !== 0;
        out[`${m}_INCOMPLETE`] = (e & (1 << i)) !== 0;
      });
      return out;
    },
    encode: (v) => {
      const o: PidObject = typeof v === 'object' && !Array.isArray(v) ? (v as PidObject) : {};
      let a = 0;
      let b = 0;
      let c = 0;
      let e = 0;
      if (withMil) a = (o.MIL === true ? 0x80 : 0) | (typeof o.DTC_COUNT === 'number' ? o.DTC_COUNT & 0x7f : 0);
      const compression = o.IGNITION === 'compression';
      if (compression) b |= 0x08;
      COMMON_MONITORS.forEach((m, i) => {
        if (o[`${m}_AVAILABLE`] === true) b |= 1 << i;
        if (o[`${m}_INCOMPLETE`] === true) b |= 0x10 << i;
      });
      (compression ? COMPRESSION_MONITORS : SPARK_MONITORS).forEach((m, i) => {
        if (!m) return;
        if (o[`${m}_AVAILABLE`] === true) c |= 1 << i;
        if (o[`${m}_INCOMPLETE`] === true) e |= 1 << i;
      });
      return Uint8Array.of(a, b, c, e);
    },
  };
}

const FUEL_SYSTEM_STATES: Readonly<Record<number, string>> = {
  0x01: 'open loop: insufficient engine temperature',
  0x02: 'closed loop: oxygen sensor feedback',
  0x04: 'open loop: engine load or fuel cut on deceleration',
  0x08: 'open loop: system failure',
  0x10: 'closed loop: fault in at least one oxygen sensor',
};

/** Fuel system status: A = system 1, B = system 2; 0 = system not present (null). */
function fuelStatus(): Codec {
  const name = (n: number): string | null => (n === 0 ? null : (FUEL_SYSTEM_STATES[n] ?? `code 0x${hex2(n)}`));
  const byLabel = new Map(Object.entries(FUEL_SYSTEM_STATES).map(([k, v]) => [v, Number(k)]));
  const code = (v: number | string | boolean | null | undefined): number =>
    typeof v === 'string' ? (byLabel.get(v) ?? parseCode(v)) : 0;
  return {
    bytes: 2,
    unit: null,
    formula: 'A system 1, B system 2: one bit set = state',
    primary: 'SYSTEM_1',
    decode: (d) => ({ SYSTEM_1: name(at(d, 0)), SYSTEM_2: name(at(d, 1)) }),
    encode: (v) => {
      if (typeof v === 'string') return Uint8Array.of(code(v), 0);
      const o: PidObject = typeof v === 'object' && !Array.isArray(v) ? (v as PidObject) : {};
      return Uint8Array.of(code(o.SYSTEM_1), code(o.SYSTEM_2));
    },
  };
}

function dtcValue(): Codec {
  return {
    bytes: 2,
    unit: null,
    formula: 'DTC from A, B (P0000 = none)',
    decode: (d) => decodeDtc(at(d, 0), at(d, 1)),
    encode: (v) => {
      try {
        return Uint8Array.from(encodeDtc(String(v)));
      } catch {
        return new Uint8Array(2);
      }
    },
  };
}

/** Bit-encoded byte kept as its raw number (PIDs whose bits have no agreed public meaning here). */
function rawByte(formula: string): Codec {
  return {
    bytes: 1,
    unit: null,
    formula,
    decode: (d) => at(d, 0),
    encode: (v) => Uint8Array.of(toNumber(v) & 0xff),
  };
}

const OBD_STANDARDS: Readonly<Record<number, string>> = {
  1: 'OBD-II (CARB)',
  2: 'OBD (EPA)',
  3: 'OBD and OBD-II',
  4: 'OBD-I',
  5: 'not OBD compliant',
  6: 'EOBD',
  7: 'EOBD and OBD-II',
  8: 'EOBD and OBD',
  9: 'EOBD, OBD and OBD-II',
  10: 'JOBD',
  11: 'JOBD and OBD-II',
  12: 'JOBD and EOBD',
  13: 'JOBD, EOBD and OBD-II',
  17: 'EMD',
  18: 'EMD+',
  19: 'HD OBD-C',
  20: 'HD OBD',
  21: 'WWH OBD',
  23: 'HD EOBD-I',
  24: 'HD EOBD-I N',
  25: 'HD EOBD-II',
  26: 'HD EOBD-II N',
  28: 'OBDBr-1',
  29: 'OBDBr-2',
  30: 'KOBD',
  31: 'IOBD I',
  32: 'IOBD II',
  33: 'HD EOBD-IV',
};

const FUEL_TYPES: Readonly<Record<number, string>> = {
  0: 'not available',
  1: 'gasoline',
  2: 'methanol',
  3: 'ethanol',
  4: 'diesel',
  5: 'LPG',
  6: 'CNG',
  7: 'propane',
  8: 'electric',
  9: 'bifuel: gasoline',
  10: 'bifuel: methanol',
  11: 'bifuel: ethanol',
  12: 'bifuel: LPG',
  13: 'bifuel: CNG',
  14: 'bifuel: propane',
  15: 'bifuel: electric',
  16: 'bifuel: electric and combustion',
  17: 'hybrid: gasoline',
  18: 'hybrid: ethanol',
  19: 'hybrid: diesel',
  20: 'hybrid: electric',
  21: 'hybrid: electric and combustion',
  22: 'hybrid: regenerative',
  23: 'bifuel: diesel',
};

const SECONDARY_AIR: Readonly<Record<number, string>> = {
  0x01: 'upstream',
  0x02: 'downstream of catalytic converter',
  0x04: 'from the outside atmosphere or off',
  0x08: 'pump commanded on for diagnostics',
};

// ---- the table ------------------------------------------------------------------------------

/** The catalogue signal a multi-value PID's primary field carries (its encoding is the catalogue's). */
function catalogueSignal(name: string): SignalInfo {
  const signal = signalInfo(name);
  if (!signal) throw new Error(`PID table: ${name} is not a catalogue signal`);
  return signal;
}

// PIDs 14–1B: J1979 gives every narrow-band sensor's voltage the encoding of catalogue signal O2_B1S1.
const O2_VOLTAGE = catalogueSignal('O2_B1S1');
const narrowO2 = (): Codec =>
  fields(O2_VOLTAGE.unit, `voltage ${O2_VOLTAGE.formula} V; trim B·100/128−100 % (B=FF: not used)`, 'voltage', [
    field('voltage', O2_VOLTAGE),
    { ...field('trim', FUEL_TRIM), unusedAt: 0xff },
  ]);
const wideO2Voltage = (): Codec =>
  fields('V', 'ratio (256A+B)·2/65536; voltage (256C+D)·8/65536 V', 'voltage', [
    { key: 'ratio', bytes: 2, scale: 2 / 65536, offset: 0 },
    { key: 'voltage', bytes: 2, scale: 8 / 65536, offset: 0 },
  ]);
const wideO2Current = (): Codec =>
  fields('mA', 'ratio (256A+B)·2/65536; current (256C+D)/256−128 mA', 'current', [
    { key: 'ratio', bytes: 2, scale: 2 / 65536, offset: 0 },
    { key: 'current', bytes: 2, scale: 1 / 256, offset: -128 },
  ]);
const secondaryTrim = (banks: [string, string]): Codec =>
  fields('%', `${banks[0]} A·100/128−100; ${banks[1]} B·100/128−100`, banks[0], [
    field(banks[0], FUEL_TRIM),
    field(banks[1], FUEL_TRIM),
  ]);

type Row = readonly [pid: number, name: string, description: string, codec: Codec];

/** Every PID but those of single-value catalogue signals, which are derived below. */
const OWN_ROWS: readonly Row[] = [
  [0x00, 'PIDS_A', 'Supported PIDs 01–20', supportedBitmap(0x00)],
  [0x01, 'STATUS', 'Monitor status since DTCs cleared', monitorStatus(true)],
  [0x02, 'FREEZE_DTC', 'DTC that caused the freeze frame', dtcValue()],
  [0x03, 'FUEL_STATUS', 'Fuel system status', fuelStatus()],
  [0x08, 'SHORT_FUEL_TRIM_2', 'Short-term fuel trim, bank 2', trim()],
  [0x09, 'LONG_FUEL_TRIM_2', 'Long-term fuel trim, bank 2', trim()],
  [0x0a, 'FUEL_PRESSURE', 'Fuel pressure (gauge)', linear(1, 3, 0, 'kPa', '3A')],
  [0x12, 'AIR_STATUS', 'Commanded secondary air status', enumeration(SECONDARY_AIR, 'A: one bit set = state')],
  [0x13, 'O2_SENSORS', 'Oxygen sensors present (2 banks)', flags(1, ['B2S4', 'B2S3', 'B2S2', 'B2S1', 'B1S4', 'B1S3', 'B1S2', 'B1S1'], 'A0–3 bank 1 sensors 1–4, A4–7 bank 2 sensors 1–4')],
  [0x14, 'O2_B1S1', 'Oxygen sensor bank 1 sensor 1: voltage, trim', narrowO2()],
  [0x15, 'O2_B1S2', 'Oxygen sensor bank 1 sensor 2: voltage, trim', narrowO2()],
  [0x16, 'O2_B1S3', 'Oxygen sensor bank 1 sensor 3: voltage, trim', narrowO2()],
  [0x17, 'O2_B1S4', 'Oxygen sensor bank 1 sensor 4: voltage, trim', narrowO2()],
  [0x18, 'O2_B2S1', 'Oxygen sensor bank 2 sensor 1: voltage, trim', narrowO2()],
  [0x19, 'O2_B2S2', 'Oxygen sensor bank 2 sensor 2: voltage, trim', narrowO2()],
  [0x1a, 'O2_B2S3', 'Oxygen sensor bank 2 sensor 3: voltage, trim', narrowO2()],
  [0x1b, 'O2_B2S4', 'Oxygen sensor bank 2 sensor 4: voltage, trim', narrowO2()],
  [0x1c, 'OBD_COMPLIANCE', 'OBD standard the vehicle conforms to', enumeration(OBD_STANDARDS)],
  [0x1d, 'O2_SENSORS_ALT', 'Oxygen sensors present (4 banks)', flags(1, ['B4S2', 'B4S1', 'B3S2', 'B3S1', 'B2S2', 'B2S1', 'B1S2', 'B1S1'], 'A0–1 bank 1, A2–3 bank 2, A4–5 bank 3, A6–7 bank 4')],
  [0x1e, 'AUX_INPUT_STATUS', 'Auxiliary input status', flags(1, ['', '', '', '', '', '', '', 'PTO_ACTIVE'], 'A0 power take-off active')],
  [0x20, 'PIDS_B', 'Supported PIDs 21–40', supportedBitmap(0x20)],
  [0x21, 'DISTANCE_W_MIL', 'Distance travelled with MIL on', linear(2, 1, 0, 'km', '256A+B')],
  [0x22, 'FUEL_RAIL_PRESSURE_VAC', 'Fuel rail pressure relative to manifold vacuum', linear(2, 0.079, 0, 'kPa', '(256A+B)·0.079')],
  [0x23, 'FUEL_RAIL_PRESSURE_DIRECT', 'Fuel rail gauge pressure (diesel or direct injection)', linear(2, 10, 0, 'kPa', '(256A+B)·10')],
  [0x24, 'O2_S1_WR_VOLTAGE', 'Wide-range O2 sensor 1: equivalence ratio, voltage', wideO2Voltage()],
  [0x25, 'O2_S2_WR_VOLTAGE', 'Wide-range O2 sensor 2: equivalence ratio, voltage', wideO2Voltage()],
  [0x26, 'O2_S3_WR_VOLTAGE', 'Wide-range O2 sensor 3: equivalence ratio, voltage', wideO2Voltage()],
  [0x27, 'O2_S4_WR_VOLTAGE', 'Wide-range O2 sensor 4: equivalence ratio, voltage', wideO2Voltage()],
  [0x28, 'O2_S5_WR_VOLTAGE', 'Wide-range O2 sensor 5: equivalence ratio, voltage', wideO2Voltage()],
  [0x29, 'O2_S6_WR_VOLTAGE', 'Wide-range O2 sensor 6: equivalence ratio, voltage', wideO2Voltage()],
  [0x2a, 'O2_S7_WR_VOLTAGE', 'Wide-range O2 sensor 7: equivalence ratio, voltage', wideO2Voltage()],
  [0x2b, 'O2_S8_WR_VOLTAGE', 'Wide-range O2 sensor 8: equivalence ratio, voltage', wideO2Voltage()],
  [0x2c, 'COMMANDED_EGR', 'Commanded EGR', percent()],
  [0x2d, 'EGR_ERROR', 'EGR error', trim()],
  [0x2e, 'EVAPORATIVE_PURGE', 'Commanded evaporative purge', percent()],
  [0x30, 'WARMUPS_SINCE_DTC_CLEAR', 'Warm-ups since DTCs cleared', linear(1, 1, 0, 'count', 'A')],
  [0x31, 'DISTANCE_SINCE_DTC_CLEAR', 'Distance travelled since DTCs cleared', linear(2, 1, 0, 'km', '256A+B')],
  [0x32, 'EVAP_VAPOR_PRESSURE', 'Evaporative system vapour pressure', linear(2, 0.25, 0, 'Pa', '(256A+B)/4, signed', true)],
  [0x34, 'O2_S1_WR_CURRENT', 'Wide-range O2 sensor 1: equivalence ratio, current', wideO2Current()],
  [0x35, 'O2_S2_WR_CURRENT', 'Wide-range O2 sensor 2: equivalence ratio, current', wideO2Current()],
  [0x36, 'O2_S3_WR_CURRENT', 'Wide-range O2 sensor 3: equivalence ratio, current', wideO2Current()],
  [0x37, 'O2_S4_WR_CURRENT', 'Wide-range O2 sensor 4: equivalence ratio, current', wideO2Current()],
  [0x38, 'O2_S5_WR_CURRENT', 'Wide-range O2 sensor 5: equivalence ratio, current', wideO2Current()],
  [0x39, 'O2_S6_WR_CURRENT', 'Wide-range O2 sensor 6: equivalence ratio, current', wideO2Current()],
  [0x3a, 'O2_S7_WR_CURRENT', 'Wide-range O2 sensor 7: equivalence ratio, current', wideO2Current()],
  [0x3b, 'O2_S8_WR_CURRENT', 'Wide-range O2 sensor 8: equivalence ratio, current', wideO2Current()],
  [0x3d, 'CATALYST_TEMP_B2S1', 'Catalyst temperature, bank 2 sensor 1', linear(2, 0.1, -40, '°C', '(256A+B)/10−40')],
  [0x3e, 'CATALYST_TEMP_B1S2', 'Catalyst temperature, bank 1 sensor 2', linear(2, 0.1, -40, '°C', '(256A+B)/10−40')],
  [0x3f, 'CATALYST_TEMP_B2S2', 'Catalyst temperature, bank 2 sensor 2', linear(2, 0.1, -40, '°C', '(256A+B)/10−40')],
  [0x40, 'PIDS_C', 'Supported PIDs 41–60', supportedBitmap(0x40)],
  [0x41, 'STATUS_DRIVE_CYCLE', 'Monitor status this drive cycle', monitorStatus(false)],
  [0x43, 'ABSOLUTE_LOAD', 'Absolute load value', linear(2, 100 / 255, 0, '%', '(256A+B)·100/255')],
  [0x44, 'COMMANDED_EQUIV_RATIO', 'Commanded air-fuel equivalence ratio', linear(2, 2 / 65536, 0, 'ratio', '(256A+B)·2/65536')],
  [0x45, 'RELATIVE_THROTTLE_POS', 'Relative throttle position', percent()],
  [0x46, 'AMBIANT_AIR_TEMP', 'Ambient air temperature', temperature()],
  [0x47, 'THROTTLE_POS_B', 'Absolute throttle position B', percent()],
  [0x48, 'THROTTLE_POS_C', 'Absolute throttle position C', percent()],
  [0x49, 'ACCELERATOR_POS_D', 'Accelerator pedal position D', percent()],
  [0x4a, 'ACCELERATOR_POS_E', 'Accelerator pedal position E', percent()],
  [0x4b, 'ACCELERATOR_POS_F', 'Accelerator pedal position F', percent()],
  [0x4c, 'THROTTLE_ACTUATOR', 'Commanded throttle actuator', percent()],
  [0x4d, 'RUN_TIME_MIL', 'Time run with MIL on', linear(2, 1, 0, 'min', '256A+B')],
  [0x4e, 'TIME_SINCE_DTC_CLEARED', 'Time since DTCs cleared', linear(2, 1, 0, 'min', '256A+B')],
  [0x4f, 'MAX_VALUES', 'Maximum equivalence ratio, O2 voltage, O2 current, intake pressure', fields(null, 'A ratio, B V, C mA, D·10 kPa', undefined, [
    { key: 'MAX_EQUIV_RATIO', bytes: 1, scale: 1, offset: 0 },
    { key: 'MAX_O2_VOLTAGE', bytes: 1, scale: 1, offset: 0 },
    { key: 'MAX_O2_CURRENT', bytes: 1, scale: 1, offset: 0 },
    { key: 'MAX_INTAKE_PRESSURE', bytes: 1, scale: 10, offset: 0 },
  ])],
  [0x50, 'MAX_MAF', 'Maximum mass air flow rate', fields('g/s', 'A·10 g/s (B, C, D reserved)', 'MAX_MAF', [{ key: 'MAX_MAF', bytes: 1, scale: 10, offset: 0 }], 4)],
  [0x51, 'FUEL_TYPE', 'Fuel type', enumeration(FUEL_TYPES)],
  [0x52, 'ETHANOL_PERCENT', 'Ethanol fuel percentage', percent()],
  [0x53, 'EVAP_VAPOR_PRESSURE_ABS', 'Absolute evaporative system vapour pressure', linear(2, 0.005, 0, 'kPa', '(256A+B)/200')],
  [0x54, 'EVAP_VAPOR_PRESSURE_ALT', 'Evaporative system vapour pressure (wide range)', linear(2, 1, 0, 'Pa', '256A+B, signed', true)],
  [0x55, 'SHORT_O2_TRIM_B1', 'Short-term secondary O2 sensor trim, banks 1 and 3', secondaryTrim(['BANK_1', 'BANK_3'])],
  [0x56, 'LONG_O2_TRIM_B1', 'Long-term secondary O2 sensor trim, banks 1 and 3', secondaryTrim(['BANK_1', 'BANK_3'])],
  [0x57, 'SHORT_O2_TRIM_B2', 'Short-term secondary O2 sensor trim, banks 2 and 4', secondaryTrim(['BANK_2', 'BANK_4'])],
  [0x58, 'LONG_O2_TRIM_B2', 'Long-term secondary O2 sensor trim, banks 2 and 4', secondaryTrim(['BANK_2', 'BANK_4'])],
  [0x59, 'FUEL_RAIL_PRESSURE_ABS', 'Fuel rail absolute pressure', linear(2, 10, 0, 'kPa', '(256A+B)·10')],
  [0x5a, 'RELATIVE_ACCEL_POS', 'Relative accelerator pedal position', percent()],
  [0x5b, 'HYBRID_BATTERY_REMAINING', 'Hybrid battery pack remaining life', percent()],
  [0x5c, 'OIL_TEMP', 'Engine oil temperature', temperature()],
  [0x5d, 'FUEL_INJECT_TIMING', 'Fuel injection timing', linear(2, 1 / 128, -210, '°', '(256A+B)/128−210')],
  [0x5e, 'FUEL_RATE', 'Engine fuel rate', linear(2, 0.05, 0, 'L/h', '(256A+B)/20')],
  [0x5f, 'EMISSION_REQ', 'Emission requirements the vehicle is designed to', rawByte('A, bit-encoded (kept raw)')],
];

/**
 * A catalogue signal's PID is a row derived from the catalogue, unless a row above carries it as the
 * primary field of a multi-value PID: that row must then be named after the signal, in its unit.
 */
function catalogueRows(): Row[] {
  const rows: Row[] = [];
  for (const s of SIGNALS) {
    const own = OWN_ROWS.find(([pid]) => pid === s.pid);
    if (!own) {
      rows.push([s.pid, s.name, s.description, linear(s.bytes, s.scale, s.offset, s.unit, s.formula)]);
      continue;
    }
    const [, name, , codec] = own;
    if (name !== s.name || codec.primary === undefined || codec.unit !== s.unit) {
      throw new Error(`PID table: PID 0x${hex2(s.pid)} is catalogue signal ${s.name}; remove its row here (rows of catalogue signals are derived)`);
    }
  }
  return rows;
}

const ROWS: readonly Row[] = [...OWN_ROWS, ...catalogueRows()];

export const SERVICE_01_PIDS: readonly PidDefinition[] = ROWS.map(([pid, name, description, codec]) => ({
  pid,
  name,
  description,
  ...codec,
})).sort((x, y) => x.pid - y.pid);

const byNumber = new Map(SERVICE_01_PIDS.map((d) => [d.pid, d]));
const byName = new Map(SERVICE_01_PIDS.map((d) => [d.name, d]));

export function pidByNumber(pid: number): PidDefinition | undefined {
  return byNumber.get(pid);
}

export function pidByName(name: string): PidDefinition | undefined {
  return byName.get(name);
}

/**
 * The PID's main number: the value itself, or its `primary` field (O2_B1S1 → volts). Undefined for
 * enumerations, bitfields and bitmaps, and when the primary field is null (e.g. sensor not used).
 */
export function scalarValue(def: PidDefinition, value: PidValue): number | undefined {
  if (typeof value === 'number') return value;
  if (def.primary !== undefined && typeof value === 'object' && !Array.isArray(value)) {
    const v = (value as PidObject)[def.primary];
    return typeof v === 'number' ? v : undefined;
  }
  return undefined;
}

/** The table as plain rows (for docs, JSON export and the probe's listing). */
export function pidTableRows(): { pid: string; name: string; bytes: number; unit: string | null; formula: string; description: string }[] {
  return SERVICE_01_PIDS.map((d) => ({
    pid: hex2(d.pid),
    name: d.name,
    bytes: d.bytes,
    unit: d.unit,
    formula: d.formula,
    description: d.description,
  }));
}

/** The table as Markdown, as docs/obd.md carries it (a test keeps the two equal). */
export function pidTableMarkdown(): string {
  const lines = ['| PID | name | bytes | unit | formula | description |', '|---|---|---|---|---|---|'];
  for (const r of pidTableRows()) lines.push(`| ${r.pid} | \`${r.name}\` | ${r.bytes} | ${r.unit ?? '—'} | ${r.formula.replace(/\|/g, '\\|')} | ${r.description} |`);
  return lines.join('\n');
}
