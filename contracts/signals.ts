/**
 * The signal catalogue: one canonical name and one unit per engine signal.
 * Names follow python-OBD's (`RPM`, `SPEED`, `COOLANT_TEMP` …); InfluxDB field names are the
 * lower-case form. `min`/`max` are the range the signal's SAE J1979 encoding can carry, so a
 * value outside it cannot have come from a real ECU and is rejected at the edge of ingest.
 *
 * The OBD-II PID table (agent/obd) refers to these entries; it adds how each is encoded on the bus.
 */
export interface SignalInfo {
  readonly name: string;
  readonly unit: string;
  readonly description: string;
  readonly min: number;
  readonly max: number;
}

const table = [
  { name: 'RPM', unit: 'rpm', description: 'Engine speed', min: 0, max: 16383.75 },
  { name: 'SPEED', unit: 'km/h', description: 'Vehicle speed', min: 0, max: 255 },
  { name: 'COOLANT_TEMP', unit: '°C', description: 'Engine coolant temperature', min: -40, max: 215 },
  { name: 'ENGINE_LOAD', unit: '%', description: 'Calculated engine load', min: 0, max: 100 },
  { name: 'INTAKE_TEMP', unit: '°C', description: 'Intake air temperature', min: -40, max: 215 },
  { name: 'MAF', unit: 'g/s', description: 'Mass air flow rate', min: 0, max: 655.35 },
  { name: 'THROTTLE_POS', unit: '%', description: 'Absolute throttle position', min: 0, max: 100 },
  { name: 'SHORT_FUEL_TRIM_1', unit: '%', description: 'Short-term fuel trim, bank 1', min: -100, max: 99.21875 },
  { name: 'LONG_FUEL_TRIM_1', unit: '%', description: 'Long-term fuel trim, bank 1', min: -100, max: 99.21875 },
  { name: 'CONTROL_MODULE_VOLTAGE', unit: 'V', description: 'Control module (battery) voltage', min: 0, max: 65.535 },
  { name: 'INTAKE_PRESSURE', unit: 'kPa', description: 'Intake manifold absolute pressure', min: 0, max: 255 },
  { name: 'BAROMETRIC_PRESSURE', unit: 'kPa', description: 'Absolute barometric pressure', min: 0, max: 255 },
  { name: 'TIMING_ADVANCE', unit: '°', description: 'Ignition timing advance before TDC, cylinder 1', min: -64, max: 63.5 },
  { name: 'O2_B1S1', unit: 'V', description: 'Oxygen sensor voltage, bank 1 sensor 1 (narrow band)', min: 0, max: 1.275 },
  { name: 'CATALYST_TEMP_B1S1', unit: '°C', description: 'Catalyst temperature, bank 1 sensor 1', min: -40, max: 6513.5 },
  { name: 'FUEL_LEVEL', unit: '%', description: 'Fuel tank level input', min: 0, max: 100 },
  { name: 'RUN_TIME', unit: 's', description: 'Run time since engine start', min: 0, max: 65535 },
] as const satisfies readonly SignalInfo[];

export type SignalName = (typeof table)[number]['name'];

export const SIGNALS: readonly SignalInfo[] = table;

export const SIGNAL_NAMES: readonly SignalName[] = table.map((s) => s.name);

const byName = new Map<string, SignalInfo>(table.map((s) => [s.name, s]));

export function signalInfo(name: string): SignalInfo | undefined {
  return byName.get(name);
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
