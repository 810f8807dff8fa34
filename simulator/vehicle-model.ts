/**
 * A minimal vehicle: a driver who alternates idling, city and highway driving, and an engine
 * whose signals follow from speed and acceleration, so they change smoothly and move together
 * (RPM with gear and speed, MAF with RPM·load, coolant warming up to the thermostat). The
 * realistic engine with faults replaces this model; its interface (`step`, `read`) stays.
 */
import type { SignalValues } from '../contracts/telemetry.ts';
import type { Rng } from './rng.ts';

type Phase = 'idle' | 'city' | 'highway';

interface PhasePlan {
  phase: Phase;
  targetKmh: () => number;
  minS: number;
  maxS: number;
}

/** RPM per km/h in each gear, and the speed above which that gear is used. */
const GEARS = [
  { fromKmh: 0, rpmPerKmh: 105 },
  { fromKmh: 18, rpmPerKmh: 62 },
  { fromKmh: 35, rpmPerKmh: 44 },
  { fromKmh: 55, rpmPerKmh: 33 },
  { fromKmh: 75, rpmPerKmh: 27 },
  { fromKmh: 95, rpmPerKmh: 23 },
] as const;

const IDLE_RPM = 780;
const THERMOSTAT_OPEN_C = 88;

export interface VehicleModelOptions {
  rng: Rng;
  displacementL?: number;
  ambientC?: number;
}

const quantize = (value: number, step: number): number => Math.round(value / step) * step;
const clamp = (value: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, value));
/** Keeps JSON short: values are rounded to the encoding's resolution, then to 4 decimals. */
const tidy = (value: number): number => Math.round(value * 10_000) / 10_000 + 0; // + 0 turns -0 into 0

export class VehicleModel {
  private readonly rng: Rng;
  private readonly displacementL: number;
  private readonly ambientC: number;
  private readonly plans: PhasePlan[];
  private phaseLeftS = 0;
  private targetKmh = 0;
  private speedKmh = 0;
  private accelKmhS = 0;
  private coolantC: number;
  private intakeC: number;
  private longTrim: number;
  private shortTrim = 0;
  private rpm = IDLE_RPM;
  private load = 20;

  constructor(options: VehicleModelOptions) {
    this.rng = options.rng;
    this.displacementL = options.displacementL ?? this.rng.uniform(1.2, 2.4);
    this.ambientC = options.ambientC ?? this.rng.uniform(5, 28);
    this.coolantC = this.ambientC + this.rng.uniform(0, 50);
    this.intakeC = this.ambientC + 3;
    this.longTrim = this.rng.uniform(-3, 3);
    const r = this.rng;
    this.plans = [
      { phase: 'idle', targetKmh: () => 0, minS: 5, maxS: 30 },
      { phase: 'city', targetKmh: () => r.uniform(20, 55), minS: 15, maxS: 60 },
      { phase: 'highway', targetKmh: () => r.uniform(85, 125), minS: 30, maxS: 120 },
    ];
  }

  /** Advances the model by `dtS` seconds of simulated time. */
  step(dtS: number): void {
    this.phaseLeftS -= dtS;
    if (this.phaseLeftS <= 0) {
      const plan = this.plans[Math.floor(this.rng.next() * this.plans.length)]!;
      this.targetKmh = plan.targetKmh();
      this.phaseLeftS = this.rng.uniform(plan.minS, plan.maxS);
    }
    const wanted = this.targetKmh + this.rng.normal(0, 1.5) - this.speedKmh;
    const accel = clamp(wanted * 0.4, -4, 2.5);
    this.accelKmhS += (accel - this.accelKmhS) * Math.min(1, dtS * 1.5);
    this.speedKmh = clamp(this.speedKmh + this.accelKmhS * dtS, 0, 180);

    const gear = [...GEARS].reverse().find((g) => this.speedKmh >= g.fromKmh) ?? GEARS[0];
    const targetRpm = this.speedKmh < 3 ? IDLE_RPM : Math.max(IDLE_RPM + 200, this.speedKmh * gear.rpmPerKmh);
    this.rpm += (targetRpm - this.rpm) * Math.min(1, dtS * 3);

    const targetLoad = clamp(18 + Math.max(0, this.accelKmhS) * 12 + this.speedKmh * 0.22, 12, 100);
    this.load += (targetLoad - this.load) * Math.min(1, dtS * 2);

    // Coolant: heat from combustion, thermostat dumps heat above its opening point.
    const heat = 0.02 + (this.rpm / 6000) * (this.load / 100) * 0.9;
    const cooling = this.coolantC > THERMOSTAT_OPEN_C ? (this.coolantC - THERMOSTAT_OPEN_C) * 0.25 : 0;
    const loss = (this.coolantC - this.ambientC) * 0.0008;
    this.coolantC += (heat - cooling - loss) * dtS;

    const soak = this.speedKmh < 10 ? 6 : 2;
    this.intakeC += (this.ambientC + soak - this.intakeC) * Math.min(1, dtS * 0.05);

    this.shortTrim = clamp(this.shortTrim * 0.7 + this.rng.normal(0, 1.2), -10, 10);
    this.longTrim = clamp(this.longTrim + this.rng.normal(0, 0.02) * dtS, -8, 8);
  }

  /** The signals an OBD-II reader would see now, at PID resolution with sensor noise. */
  read(): Required<Pick<SignalValues, 'RPM' | 'SPEED' | 'COOLANT_TEMP' | 'ENGINE_LOAD' | 'INTAKE_TEMP' | 'MAF' | 'THROTTLE_POS' | 'SHORT_FUEL_TRIM_1' | 'LONG_FUEL_TRIM_1' | 'CONTROL_MODULE_VOLTAGE'>> {
    const r = this.rng;
    const rpm = clamp(this.rpm + r.normal(0, 12), 0, 16383.75);
    const load = clamp(this.load + r.normal(0, 0.8), 0, 100);
    const maf = (rpm / 120) * this.displacementL * 1.2 * (load / 100);
    const throttle = clamp(load * 0.75 + 4 + r.normal(0, 0.5), 0, 100);
    return {
      RPM: tidy(quantize(rpm, 0.25)),
      SPEED: clamp(Math.round(this.speedKmh), 0, 255),
      COOLANT_TEMP: clamp(Math.round(this.coolantC + r.normal(0, 0.3)), -40, 215),
      ENGINE_LOAD: tidy(quantize(load, 100 / 255)),
      INTAKE_TEMP: clamp(Math.round(this.intakeC + r.normal(0, 0.3)), -40, 215),
      MAF: tidy(clamp(quantize(maf + r.normal(0, 0.05), 0.01), 0, 655.35)),
      THROTTLE_POS: tidy(quantize(throttle, 100 / 255)),
      SHORT_FUEL_TRIM_1: tidy(quantize(this.shortTrim, 100 / 128)),
      LONG_FUEL_TRIM_1: tidy(quantize(this.longTrim, 100 / 128)),
      CONTROL_MODULE_VOLTAGE: tidy(quantize(14.1 + r.normal(0, 0.05) - (this.rpm < 900 ? 0.15 : 0), 0.001)),
    };
  }
}
