/**
 * One vehicle: driver, gearbox, road load, engine air path, fuel control, ignition, cooling,
 * intake and exhaust temperatures, charging system, plus the ECU's monitors — simplified physics
 * whose signals hang together the way a real engine's do, with faults that act on the physics.
 *
 * The model has an event-time clock (`timeMs`). Trips are started and ended by the caller
 * (`SimulatedVehicle` does it from a schedule); between trips `park` lets the engine cool and the
 * battery rest analytically, so parked time costs nothing to simulate.
 *
 * Guarantees: `read()` returns values inside the signal catalogue's ranges, quantised to their
 * PID resolution (see contracts/obd/pid-encoding.ts); the same options (seed) give the same sequence of values
 * for the same sequence of calls.
 */
import type { SignalValues } from '../contracts/telemetry.ts';
import { CycleFollower, type RoadDemand, type Segment } from './driving-cycle.ts';
import { type DriverStyle, STYLE_PARAMS, type DriverStyleParams } from './driver-style.ts';
import { type ActiveDtcs, type EcuDiagnosis, EcuMonitors, type StoredFreezeFrame } from './ecu-monitors.ts';
import { type FaultKind, type FaultSpec, type GroundTruth, faultApplies, groundTruthAt, severityAt } from './faults.ts';
import { PID_ENCODINGS, type PidEncoding, quantise } from '../contracts/obd/pid-encoding.ts';
import { PROFILES, type VehicleProfile } from './profiles.ts';
import type { Rng } from './rng.ts';
import { NOMINAL_VARIATION, type VehicleVariation } from './vehicle-variation.ts';

export interface VehicleModelOptions {
  rng: Rng;
  profile?: VehicleProfile;
  style?: DriverStyle;
  /** Daily mean ambient temperature (°C); the day adds ±5 °C around it. */
  ambientC?: number;
  altitudeM?: number;
  fault?: FaultSpec;
  /** Event time the model's clock starts at (ms). */
  startMs?: number;
  /** Engine coolant at start; defaults to ambient (a cold car). */
  initialCoolantC?: number;
  /** How this car differs from its model's nominal physics (default: not at all). */
  variation?: VehicleVariation;
}

/** The signals a model reports; which ones depends on the profile (MAF or MAP). */
export type VehicleSignals = SignalValues & {
  RPM: number;
  SPEED: number;
  COOLANT_TEMP: number;
  ENGINE_LOAD: number;
  INTAKE_TEMP: number;
  THROTTLE_POS: number;
  SHORT_FUEL_TRIM_1: number;
  LONG_FUEL_TRIM_1: number;
  CONTROL_MODULE_VOLTAGE: number;
  TIMING_ADVANCE: number;
  O2_B1S1: number;
  CATALYST_TEMP_B1S1: number;
  BAROMETRIC_PRESSURE: number;
  FUEL_LEVEL: number;
  RUN_TIME: number;
};

const G = 9.81;
const AIR_DENSITY = 1.2;
const R_AIR = 287;
const STOICH = 14.7;
const FUEL_LHV_J_PER_G = 43_000;
const FUEL_DENSITY_G_PER_L = 745;
const DRIVELINE_EFFICIENCY = 0.92;
const BATTERY_AH = 45;
const LTFT_LIMIT = 25;
const STFT_LIMIT = 25;

/** Longest physics step (s); see `step`. */
const MAX_SUBSTEP_S = 0.25;

const clamp = (x: number, lo: number, hi: number): number => (x < lo ? lo : x > hi ? hi : x);

const ENC = Object.fromEntries(PID_ENCODINGS.map((e) => [e.signal, e])) as Record<string, PidEncoding>;
const q = (signal: string, value: number): number => quantise(ENC[signal]!, value);

type EnginePhase = 'off' | 'key_on' | 'cranking' | 'running';

/** Sensor noise of zero: the signals as the physics has them (for the freeze frame). */
const NOISELESS: Rng = { next: () => 0.5, uniform: (min, max) => (min + max) / 2, normal: (mean = 0) => mean, fork: () => NOISELESS };

export class VehicleModel {
  readonly profile: VehicleProfile;
  readonly style: DriverStyle;
  readonly fault: FaultSpec | undefined;
  readonly variation: VehicleVariation;
  private readonly styleParams: DriverStyleParams;
  private readonly rng: Rng;
  private readonly noise: Rng;
  private readonly ecu: EcuMonitors<VehicleSignals>;
  private readonly ambientMeanC: number;
  private readonly baseBaroKpa: number;
  /** Per-car sensor and calibration spread. */
  private readonly coolantSensorBias: number;
  private readonly calibrationBias: number;
  private readonly idleOffsetRpm: number;
  private readonly regulatorOffsetV: number;
  private accessoryA: number;
  private readonly weatherPhase: number;

  timeMs: number;
  private phase: EnginePhase = 'off';
  private phaseLeftS = 0;
  private cycle: CycleFollower | undefined;
  private demand: RoadDemand = { targetKmh: 0, grade: 0, segment: 'idle' };

  // Powertrain state.
  private speedMs = 0;
  private accelCmd = 0;
  private gear = 0;
  private shiftCooldownS = 0;
  private rpm = 0;
  private idleHunt = 0;
  private idleWander = 0;
  private runTimeS = 0;
  // Air path.
  private mapKpa = 101;
  private airGs = 0;
  private leakGs = 0;
  private throttleRel = 0;
  private loadPct = 0;
  private fuelCut = false;
  private wot = false;
  // Fuel control (LTFT cells persist in keep-alive memory across trips).
  private stft = 0;
  private ltftIdle = 0;
  private ltftLoad = 0;
  private ltftBlend = 0;
  private closedLoop = false;
  private o2Phase = 0;
  private misfireRate = 0;
  private lambdaError = 0;
  // Temperatures.
  private coolantC: number;
  private thermostat = 0;
  private fanOn = false;
  private iatC: number;
  private catC: number;
  private timingDeg = 0;
  // Electrical and fuel.
  private soc = 0.9;
  private voltageV = 12.6;
  private fuelL: number;
  private faultSeverity = 0;

  constructor(options: VehicleModelOptions) {
    this.rng = options.rng;
    this.noise = options.rng.fork('sensor-noise');
    this.profile = options.profile ?? PROFILES['compact-2.0-maf'];
    this.style = options.style ?? 'normal';
    this.styleParams = STYLE_PARAMS[this.style];
    this.fault = options.fault;
    this.variation = options.variation ?? NOMINAL_VARIATION;
    if (this.fault && !faultApplies(this.fault.kind, this.profile.airMetering)) {
      throw new Error(`fault ${this.fault.kind} does not apply to a ${this.profile.airMetering.toUpperCase()}-based engine (${this.profile.id})`);
    }
    const setup = this.rng.fork('setup');
    this.ambientMeanC = options.ambientC ?? setup.uniform(5, 28);
    const altitude = options.altitudeM ?? setup.uniform(0, 600);
    this.baseBaroKpa = 101.3 * Math.exp(-altitude / 8400);
    this.coolantSensorBias = setup.normal(0, 0.6);
    this.calibrationBias = setup.normal(0, this.variation.calibrationSpread);
    this.idleOffsetRpm = setup.normal(0, 15);
    this.regulatorOffsetV = setup.normal(0, this.variation.regulatorSpreadV);
    this.accessoryA = setup.uniform(0, 12);
    this.weatherPhase = this.variation.weatherSwingC > 0 ? options.rng.fork('weather').uniform(0, 2 * Math.PI) : 0;
    this.ltftIdle = setup.normal(this.calibrationBias * 100, 1);
    this.ltftLoad = setup.normal(this.calibrationBias * 100, 1);
    this.fuelL = setup.uniform(0.3, 0.95) * this.profile.fuelTankL;
    this.timeMs = options.startMs ?? Date.UTC(2025, 0, 6);
    this.coolantC = options.initialCoolantC ?? this.ambientC();
    this.iatC = this.ambientC();
    this.catC = this.coolantC;
    const misfireCylinder = this.fault?.kind === 'misfire' ? this.fault.cylinder : undefined;
    this.ecu = new EcuMonitors(misfireCylinder ? `P030${misfireCylinder}` : 'P0300', this.profile.airMetering === 'maf');
    this.faultSeverity = this.fault ? severityAt(this.fault, this.timeMs) : 0;
  }

  private get thermalMassKjK(): number {
    return this.profile.thermalMassKjK * this.variation.thermalMassFactor;
  }

  get engineRunning(): boolean {
    return this.phase === 'running' || this.phase === 'cranking';
  }

  /** True while the ignition is on (an OBD-II reader gets answers). */
  get ignitionOn(): boolean {
    return this.phase !== 'off';
  }

  /** The current trip's segments are done and the car has stopped. */
  get tripFinished(): boolean {
    return this.cycle?.finished ?? true;
  }

  get coolantTemperatureC(): number {
    return this.coolantC;
  }

  get segment(): RoadDemand['segment'] {
    return this.demand.segment;
  }

  /** Ambient air temperature now: daily mean ± 5 °C, warmest at 15:00; the mean itself swings over weeks. */
  ambientC(atMs = this.timeMs): number {
    const hour = (atMs / 3_600_000) % 24;
    const weather = this.variation.weatherSwingC * Math.sin((atMs / (23 * 86_400_000)) * 2 * Math.PI + this.weatherPhase);
    return this.ambientMeanC + weather + 5 * Math.sin(((hour - 9) / 24) * 2 * Math.PI);
  }

  private baroKpa(): number {
    // Weather: a slow swell of ±1 kPa over about four days.
    return this.baseBaroKpa + Math.sin(this.timeMs / (4 * 86_400_000) * 2 * Math.PI);
  }

  /** Turns the key: a few seconds of ignition on, cranking, then the engine runs the trip. */
  startTrip(segments: readonly Segment[]): void {
    this.cycle = new CycleFollower(segments, this.rng.fork(`trip-${this.timeMs}`), this.styleParams.speedFactor);
    if (this.variation.accessoriesVaryByTrip) this.accessoryA = this.rng.fork(`load-${this.timeMs}`).uniform(0, 20);
    this.phase = 'key_on';
    this.phaseLeftS = this.rng.uniform(2, 5);
    this.runTimeS = 0;
    this.speedMs = 0;
    this.gear = 0;
    this.rpm = 0;
    this.stft = 0;
    this.ecu.startTrip({ coolantC: this.coolantC, ambientC: this.ambientC() });
  }

  /** Switches the engine off at the end of a trip; the ECU closes its drive cycle. */
  endTrip(): void {
    if (this.phase === 'off') return;
    this.phase = 'off';
    this.rpm = 0;
    this.speedMs = 0;
    this.cycle = undefined;
    this.ecu.endTrip();
  }

  /**
   * Lets `durationS` pass with the engine off: coolant, intake and catalyst cool towards
   * ambient, the battery loses its parasitic drain. Closed-form, so a night costs one call.
   */
  park(durationS: number): void {
    if (this.engineRunning) this.endTrip();
    this.phase = 'off';
    const midAmbient = this.ambientC(this.timeMs + (durationS * 1000) / 2);
    const tau = (this.thermalMassKjK * 1000) / 9; // ~1.5 h for a small engine
    this.coolantC = midAmbient + (this.coolantC - midAmbient) * Math.exp(-durationS / tau);
    this.catC = midAmbient + (this.catC - midAmbient) * Math.exp(-durationS / 1500);
    // Under-bonnet heat soak keeps the intake warm for a while after stopping.
    this.iatC = midAmbient + (this.coolantC - midAmbient) * 0.35;
    this.soc = clamp(this.soc - (0.03 * durationS) / 3600 / BATTERY_AH, 0, 1);
    this.timeMs += Math.round(durationS * 1000);
    this.updateFault();
  }

  /**
   * Advances the model by `dtS` seconds (any positive value). The physics never steps more than
   * MAX_SUBSTEP_S at a time, so a car read at 0.5 Hz drives like the same car read at 10 Hz: the
   * poll rate is the observer's choice and must not change the engine.
   */
  step(dtS: number): void {
    let left = dtS;
    while (left > 1e-9) {
      const dt = Math.min(MAX_SUBSTEP_S, left);
      this.substep(dt);
      // A code was just confirmed: the ECU keeps the signals of this moment (without sensor noise,
      // so that capturing them draws no random number and leaves the rest of the run unchanged).
      if (this.ecu.freezeFrameWanted !== undefined) this.ecu.storeFreezeFrame(this.readWith(NOISELESS), this.timeMs);
      left -= dt;
    }
  }

  groundTruth(): GroundTruth {
    return groundTruthAt(this.fault, this.timeMs);
  }

  /** Stored (confirmed) and pending DTCs, as services 03 and 07 report them. */
  dtcs(): ActiveDtcs {
    return this.ecu.dtcs();
  }

  get milOn(): boolean {
    return this.ecu.milOn;
  }

  /** Codes, permanent codes, MIL and readiness since the last clear (simulator/ecu-monitors.ts). */
  diagnosis(): EcuDiagnosis {
    return this.ecu.diagnosis();
  }

  /** Frame 0: the signals when the first confirmed code was set, and that code. */
  freezeFrame(): StoredFreezeFrame<VehicleSignals> | undefined {
    return this.ecu.storedFreezeFrame;
  }

  /** Service 04: erases confirmed and pending codes, the freeze frame and readiness (not permanent codes). */
  clearDiagnostics(): void {
    this.ecu.clear();
  }

  private severity(kind: FaultKind): number {
    return this.fault?.kind === kind ? this.faultSeverity : 0;
  }

  private updateFault(): void {
    if (this.fault) this.faultSeverity = severityAt(this.fault, this.timeMs);
  }

  private substep(dt: number): void {
    this.timeMs += dt * 1000;
    this.updateFault();
    switch (this.phase) {
      case 'off':
        this.coolOff(dt);
        return;
      case 'key_on':
        this.phaseLeftS -= dt;
        this.coolOff(dt);
        this.electrical(dt, 8);
        if (this.phaseLeftS <= 0) {
          this.phase = 'cranking';
          this.phaseLeftS = 1;
        }
        return;
      case 'cranking':
        this.phaseLeftS -= dt;
        this.rpm = 250;
        this.electrical(dt, 8);
        if (this.phaseLeftS <= 0) {
          this.phase = 'running';
          this.rpm = this.idleTargetRpm() + 450;
          // Cranking draws ~150 A for a second.
          this.soc = clamp(this.soc - 150 / 3600 / BATTERY_AH, 0, 1);
          this.run(0.05); // settle the air path so the first running sample is consistent
        }
        return;
      case 'running':
        this.run(dt);
    }
  }

  private coolOff(dt: number): void {
    const amb = this.ambientC();
    const tau = (this.thermalMassKjK * 1000) / 9;
    this.coolantC = amb + (this.coolantC - amb) * Math.exp(-dt / tau);
    this.catC = amb + (this.catC - amb) * Math.exp(-dt / 1500);
  }

  private idleTargetRpm(): number {
    // Cold engines idle faster until the coolant warms up.
    const coldBoost = clamp((60 - this.coolantC) * 7, 0, 450);
    return this.profile.idleRpm + this.idleOffsetRpm + coldBoost;
  }

  private run(dt: number): void {
    const p = this.profile;
    const s = this.styleParams;
    const r = this.rng;
    this.runTimeS += dt;
    const baro = this.baroKpa();
    const amb = this.ambientC();

    // --- Driver: target speed → acceleration request (with a jerk limit).
    const speedKmh = this.speedMs * 3.6;
    this.demand = this.cycle ? this.cycle.update(dt, speedKmh) : { targetKmh: 0, grade: 0, segment: 'idle' };
    const errMs = (this.demand.targetKmh + r.normal(0, 0.8) - speedKmh) / 3.6;
    const wanted = clamp(errMs * s.gain * 2, -s.maxDecel, s.maxAccel);
    this.accelCmd += (wanted - this.accelCmd) * Math.min(1, dt / 0.9);
    if (this.demand.targetKmh === 0 && this.speedMs < 0.6) {
      this.speedMs = 0;
      this.accelCmd = Math.min(0, this.accelCmd);
    }

    // --- Gearbox: pick a gear by engine speed, with the driver's shift points.
    const ratioOf = (g: number): number => (p.gearRatios[g - 1] ?? 1) * p.finalDrive;
    const rpmIn = (g: number): number => ((this.speedMs / p.wheelRadiusM) * ratioOf(g) * 60) / (2 * Math.PI);
    this.shiftCooldownS -= dt;
    if (this.speedMs === 0) {
      this.gear = this.accelCmd > 0.05 ? 1 : 0;
    } else if (this.gear === 0) {
      this.gear = 1;
    } else if (this.shiftCooldownS <= 0) {
      if (rpmIn(this.gear) > s.upshiftRpm && this.gear < p.gearRatios.length) {
        this.gear++;
        this.shiftCooldownS = 2;
      } else if (this.gear > 1 && (rpmIn(this.gear) < s.downshiftRpm || (this.accelCmd > s.maxAccel * 0.8 && rpmIn(this.gear - 1) < s.upshiftRpm))) {
        this.gear--;
        this.shiftCooldownS = 2;
      }
    }
    if (this.gear > 0 && this.speedMs < 1.2 && this.accelCmd <= 0) this.gear = 0; // clutch in, rolling to a stop

    // --- Road load and the torque the wheels need.
    const v = this.speedMs;
    const resist = 0.5 * AIR_DENSITY * p.cdA * v * v + (v > 0.1 ? p.rollingResistance * p.massKg * G : 0) + p.massKg * G * this.demand.grade * (v > 0.1 ? 1 : 0);
    const inertia = p.massKg * 1.06;
    const idleTarget = this.idleTargetRpm();
    const friction = this.frictionNm(Math.max(this.rpm, idleTarget));
    const accessoryNm = this.alternatorTorqueNm();
    let brakeTorque = 0; // engine brake (output) torque, Nm
    let accel = this.accelCmd;

    if (this.gear === 0) {
      // Neutral: idle speed control.
      // Ornstein-Uhlenbeck: the same hunting whatever the step (noise grows with √dt).
      this.idleHunt += -this.idleHunt * 0.5 * dt + r.normal(0, 1.15 * (10 * this.variation.idleHuntScale + 500 * this.misfireRate)) * Math.sqrt(dt);
      // Slow idle-up and -down (electrical loads, after coasting): Ornstein-Uhlenbeck, τ = 20 s.
      if (this.variation.idleWanderRpm > 0) this.idleWander += -this.idleWander * 0.05 * dt + r.normal(0, this.variation.idleWanderRpm * Math.sqrt(0.1)) * Math.sqrt(dt);
      const vacuumIdleLift = this.leakGs * 60 * (p.airMetering === 'map' ? 1 : 0.5);
      const targetRpm = idleTarget + vacuumIdleLift + this.idleHunt + this.idleWander;
      this.rpm += (targetRpm - this.rpm) * Math.min(1, dt * 1.2);
      if (v > 0) accel = Math.min(accel, -resist / inertia - 0.8); // brakes bring it to a stop
    } else {
      const ratio = ratioOf(this.gear);
      const wheelRpm = rpmIn(this.gear);
      const launchRpm = idleTarget + 250 + 500 * clamp(this.accelCmd / s.maxAccel, 0, 1);
      const slipping = wheelRpm < idleTarget * 1.15 && this.accelCmd > 0;
      this.rpm = slipping ? Math.max(wheelRpm, launchRpm) : Math.max(wheelRpm, idleTarget * 0.75);
      const maxTorque = this.maxBrakeTorqueNm(this.rpm, baro);
      let wheelForce = inertia * this.accelCmd + resist;
      brakeTorque = (wheelForce * p.wheelRadiusM) / (ratio * DRIVELINE_EFFICIENCY);
      if (brakeTorque > maxTorque) {
        brakeTorque = maxTorque;
        wheelForce = (brakeTorque * ratio * DRIVELINE_EFFICIENCY) / p.wheelRadiusM;
        accel = (wheelForce - resist) / inertia;
      }
      // Closed throttle: the engine brakes with its friction; the service brakes do the rest.
      if (brakeTorque < -friction) brakeTorque = -friction;
    }
    this.speedMs = Math.max(0, this.speedMs + accel * dt);
    if (this.gear === 0 && this.demand.targetKmh === 0 && this.speedMs < 0.6) this.speedMs = 0;
    this.rpm = clamp(this.rpm, 0, p.redlineRpm);

    // --- Air path: manifold pressure from the torque asked of the engine.
    const misfire = this.severity('misfire');
    this.misfireRate = 0.14 * misfire ** 2.2;
    const filter = this.severity('clogged_air_filter');
    const rpm = Math.max(this.rpm, 1);
    const mapZero = 18 + 14 * (800 / rpm) ** 0.8 + this.variation.mapZeroOffsetKpa; // MAP at which the engine makes no net torque
    const mapClosed = 14 + 10 * (800 / rpm);
    const maxAirGs = this.airFlowGs(p.redlineRpm * 0.9, baro, this.iatC);
    const neededNm = Math.max(0, brakeTorque) + accessoryNm;
    const cleanMax = this.maxBrakeTorqueNm(rpm, baro, false) + accessoryNm;
    this.fuelCut = brakeTorque <= -friction * 0.95 && this.gear > 0 && rpm > 1300 && this.coolantC > 35;
    let map: number;
    if (this.fuelCut) {
      map = mapClosed;
    } else {
      // Misfiring cylinders make no torque: the rest need more air.
      const perCharge = neededNm / Math.max(1e-6, 1 - this.misfireRate);
      map = (mapZero + (baro - mapZero) * clamp(perCharge / cleanMax, 0, 1.2)) * (1 + 0.8 * this.misfireRate);
    }
    // A clogged filter drops pressure in proportion to flow², capping what the engine can draw.
    const filterDropMax = 28 * filter ** 1.5;
    const guessAir = this.airFlowGs(rpm, map, this.iatC);
    const upstream = baro - filterDropMax * (guessAir / maxAirGs) ** 1.3 - 0.5;
    map = clamp(map, mapClosed, upstream - 0.3);
    this.mapKpa = map;
    this.airGs = this.airFlowGs(rpm, map, this.iatC);
    this.wot = map > upstream - 4 && neededNm > 0.85 * cleanMax;
    // A vacuum leak admits air behind the throttle, more with more vacuum.
    this.leakGs = 1.9 * (p.displacementL / 1.5) * this.severity('vacuum_leak') * Math.sqrt(clamp((baro - map) / baro, 0, 1));
    const throttleAir = Math.max(0, this.airGs - this.leakGs);
    const pr = map / upstream;
    const psi = pr < 0.53 ? 1 : Math.sqrt(Math.max(0.0025, 1 - ((pr - 0.53) / 0.47) ** 2));
    const wotFlow = maxAirGs * (upstream / baro);
    this.throttleRel = this.fuelCut ? 0 : clamp((throttleAir / wotFlow / psi) * 0.85, 0, 1);
    const density = Math.sqrt(298 / (273 + this.iatC));
    this.loadPct = clamp((100 * map * density) / 101.3, 0, 100);

    // --- Fuel control: closed loop on the O2 sensor, LTFT learns per airflow cell.
    const mafFactor = 1 - 0.33 * this.severity('maf_drift');
    const ecuAir = p.airMetering === 'maf' ? throttleAir * mafFactor : this.airGs - 0.45 * this.leakGs;
    // Correction the engine really needs (fraction): unmetered air and calibration bias; a
    // misfire leaves oxygen in the exhaust, which the O2 sensor reads as lean.
    const needed = this.airGs / Math.max(0.05, ecuAir) - 1 + this.calibrationBias + 1.1 * this.misfireRate;
    this.closedLoop = this.coolantC >= 40 && this.runTimeS > 25 && !this.fuelCut && !this.wot;
    const idleAir = this.airFlowGs(p.idleRpm, 32, 40);
    this.ltftBlend = clamp((this.airGs / idleAir - 1.6) / 2, 0, 1);
    const ltft = this.ltftIdle * (1 - this.ltftBlend) + this.ltftLoad * this.ltftBlend;
    if (this.closedLoop) {
      const target = clamp(needed * 100 - ltft, -STFT_LIMIT, STFT_LIMIT);
      this.stft += (target - this.stft) * Math.min(1, dt * 0.7);
      // LTFT absorbs what STFT has to hold, in the cell that is active.
      if (Math.abs(this.stft) > 1.5) {
        const learn = this.stft * Math.min(1, dt / 45);
        if (this.ltftBlend < 0.5) this.ltftIdle = clamp(this.ltftIdle + learn * (1 - this.ltftBlend) * 2, -LTFT_LIMIT, LTFT_LIMIT);
        else this.ltftLoad = clamp(this.ltftLoad + learn * this.ltftBlend, -LTFT_LIMIT, LTFT_LIMIT);
      }
    } else {
      this.stft = 0;
    }
    const totalCorr = this.closedLoop ? (this.stft + ltft) / 100 : ltft / 100;
    this.lambdaError = (1 + needed) / (1 + totalCorr) - 1; // > 0: lean
    const enrich = this.wot ? 1.12 : this.coolantC < 40 ? 1 + (40 - this.coolantC) * 0.004 : 1;
    const fuelGs = this.fuelCut ? 0 : ((ecuAir / STOICH) * (1 + totalCorr) * enrich);
    this.fuelL = Math.max(0, this.fuelL - (fuelGs * dt) / FUEL_DENSITY_G_PER_L);
    this.o2Phase += 2 * Math.PI * (0.4 + rpm / 1800) * dt;

    // --- Ignition timing: base map, knock retard when lugging, idle speed control.
    if (this.gear === 0 && this.speedMs === 0) {
      this.timingDeg = 5 + 0.04 * (idleTarget - this.rpm) + r.normal(0, this.variation.idleTimingNoiseDeg + 30 * this.misfireRate);
    } else {
      const lug = 12 * clamp((map - 75) / 25, 0, 1) * clamp((2000 - rpm) / 800, 0, 1);
      this.timingDeg = 3 + Math.min(15, 0.008 * (rpm - 800)) + 0.45 * (60 - map) - lug + r.normal(0, 1.5);
    }
    if (this.runTimeS < 40) this.timingDeg -= 6; // catalyst heating after a start
    this.timingDeg = clamp(this.timingDeg, -20, 45);

    // --- Cooling: combustion heat in; thermostat, radiator, fan and block losses out.
    const leak = this.severity('coolant_leak');
    const fuelPowerW = fuelGs * FUEL_LHV_J_PER_G * (1 - 0.8 * this.misfireRate);
    // Above 118 °C the ECU protects the engine (limp home): it cuts cylinders and so heat.
    const limp = this.coolantC > 118 ? Math.max(0.25, 1 - (this.coolantC - 118) / 10) : 1;
    const heatInW = (fuelPowerW * (this.gear === 0 ? 0.34 : 0.3) + 150) * limp;
    // A sticking thermostat opens late and never fully; a stuck-open one never closes.
    const sticking = this.severity('thermostat_stuck_closed');
    const openC = p.thermostatOpenC + this.variation.thermostatOffsetC + 8 * sticking;
    const u = clamp((this.coolantC - openC) / (p.thermostatFullC - p.thermostatOpenC), 0, 1);
    let thermoTarget = u * u;
    thermoTarget = Math.max(thermoTarget, 0.7 * this.severity('thermostat_stuck_open') ** 1.2);
    thermoTarget = Math.min(thermoTarget, 1 - 0.97 * Math.sqrt(sticking));
    this.thermostat += (thermoTarget - this.thermostat) * Math.min(1, dt / 12);
    if (this.coolantC > p.fanOnC) this.fanOn = true;
    else if (this.coolantC < p.fanOffC) this.fanOn = false;
    const ram = Math.min(1, this.speedMs / 27.8);
    const radiatorUA = (130 + 650 * Math.sqrt(ram) + (this.fanOn ? 350 : 0)) * (1 - 0.88 * leak ** 1.2);
    const lossUA = 15 + 22 * ram;
    const thermalMass = this.thermalMassKjK * 1000 * (1 - 0.35 * leak);
    const dT = this.coolantC - amb;
    this.coolantC += ((heatInW - this.thermostat * radiatorUA * dT - lossUA * dT) / thermalMass) * dt;

    // --- Intake air: ambient plus under-bonnet heat, washed out by driving.
    const soak = 3 + (0.3 * Math.max(0, this.coolantC - amb)) / (1 + this.speedMs / 5);
    this.iatC += (amb + soak - this.iatC) * Math.min(1, dt / 90);

    // --- Catalyst: exhaust heat by airflow; misfired fuel burns in the catalyst.
    const catTarget = this.fuelCut ? 280 : 330 + 200 * Math.sqrt(this.airGs / 10) + 2500 * this.misfireRate;
    this.catC += (catTarget - this.catC) * Math.min(1, dt / (this.catC < catTarget ? 45 : 90));

    this.electrical(dt, 0);
  }

  /** Mechanical and pumping friction (Nm), rising with engine speed. */
  private frictionNm(rpm: number): number {
    return (this.profile.displacementL / 1.5) * (9 + 0.0035 * rpm);
  }

  /** Full-load brake torque at this speed (Nm); a clogged filter takes some away. */
  private maxBrakeTorqueNm(rpm: number, baro: number, withFilter = true): number {
    const p = this.profile;
    const x = (rpm - p.peakTorqueRpm) / (p.peakTorqueRpm * 1.3);
    const shape = clamp(1 - x * x, 0.55, 1);
    const filterLoss = withFilter ? 1 - 0.3 * this.severity('clogged_air_filter') ** 1.5 * clamp(rpm / 4000, 0.2, 1) : 1;
    return p.peakTorqueNm * shape * (baro / 101.3) * filterLoss;
  }

  /** Speed-density air flow (g/s) through the engine at this speed and manifold pressure. */
  private airFlowGs(rpm: number, mapKpa: number, iatC: number): number {
    const p = this.profile;
    const ve = 0.8 + 0.1 * Math.exp(-(((rpm - p.peakTorqueRpm) / 2500) ** 2));
    const rho = (mapKpa * 1000) / (R_AIR * (273.15 + iatC + 10));
    return ve * rho * (p.displacementL / 1000) * (rpm / 120) * 1000;
  }

  private alternatorCapacityA(): number {
    const altRpm = this.rpm * 2.8;
    const rated = 110 * (1 - 0.85 * this.severity('failing_alternator'));
    return altRpm < 1000 ? 0 : rated * (1 - Math.exp(-(altRpm - 1000) / 1200));
  }

  private electricLoadA(extra: number): number {
    const hour = (this.timeMs / 3_600_000) % 24;
    const lights = hour < 6.5 || hour > 19 ? 11 : 0;
    return 14 + this.accessoryA + lights + (this.fanOn ? 16 : 0) + extra;
  }

  private alternatorTorqueNm(): number {
    const w = Math.max(1, (this.rpm * 2 * Math.PI) / 60);
    const powerW = Math.min(this.electricLoadA(0), this.alternatorCapacityA()) * 14 / 0.55;
    return powerW / w;
  }

  /** Charging system: regulator holds the set point while the alternator keeps up; otherwise the battery sags. */
  private electrical(dt: number, keyOnA: number): void {
    const alt = this.severity('failing_alternator');
    const load = this.electricLoadA(keyOnA);
    const capacity = this.phase === 'running' ? this.alternatorCapacityA() : 0;
    const restV = 11.55 + 1.15 * this.soc;
    if (capacity > 0) {
      const smart = this.soc > 0.85 ? this.variation.smartChargingDropV : 0;
      const setPoint = this.profile.regulatorV + this.regulatorOffsetV - smart + clamp((20 - this.ambientC()) * 0.007, -0.1, 0.15) - 0.9 * alt ** 2;
      const charge = setPoint > restV ? 1 + 35 * (1 - this.soc) : 0; // A the battery would accept
      const demand = load + charge;
      if (capacity >= demand) {
        this.voltageV = setPoint - 0.12 * (demand / capacity) ** 3;
        this.soc = clamp(this.soc + (charge * 0.85 * dt) / 3600 / BATTERY_AH, 0, 1);
      } else {
        // Alternator at its limit: it still carries the load first; the battery makes up the rest.
        const deficit = load - capacity;
        if (deficit > 0) {
          this.voltageV = restV - deficit * 0.012;
          this.soc = clamp(this.soc - (deficit * dt) / 3600 / BATTERY_AH, 0, 1);
        } else {
          const share = capacity - load;
          this.voltageV = Math.min(setPoint, restV + share * 0.02);
          this.soc = clamp(this.soc + (share * 0.85 * dt) / 3600 / BATTERY_AH, 0, 1);
        }
      }
    } else {
      this.voltageV = restV - load * 0.012;
      this.soc = clamp(this.soc - (load * dt) / 3600 / BATTERY_AH, 0, 1);
    }
    // Observation for the ECU, once per substep while the engine runs.
    if (this.phase === 'running') {
      const combustions = (this.rpm / 120) * this.profile.cylinders * dt;
      const detected = this.misfireRate > 0 ? combustions * this.misfireRate * (1 + this.noise.normal(0, 0.2)) : 0;
      const cruise = this.demand.segment === 'highway' || this.demand.segment === 'city';
      this.ecu.observe({
        dtS: dt,
        rpm: this.rpm,
        speedKmh: this.speedMs * 3.6,
        coolantC: this.coolantC + this.coolantSensorBias,
        voltageV: this.voltageV,
        totalTrimPct: this.stft + this.ltftIdle * (1 - this.ltftBlend) + this.ltftLoad * this.ltftBlend,
        closedLoop: this.closedLoop,
        misfires: Math.max(0, detected),
        combustions,
        mafPlausibility: this.airGs > 0 ? (Math.max(0, this.airGs - this.leakGs) * (1 - 0.33 * this.severity('maf_drift'))) / this.airGs : Number.NaN,
        steadyCruise: cruise && this.speedMs > 8 && Math.abs(this.accelCmd) < 0.3 && !this.fuelCut,
        runTimeS: this.runTimeS,
      });
    }
  }

  /**
   * The signals an OBD-II reader would see now: sensor noise added, each value quantised to its
   * PID's resolution and inside the catalogue range. MAF-based profiles report MAF, MAP-based
   * ones INTAKE_PRESSURE.
   */
  read(): VehicleSignals {
    return this.readWith(this.noise);
  }

  private readWith(n: Rng): VehicleSignals {
    const p = this.profile;
    const baro = this.baroKpa();
    const running = this.phase === 'running';
    const cranking = this.phase === 'cranking';
    const leak = this.severity('coolant_leak');
    // Steam pockets at the sensor once coolant is low: the reading jumps.
    const aeration = leak > 0.35 && running ? Math.abs(n.normal(0, 6 * (leak - 0.35))) : 0;
    const rpm = running ? this.rpm + n.normal(0, 4) : cranking ? 250 + n.normal(0, 20) : 0;
    const map = running ? this.mapKpa + n.normal(0, 0.4) : baro;
    const voltRipple = this.variation.voltageNoiseV + 0.12 * this.severity('failing_alternator');
    let o2: number;
    if (!running || this.runTimeS < 20) o2 = 0.45 + n.normal(0, 0.01);
    else if (this.fuelCut) o2 = 0.05 + Math.abs(n.normal(0, 0.02));
    else if (this.wot) o2 = 0.84 + n.normal(0, 0.02);
    else o2 = 0.45 + 0.38 * Math.tanh(3 * Math.sin(this.o2Phase)) - 2 * this.lambdaError - 1.5 * this.misfireRate + n.normal(0, 0.03);
    const ltft = this.ltftIdle * (1 - this.ltftBlend) + this.ltftLoad * this.ltftBlend;
    const trimNoise = running && this.closedLoop ? n.normal(0, this.variation.trimNoisePct) : 0;
    const values: VehicleSignals = {
      RPM: q('RPM', rpm),
      SPEED: q('SPEED', this.speedMs * 3.6),
      COOLANT_TEMP: q('COOLANT_TEMP', this.coolantC + this.coolantSensorBias + n.normal(0, 0.25) + aeration),
      ENGINE_LOAD: q('ENGINE_LOAD', running ? this.loadPct + n.normal(0, 0.5) : 0),
      INTAKE_TEMP: q('INTAKE_TEMP', this.iatC + n.normal(0, 0.3)),
      THROTTLE_POS: q('THROTTLE_POS', p.throttleClosedPct + (p.throttleWotPct - p.throttleClosedPct) * (running ? this.throttleRel : 0) + n.normal(0, 0.15)),
      SHORT_FUEL_TRIM_1: q('SHORT_FUEL_TRIM_1', running ? clamp(this.stft + trimNoise, -STFT_LIMIT, STFT_LIMIT) : 0),
      LONG_FUEL_TRIM_1: q('LONG_FUEL_TRIM_1', ltft),
      CONTROL_MODULE_VOLTAGE: q('CONTROL_MODULE_VOLTAGE', this.voltageV + n.normal(0, voltRipple)),
      TIMING_ADVANCE: q('TIMING_ADVANCE', running ? this.timingDeg : 0),
      O2_B1S1: q('O2_B1S1', clamp(o2, 0, 1.1)),
      CATALYST_TEMP_B1S1: q('CATALYST_TEMP_B1S1', Math.max(0, this.catC + this.variation.catalystOffsetC * clamp((this.catC - this.ambientC()) / 300, 0, 1)) + n.normal(0, 1.5)),
      BAROMETRIC_PRESSURE: q('BAROMETRIC_PRESSURE', baro + n.normal(0, 0.2)),
      FUEL_LEVEL: q('FUEL_LEVEL', (100 * this.fuelL) / p.fuelTankL + n.normal(0, 0.8 + 2 * Math.abs(this.accelCmd))),
      RUN_TIME: q('RUN_TIME', running ? this.runTimeS : 0),
    };
    if (p.airMetering === 'maf') {
      const mafRead = running ? Math.max(0, this.airGs - this.leakGs) * (1 - 0.33 * this.severity('maf_drift')) : 0;
      values.MAF = q('MAF', mafRead * this.variation.mafScale * (1 + n.normal(0, 0.01)));
    } else {
      values.INTAKE_PRESSURE = q('INTAKE_PRESSURE', map);
    }
    return values;
  }

  /** Refuels when the tank runs low (between trips). */
  refuelIfLow(): void {
    if (this.fuelL < 0.15 * this.profile.fuelTankL) this.fuelL = this.rng.uniform(0.8, 1) * this.profile.fuelTankL;
  }
}
