/**
 * The signal catalogue: every engine signal fleetpulse carries, one row each, and the one place its
 * SAE J1979 encoding is written down. Names follow python-OBD's (`RPM`, `SPEED`, `COOLANT_TEMP` …);
 * InfluxDB field names are the lower-case form; one unit per signal.
 *
 * Derived from this table, never written again elsewhere:
 * - the scaling of these PIDs in the agent's PID table (contracts/obd/pid-table.ts),
 * - the simulator's and the ELM327 emulator's encoding (contracts/obd/pid-encoding.ts),
 * - the compact codec's signal codes and quanta (telemetry-compact.ts; format 1's are frozen by a test),
 * - `min`/`max`: the range the encoding can carry, so a value outside it cannot have come from a
 *   real ECU and is rejected at the edge of ingest,
 * - the telemetry field list of docs/data-layout.md (a test keeps it equal to `signalTableMarkdown`).
 * Adding a signal is adding a row. Rows are append-only: a row's position is its compact signal
 * code, and the model's features follow this order.
 *
 * A signal is the first `bytes` data bytes of its PID's answer. A PID that carries more than the
 * signal (PID 14: A is O2_B1S1's voltage, B the sensor's fuel trim) is described in full by the PID
 * table, which takes the signal's field from here.
 */
import { FUEL_TRIM, type LinearEncoding, PERCENT, TEMPERATURE, linear, maxRaw, round6, valueOfRaw } from './j1979.ts';

export interface SignalInfo extends LinearEncoding {
  readonly name: string;
  readonly unit: string;
  readonly description: string;
  /** The SAE J1979 service 01 PID that carries it. */
  readonly pid: number;
  /** Smallest value the encoding carries (raw 0). */
  readonly min: number;
  /** Largest value the encoding carries (every raw bit set). */
  readonly max: number;
}

type SignalRow = Omit<SignalInfo, 'min' | 'max'>;

const table = [
  { name: 'RPM',                    unit: 'rpm',  pid: 0x0c, ...linear(2, 0.25, 0, '(256A+B)/4'),      description: 'Engine speed' },
  { name: 'SPEED',                  unit: 'km/h', pid: 0x0d, ...linear(1, 1, 0, 'A'),                  description: 'Vehicle speed' },
  { name: 'COOLANT_TEMP',           unit: '°C',   pid: 0x05, ...TEMPERATURE,                           description: 'Engine coolant temperature' },
  { name: 'ENGINE_LOAD',            unit: '%',    pid: 0x04, ...PERCENT,                               description: 'Calculated engine load' },
  { name: 'INTAKE_TEMP',            unit: '°C',   pid: 0x0f, ...TEMPERATURE,                           description: 'Intake air temperature' },
  { name: 'MAF',                    unit: 'g/s',  pid: 0x10, ...linear(2, 0.01, 0, '(256A+B)/100'),    description: 'Mass air flow rate' },
  { name: 'THROTTLE_POS',           unit: '%',    pid: 0x11, ...PERCENT,                               description: 'Absolute throttle position' },
  { name: 'SHORT_FUEL_TRIM_1',      unit: '%',    pid: 0x06, ...FUEL_TRIM,                             description: 'Short-term fuel trim, bank 1' },
  { name: 'LONG_FUEL_TRIM_1',       unit: '%',    pid: 0x07, ...FUEL_TRIM,                             description: 'Long-term fuel trim, bank 1' },
  { name: 'CONTROL_MODULE_VOLTAGE', unit: 'V',    pid: 0x42, ...linear(2, 0.001, 0, '(256A+B)/1000'),  description: 'Control module (battery) voltage' },
  { name: 'INTAKE_PRESSURE',        unit: 'kPa',  pid: 0x0b, ...linear(1, 1, 0, 'A'),                  description: 'Intake manifold absolute pressure' },
  { name: 'BAROMETRIC_PRESSURE',    unit: 'kPa',  pid: 0x33, ...linear(1, 1, 0, 'A'),                  description: 'Absolute barometric pressure' },
  { name: 'TIMING_ADVANCE',         unit: '°',    pid: 0x0e, ...linear(1, 0.5, -64, 'A/2−64'),         description: 'Ignition timing advance before TDC, cylinder 1' },
  { name: 'O2_B1S1',                unit: 'V',    pid: 0x14, ...linear(1, 0.005, 0, 'A/200'),          description: 'Oxygen sensor voltage, bank 1 sensor 1 (narrow band)' },
  { name: 'CATALYST_TEMP_B1S1',     unit: '°C',   pid: 0x3c, ...linear(2, 0.1, -40, '(256A+B)/10−40'), description: 'Catalyst temperature, bank 1 sensor 1' },
  { name: 'FUEL_LEVEL',             unit: '%',    pid: 0x2f, ...PERCENT,                               description: 'Fuel tank level input' },
  { name: 'RUN_TIME',               unit: 's',    pid: 0x1f, ...linear(2, 1, 0, '256A+B'),             description: 'Run time since engine start' },
] as const satisfies readonly SignalRow[];

export type SignalName = (typeof table)[number]['name'];

export const SIGNALS: readonly SignalInfo[] = table.map((row) => ({ ...row, min: valueOfRaw(row, 0), max: valueOfRaw(row, maxRaw(row.bytes)) }));

for (const [i, s] of SIGNALS.entries()) {
  const other = SIGNALS.findIndex((o) => o.name === s.name || o.pid === s.pid);
  if (other !== i) throw new Error(`signal catalogue: ${s.name} and ${SIGNALS[other]!.name} share a name or PID 0x${s.pid.toString(16)}`);
}

export const SIGNAL_NAMES: readonly SignalName[] = table.map((s) => s.name);

const byName = new Map<string, SignalInfo>(SIGNALS.map((s) => [s.name, s]));

export function signalInfo(name: string): SignalInfo | undefined {
  return byName.get(name);
}

/**
 * The catalogue as Markdown, as docs/data-layout.md carries it (a test keeps the two equal): the
 * fields of the `telemetry` measurement with their units, PIDs and encodings.
 */
export function signalTableMarkdown(): string {
  const lines = ['| InfluxDB field | wire name | unit | PID | bytes | formula | resolution | range | description |', '|---|---|---|---|---|---|---|---|---|'];
  for (const s of SIGNALS) {
    const pid = s.pid.toString(16).toUpperCase().padStart(2, '0');
    lines.push(`| \`${signalField(s.name)}\` | \`${s.name}\` | ${s.unit} | ${pid} | ${s.bytes} | ${s.formula} | ${round6(s.scale)} | ${s.min} … ${s.max} | ${s.description} |`);
  }
  return lines.join('\n');
}

/** The InfluxDB field that stores a signal. */
export function signalField(name: string): string {
  return name.toLowerCase();
}

/**
 * Signals the agent polls fast by default (engine speed and load change within a second), and the
 * slow ones (temperatures, trims, voltage …). The simulated training fleet is read with the same
 * split (simulator/observation.ts), so the model sees what an agent in a car sends.
 */
export const DEFAULT_FAST_SIGNALS: readonly SignalName[] = ['RPM', 'SPEED', 'ENGINE_LOAD', 'THROTTLE_POS', 'MAF', 'INTAKE_PRESSURE'];
export const DEFAULT_SLOW_SIGNALS: readonly SignalName[] = [
  'COOLANT_TEMP',
  'INTAKE_TEMP',
  'SHORT_FUEL_TRIM_1',
  'LONG_FUEL_TRIM_1',
  'TIMING_ADVANCE',
  'O2_B1S1',
  'CATALYST_TEMP_B1S1',
  'CONTROL_MODULE_VOLTAGE',
  'FUEL_LEVEL',
  'BAROMETRIC_PRESSURE',
  'RUN_TIME',
];
