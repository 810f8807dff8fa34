/**
 * What a diagnostic trouble code means: its system, whether SAE J2012 defines it (generic) or the
 * manufacturer does, and for generic powertrain codes a short description in our own words.
 *
 * The table is written here from the structure SAE J2012 gives the codes (facts only; no
 * description is copied from a GPL or other third-party table). It covers the codes the simulator
 * sets and the generic codes a fleet meets most: the P01xx air/fuel metering family, injector and
 * misfire codes, ignition, sensors, EGR, secondary air, catalyst, EVAP, speed/idle, voltage, control
 * module and the transmission's MIL request, plus common P2xxx ones. A generic code not in the table
 * is still shown as generic, without a description; a manufacturer code as such.
 *
 * Code ranges (J2012): the second character is 0 (SAE), 1 (manufacturer), 2 (SAE) or 3; for
 * powertrain P30xx–P33xx are the manufacturer's and P34xx–P39xx SAE's; for chassis, body and
 * network C/B/U 0 is SAE, 1 and 2 the manufacturer's and 3 reserved.
 */
import { DTC_PATTERN } from '../../contracts/vehicle-health.ts';

export type DtcSystem = 'powertrain' | 'chassis' | 'body' | 'network';
export type DtcCodeType = 'generic' | 'manufacturer' | 'reserved' | 'invalid';

export interface DtcInfo {
  code: string;
  system: DtcSystem | null;
  codeType: DtcCodeType;
  /** Our description of a generic code; null when the table has none. */
  description: string | null;
  /** What to show a person: the description, or what kind of code it is. */
  text: string;
}

const table = new Map<string, string>();
const add = (code: number, text: string): void => void table.set(`P${code.toString().padStart(4, '0')}`, text);
const hex = (code: string, text: string): void => void table.set(code, text);

// ---- P00xx–P01xx: air and fuel metering ------------------------------------------------------------
/** Codes that come as a group: the circuit, then its range/performance, low, high, intermittent faults. */
function sensorFamily(first: number, what: string, kinds: readonly string[] = ['circuit', 'circuit range/performance', 'circuit low', 'circuit high', 'circuit intermittent']): void {
  kinds.forEach((kind, i) => add(first + i, `${what} ${kind}`));
}
sensorFamily(100, 'Mass or volume air flow sensor A');
sensorFamily(105, 'Manifold absolute pressure / barometric pressure sensor');
sensorFamily(110, 'Intake air temperature sensor 1 (bank 1)');
sensorFamily(115, 'Engine coolant temperature sensor 1', ['circuit', 'circuit range/performance', 'circuit low', 'circuit high', 'circuit intermittent or erratic']);
sensorFamily(120, 'Throttle/pedal position sensor or switch A');
add(125, 'Coolant temperature too low for closed-loop fuel control');
add(126, 'Coolant temperature too low for stable operation');
add(127, 'Intake air temperature too high');
add(128, 'Coolant temperature below the thermostat regulating temperature (thermostat)');
add(129, 'Barometric pressure too low');
/** O2 sensors: six codes per sensor position from P0130 (bank 1 sensor 1) on. */
const O2_KINDS = ['circuit', 'circuit low voltage', 'circuit high voltage', 'circuit slow response', 'circuit, no activity detected', 'heater circuit'] as const;
for (const [first, bank, sensor] of [[130, 1, 1], [136, 1, 2], [142, 1, 3], [150, 2, 1], [156, 2, 2], [162, 2, 3]] as const) {
  O2_KINDS.forEach((kind, i) => add(first + i, `Oxygen sensor ${kind} (bank ${bank}, sensor ${sensor})`));
}
add(148, 'Fuel delivery error');
add(149, 'Fuel timing error');
add(168, 'Fuel temperature too high');
add(169, 'Incorrect fuel composition');
add(170, 'Fuel trim malfunction (bank 1)');
add(171, 'System too lean (bank 1)');
add(172, 'System too rich (bank 1)');
add(173, 'Fuel trim malfunction (bank 2)');
add(174, 'System too lean (bank 2)');
add(175, 'System too rich (bank 2)');
sensorFamily(176, 'Fuel composition sensor', ['circuit', 'circuit range/performance', 'circuit low', 'circuit high']);
sensorFamily(180, 'Fuel temperature sensor A');
sensorFamily(185, 'Fuel temperature sensor B');
sensorFamily(190, 'Fuel rail pressure sensor A');
sensorFamily(195, 'Engine oil temperature sensor');

// ---- P02xx: injectors, over-temperature, fuel pump -------------------------------------------------
add(200, 'Injector circuit');
for (let n = 1; n <= 12; n++) add(200 + n, `Injector circuit, cylinder ${n}`);
add(217, 'Engine coolant over-temperature condition');
add(218, 'Transmission fluid over-temperature condition');
add(219, 'Engine over-speed condition');
add(230, 'Fuel pump primary circuit');
for (let n = 1; n <= 8; n++) {
  add(261 + 3 * (n - 1), `Injector circuit low, cylinder ${n}`);
  add(262 + 3 * (n - 1), `Injector circuit high, cylinder ${n}`);
  add(263 + 3 * (n - 1), `Cylinder ${n} contribution/balance`);
}

// ---- P03xx: ignition, misfire, position and knock sensors ------------------------------------------
add(300, 'Random or multiple cylinder misfire detected');
for (let n = 1; n <= 12; n++) add(300 + n, `Cylinder ${n} misfire detected`);
sensorFamily(325, 'Knock sensor 1 (bank 1 or single sensor)');
sensorFamily(330, 'Knock sensor 2 (bank 2)');
sensorFamily(335, 'Crankshaft position sensor A');
sensorFamily(340, 'Camshaft position sensor A (bank 1 or single sensor)');
for (let n = 1; n <= 12; n++) add(350 + n, `Ignition coil ${String.fromCharCode(64 + n)} primary/secondary circuit`);

// ---- P04xx: emission controls ----------------------------------------------------------------------
add(400, 'Exhaust gas recirculation (EGR) flow');
add(401, 'EGR flow insufficient');
add(402, 'EGR flow excessive');
add(403, 'EGR control circuit');
add(404, 'EGR control circuit range/performance');
add(405, 'EGR sensor A circuit low');
add(406, 'EGR sensor A circuit high');
add(410, 'Secondary air injection system');
add(411, 'Secondary air injection system: incorrect flow');
add(420, 'Catalyst system efficiency below threshold (bank 1)');
add(421, 'Warm-up catalyst efficiency below threshold (bank 1)');
add(430, 'Catalyst system efficiency below threshold (bank 2)');
add(431, 'Warm-up catalyst efficiency below threshold (bank 2)');
add(440, 'Evaporative emission (EVAP) system');
add(441, 'EVAP system: incorrect purge flow');
add(442, 'EVAP system: small leak detected');
add(443, 'EVAP purge control valve circuit');
add(444, 'EVAP purge control valve circuit open');
add(445, 'EVAP purge control valve circuit shorted');
add(446, 'EVAP vent control circuit');
add(447, 'EVAP vent control circuit open');
add(448, 'EVAP vent control circuit shorted');
add(449, 'EVAP vent valve/solenoid circuit');
sensorFamily(450, 'EVAP system pressure sensor/switch');
add(455, 'EVAP system: large leak detected');
add(456, 'EVAP system: very small leak detected');
add(457, 'EVAP system: leak detected (fuel cap loose or off)');
sensorFamily(460, 'Fuel level sensor A', ['circuit', 'circuit range/performance', 'circuit low', 'circuit high', 'circuit intermittent']);
add(480, 'Cooling fan 1 control circuit');
add(481, 'Cooling fan 2 control circuit');

// ---- P05xx: vehicle speed, idle control, auxiliary inputs, system voltage ---------------------------
add(500, 'Vehicle speed sensor A');
add(501, 'Vehicle speed sensor A range/performance');
add(502, 'Vehicle speed sensor A circuit low');
add(503, 'Vehicle speed sensor A intermittent, erratic or high');
add(505, 'Idle air control system');
add(506, 'Idle air control system: RPM lower than expected');
add(507, 'Idle air control system: RPM higher than expected');
add(508, 'Idle air control system circuit low');
add(509, 'Idle air control system circuit high');
sensorFamily(520, 'Engine oil pressure sensor/switch', ['circuit', 'circuit range/performance', 'circuit low', 'circuit high']);
add(530, 'A/C refrigerant pressure sensor A circuit');
add(550, 'Power steering pressure sensor/switch circuit');
add(560, 'System voltage');
add(561, 'System voltage unstable');
add(562, 'System voltage low');
add(563, 'System voltage high');

// ---- P06xx–P07xx: control module, transmission --------------------------------------------------------
add(600, 'Serial communication link');
add(601, 'Control module memory checksum error');
add(602, 'Control module programming error');
add(603, 'Control module keep-alive memory (KAM) error');
add(604, 'Control module random access memory (RAM) error');
add(605, 'Control module read-only memory (ROM) error');
add(606, 'Control module processor');
add(700, 'Transmission control system (MIL request from the transmission control module)');
add(705, 'Transmission range sensor circuit');
add(715, 'Input/turbine speed sensor A circuit');
add(720, 'Output speed sensor circuit');
add(740, 'Torque converter clutch circuit');
add(750, 'Shift solenoid A');

// ---- P2xxx: common generic codes ---------------------------------------------------------------------
hex('P2096', 'Post-catalyst fuel trim system too lean (bank 1)');
hex('P2097', 'Post-catalyst fuel trim system too rich (bank 1)');
hex('P2098', 'Post-catalyst fuel trim system too lean (bank 2)');
hex('P2099', 'Post-catalyst fuel trim system too rich (bank 2)');
hex('P2101', 'Throttle actuator control motor circuit range/performance');
hex('P2111', 'Throttle actuator control system stuck open');
hex('P2112', 'Throttle actuator control system stuck closed');
hex('P2119', 'Throttle actuator control throttle body range/performance');
hex('P2135', 'Throttle/pedal position sensor A/B voltage correlation');
hex('P2138', 'Throttle/pedal position sensor D/E voltage correlation');
hex('P2177', 'System too lean off idle (bank 1)');
hex('P2178', 'System too rich off idle (bank 1)');
hex('P2187', 'System too lean at idle (bank 1)');
hex('P2188', 'System too rich at idle (bank 1)');
hex('P2195', 'Oxygen sensor signal biased or stuck lean (bank 1, sensor 1)');
hex('P2196', 'Oxygen sensor signal biased or stuck rich (bank 1, sensor 1)');
hex('P2270', 'Oxygen sensor signal biased or stuck lean (bank 1, sensor 2)');
hex('P2271', 'Oxygen sensor signal biased or stuck rich (bank 1, sensor 2)');

/** The generic codes this table describes, sorted (for the docs and tests). */
export const DESCRIBED_CODES: readonly string[] = [...table.keys()].sort();

const SYSTEMS: Readonly<Record<string, DtcSystem>> = { P: 'powertrain', C: 'chassis', B: 'body', U: 'network' };

function codeType(code: string): Exclude<DtcCodeType, 'invalid'> {
  const letter = code[0]!;
  const digit = code[1]!;
  if (letter === 'P') {
    if (digit === '0' || digit === '2') return 'generic';
    if (digit === '1') return 'manufacturer';
    // P3: P30xx–P33xx manufacturer, P34xx–P39xx SAE.
    return parseInt(code[2]!, 16) <= 3 ? 'manufacturer' : 'generic';
  }
  if (digit === '0') return 'generic';
  return digit === '3' ? 'reserved' : 'manufacturer';
}

/** What a code means, as far as this table knows. Never throws: a malformed code is `invalid`. */
export function describeDtc(code: string): DtcInfo {
  const c = code.trim().toUpperCase();
  if (!DTC_PATTERN.test(c)) return { code, system: null, codeType: 'invalid', description: null, text: 'not a diagnostic trouble code' };
  const type = codeType(c);
  const description = type === 'generic' ? (table.get(c) ?? null) : null;
  const text =
    description ??
    (type === 'manufacturer'
      ? "manufacturer-specific code (its meaning is in the manufacturer's service information)"
      : type === 'reserved'
        ? 'code from a range SAE J2012 reserves'
        : 'generic code (no description in our table)');
  return { code: c, system: SYSTEMS[c[0]!]!, codeType: type, description, text };
}
