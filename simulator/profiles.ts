/**
 * Vehicle profiles: the constants that make one car model differ from another. Figures are
 * round public specifications of the class of car named (displacement, gear ratios, mass), not
 * measurements; they only need to be plausible and mutually consistent.
 */
export type AirMetering = 'maf' | 'map';

export interface VehicleProfile {
  readonly id: string;
  readonly description: string;
  readonly displacementL: number;
  /** `maf`: the ECU meters air with a hot-wire sensor; `map`: speed-density (reports MAP, no MAF PID). */
  readonly airMetering: AirMetering;
  readonly cylinders: number;
  readonly idleRpm: number;
  readonly redlineRpm: number;
  /** Peak brake torque and the speed where it occurs. */
  readonly peakTorqueNm: number;
  readonly peakTorqueRpm: number;
  readonly gearRatios: readonly number[];
  readonly finalDrive: number;
  readonly wheelRadiusM: number;
  readonly massKg: number;
  /** Drag coefficient × frontal area. */
  readonly cdA: number;
  readonly rollingResistance: number;
  readonly fuelTankL: number;
  /** Absolute throttle position reported when closed and when wide open (%). */
  readonly throttleClosedPct: number;
  readonly throttleWotPct: number;
  /** Thermostat starts to open / is fully open (°C). */
  readonly thermostatOpenC: number;
  readonly thermostatFullC: number;
  /** Radiator fan switches on / off (°C). */
  readonly fanOnC: number;
  readonly fanOffC: number;
  /** Charging voltage the regulator holds (V). */
  readonly regulatorV: number;
  /** Coolant plus engine metal heat capacity (kJ/K). */
  readonly thermalMassKjK: number;
}

export const PROFILES = {
  /** Like a Toyota Etios 1.5 petrol (2014): speed-density, 5-speed manual; the yardstick drive's car. */
  'etios-1.5-map': {
    id: 'etios-1.5-map',
    description: '1.5 L petrol, MAP-based (speed density), 5-speed manual, small sedan',
    displacementL: 1.496,
    airMetering: 'map',
    cylinders: 4,
    idleRpm: 760,
    redlineRpm: 6200,
    peakTorqueNm: 132,
    peakTorqueRpm: 3000,
    gearRatios: [3.545, 1.904, 1.31, 0.969, 0.815],
    finalDrive: 3.94,
    wheelRadiusM: 0.29,
    massKg: 1050,
    cdA: 0.68,
    rollingResistance: 0.012,
    fuelTankL: 45,
    throttleClosedPct: 15.7,
    throttleWotPct: 82,
    thermostatOpenC: 82,
    thermostatFullC: 97,
    fanOnC: 96,
    fanOffC: 92,
    regulatorV: 13.75,
    thermalMassKjK: 48,
  },
  /** A 2.0 L compact with a hot-wire MAF, 6-speed manual. */
  'compact-2.0-maf': {
    id: 'compact-2.0-maf',
    description: '2.0 L petrol, MAF-based, 6-speed manual, compact hatchback',
    displacementL: 1.998,
    airMetering: 'maf',
    cylinders: 4,
    idleRpm: 720,
    redlineRpm: 6500,
    peakTorqueNm: 190,
    peakTorqueRpm: 4200,
    gearRatios: [3.615, 2.042, 1.36, 1.027, 0.837, 0.711],
    finalDrive: 4.1,
    wheelRadiusM: 0.315,
    massKg: 1350,
    cdA: 0.66,
    rollingResistance: 0.011,
    fuelTankL: 55,
    throttleClosedPct: 12.2,
    throttleWotPct: 85,
    thermostatOpenC: 87,
    thermostatFullC: 102,
    fanOnC: 101,
    fanOffC: 97,
    regulatorV: 14.2,
    thermalMassKjK: 60,
  },
  /** A 1.2 L city car with a MAF sensor, 5-speed manual. */
  'city-1.2-maf': {
    id: 'city-1.2-maf',
    description: '1.2 L petrol, MAF-based, 5-speed manual, city car',
    displacementL: 1.197,
    airMetering: 'maf',
    cylinders: 4,
    idleRpm: 800,
    redlineRpm: 6300,
    peakTorqueNm: 112,
    peakTorqueRpm: 4000,
    gearRatios: [3.727, 2.048, 1.393, 1.029, 0.82],
    finalDrive: 4.067,
    wheelRadiusM: 0.287,
    massKg: 1000,
    cdA: 0.64,
    rollingResistance: 0.012,
    fuelTankL: 42,
    throttleClosedPct: 14.1,
    throttleWotPct: 84,
    thermostatOpenC: 84,
    thermostatFullC: 99,
    fanOnC: 98,
    fanOffC: 94,
    regulatorV: 14.1,
    thermalMassKjK: 42,
  },
} as const satisfies Record<string, VehicleProfile>;

export type ProfileId = keyof typeof PROFILES;

export const PROFILE_IDS = Object.keys(PROFILES) as ProfileId[];

export function profileById(id: string): VehicleProfile | undefined {
  return (PROFILES as Record<string, VehicleProfile>)[id];
}
