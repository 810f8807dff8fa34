/**
 * The drive-log formats fleetpulse reads: which column of a recorded log carries which catalogue
 * signal, in which unit, and where the log's clock is. Data only, shared by the agent's replay
 * parser (agent/replay-formats.ts) and the simulator's realism report (simulator/recorded-drive.ts).
 *
 * - `carobd`: the carOBD dataset (e.g. /work/shared/data/carobd-etios-drive1.csv): wide, comma
 *   separated, CRLF, a trailing comma on every line, headers `NAME ()`, J1979 units, no clock —
 *   the engine run time column (spelt ENGINE_RUN_TINE) stands in, repeating for rows logged in the
 *   same second.
 * - `torque`: Torque Pro `trackLog.csv`: wide, comma separated, units in the header
 *   (`Engine RPM(rpm)`, `Speed (OBD)(mph)`), `-` for a missing value, `Device Time`
 *   (`18-Jun-2019 10:48:42.435`, read as UTC) as clock, header lines repeated where a new log starts.
 * - `carscanner`: Car Scanner export: long format, `"SECONDS";"PID";"VALUE";"UNITS";…`, one row
 *   per reading; readings with the same SECONDS form one sample. SECONDS is a relative clock.
 */
import type { SignalName } from './signals.ts';

/** What a log's clock counts. */
export type ReplayTimeKind =
  /** Engine run time in seconds; repeats while several rows fall in one second, restarts at 0 after an engine restart. */
  | 'runtime-seconds'
  /** Seconds on a relative clock. */
  | 'seconds'
  /** Unix time in milliseconds. */
  | 'epoch-ms'
  /** Date and time text (`18-Jun-2019 10:48:42.435` or ISO 8601); without a zone it is read as UTC. */
  | 'datetime';

/** What a log column can say about the diagnosis. */
export const REPLAY_HEALTH_FIELDS = ['mil', 'dtcs', 'minutesWithMil', 'minutesSinceClear', 'distanceWithMilKm', 'distanceSinceClearKm', 'warmupsSinceClear'] as const;
export type ReplayHealthField = (typeof REPLAY_HEALTH_FIELDS)[number];

export interface ReplayHealthColumn {
  /** Header names that carry it; matched like signal columns. */
  readonly names: readonly string[];
  readonly field: ReplayHealthField;
}

export interface ReplayColumn {
  /** Header names (wide) or PID names (long) that carry the signal; matched ignoring case, spaces and punctuation. */
  readonly names: readonly string[];
  readonly signal: SignalName;
  /** Unit of the logged values; default: the unit in the header (`Name(unit)`) or, failing that, the signal's own. */
  readonly unit?: string;
}

export interface ReplayFormat {
  readonly name: string;
  readonly layout: 'wide' | 'long';
  readonly delimiter: string;
  /** Where the clock is; absent = none, rows are spaced at `rowRateHz`. */
  readonly time?: { readonly column: string; readonly kind: ReplayTimeKind };
  readonly columns: readonly ReplayColumn[];
  /** Row spacing when the log has no clock, and for the last rows after the clock's final step. */
  readonly rowRateHz: number;
  /** Long layout: the PID, value and unit columns. */
  readonly long?: { readonly pid: string; readonly value: string; readonly unit: string };
  /**
   * Every mapped column must be in the header (custom mappings: each names the one column meant).
   * Built-in formats list alternative names of which a given log has some, so they leave it off.
   */
  readonly strictColumns?: boolean;
  /** Columns with the car's diagnosis (MIL, codes, since-clear counters; agent/replay-health.ts); wide layout only. */
  readonly health?: readonly ReplayHealthColumn[];
}

const col = (signal: SignalName, ...names: string[]): ReplayColumn => ({ signal, names });

export const CAROBD_FORMAT: ReplayFormat = {
  name: 'carobd',
  layout: 'wide',
  delimiter: ',',
  time: { column: 'ENGINE_RUN_TINE', kind: 'runtime-seconds' },
  rowRateHz: 2,
  columns: [
    col('RUN_TIME', 'ENGINE_RUN_TINE', 'ENGINE_RUN_TIME'),
    col('RPM', 'ENGINE_RPM'),
    col('SPEED', 'VEHICLE_SPEED'),
    col('THROTTLE_POS', 'THROTTLE'),
    col('ENGINE_LOAD', 'ENGINE_LOAD'),
    col('COOLANT_TEMP', 'COOLANT_TEMPERATURE'),
    col('LONG_FUEL_TRIM_1', 'LONG_TERM_FUEL_TRIM_BANK_1'),
    col('SHORT_FUEL_TRIM_1', 'SHORT_TERM_FUEL_TRIM_BANK_1'),
    col('INTAKE_PRESSURE', 'INTAKE_MANIFOLD_PRESSURE'),
    col('FUEL_LEVEL', 'FUEL_TANK'),
    col('BAROMETRIC_PRESSURE', 'ABSOLUTE_BAROMETRIC_PRESSURE'),
    col('INTAKE_TEMP', 'INTAKE_AIR_TEMP'),
    col('TIMING_ADVANCE', 'TIMING_ADVANCE'),
    col('CATALYST_TEMP_B1S1', 'CATALYST_TEMPERATURE_BANK1_SENSOR1'),
    col('CONTROL_MODULE_VOLTAGE', 'CONTROL_MODULE_VOLTAGE'),
    col('MAF', 'MAF', 'MAF_AIR_FLOW_RATE'),
  ],
  health: [
    { field: 'minutesWithMil', names: ['TIME_RUN_WITH_MIL_ON'] },
    { field: 'minutesSinceClear', names: ['TIME_SINCE_TROUBLE_CODES_CLEARED'] },
    { field: 'distanceWithMilKm', names: ['DISTANCE_TRAVELED_WITH_MIL_ON'] },
    { field: 'warmupsSinceClear', names: ['WARM_UPS_SINCE_CODES_CLEARED'] },
  ],
};

export const TORQUE_FORMAT: ReplayFormat = {
  name: 'torque',
  layout: 'wide',
  delimiter: ',',
  time: { column: 'Device Time', kind: 'datetime' },
  rowRateHz: 1,
  columns: [
    col('RPM', 'Engine RPM'),
    col('SPEED', 'Speed (OBD)'),
    col('COOLANT_TEMP', 'Engine Coolant Temperature'),
    col('ENGINE_LOAD', 'Engine Load'),
    col('INTAKE_TEMP', 'Intake Air Temperature'),
    col('MAF', 'Mass Air Flow Rate'),
    col('THROTTLE_POS', 'Throttle Position(Manifold)', 'Throttle Position'),
    col('SHORT_FUEL_TRIM_1', 'Fuel Trim Bank 1 Short Term'),
    col('LONG_FUEL_TRIM_1', 'Fuel Trim Bank 1 Long Term'),
    col('INTAKE_PRESSURE', 'Intake Manifold Pressure'),
    col('BAROMETRIC_PRESSURE', 'Barometric pressure (from vehicle)', 'Barometric pressure'),
    col('TIMING_ADVANCE', 'Timing Advance'),
    col('O2_B1S1', 'O2 Volts Bank 1 sensor 1', 'O2 Sensor1 Voltage'),
    col('CATALYST_TEMP_B1S1', 'Catalyst Temperature (Bank 1 Sensor 1)'),
    col('FUEL_LEVEL', 'Fuel Level (From Engine ECU)', 'Fuel Level'),
    col('CONTROL_MODULE_VOLTAGE', 'Voltage (Control Module)'),
    col('RUN_TIME', 'Run time since engine start'),
  ],
};

export const CARSCANNER_FORMAT: ReplayFormat = {
  name: 'carscanner',
  layout: 'long',
  delimiter: ';',
  time: { column: 'SECONDS', kind: 'seconds' },
  long: { pid: 'PID', value: 'VALUE', unit: 'UNITS' },
  rowRateHz: 1,
  columns: [
    col('RPM', 'Engine RPM'),
    col('SPEED', 'Vehicle speed', 'Speed (OBD)'),
    col('COOLANT_TEMP', 'Engine coolant temperature'),
    col('ENGINE_LOAD', 'Calculated engine load value', 'Calculated engine load', 'Engine load'),
    col('INTAKE_TEMP', 'Intake air temperature'),
    col('MAF', 'MAF air flow rate', 'Mass air flow rate'),
    col('THROTTLE_POS', 'Throttle position', 'Absolute throttle position'),
    col('SHORT_FUEL_TRIM_1', 'Short term fuel % trim - Bank 1', 'Short term fuel trim - Bank 1', 'Short term fuel trim Bank 1'),
    col('LONG_FUEL_TRIM_1', 'Long term fuel % trim - Bank 1', 'Long term fuel trim - Bank 1', 'Long term fuel trim Bank 1'),
    col('INTAKE_PRESSURE', 'Intake manifold absolute pressure', 'Intake manifold pressure'),
    col('BAROMETRIC_PRESSURE', 'Barometric pressure', 'Absolute barometric pressure'),
    col('TIMING_ADVANCE', 'Timing advance'),
    col('O2_B1S1', 'Oxygen sensor 1 Bank 1 voltage', 'O2 sensor voltage Bank 1 Sensor 1', 'Oxygen sensor voltage Bank 1 Sensor 1'),
    col('CATALYST_TEMP_B1S1', 'Catalyst temperature Bank 1 Sensor 1', 'Catalyst temperature (Bank 1 Sensor 1)'),
    col('FUEL_LEVEL', 'Fuel level input', 'Fuel tank level input', 'Fuel level'),
    col('CONTROL_MODULE_VOLTAGE', 'Control module voltage'),
    col('RUN_TIME', 'Run time since engine start'),
  ],
};

export const REPLAY_FORMATS = { carobd: CAROBD_FORMAT, torque: TORQUE_FORMAT, carscanner: CARSCANNER_FORMAT } as const;
export type BuiltInReplayFormat = keyof typeof REPLAY_FORMATS;
