/**
 * The feature contract: what one window of one vehicle's telemetry becomes before a model sees it.
 * Ingest (per closed window), the trainer and `fleetpulse train evaluate-drives` all call
 * `computeFeatures`; nothing else computes features, so training and serving cannot drift.
 *
 * Version 2 is built to mean the same on every car and at every poll rate:
 * - **A fixed time grid.** Every signal is read onto a 1 s grid by holding its latest reading for
 *   at most `MAX_HOLD_S` (a slow PID polled every 2–5 s still fills the grid; a signal that stopped
 *   does not). Means, spreads and slopes are taken over grid points, i.e. over time, not over
 *   readings: a car polled at 10 Hz and one polled at 0.5 Hz give the same numbers for the same
 *   drive. Holding the latest reading (rather than averaging readings within a second) keeps a
 *   sensor's noise at the same width whatever the rate.
 * - **Signals are aligned by time**, not by sample: the agent's scheduler puts RPM and coolant in
 *   different requests, so a cross-signal feature reads both from the grid.
 * - **No counts.** Nothing depends on how many samples or batches a window has; a feature needs a
 *   minimum *time* in its operating regime (`MIN_REGIME_S`), else it is absent.
 * - **Absent is absent.** A car without a MAF, an O2 sensor or a voltage PID simply has no feature
 *   that needs it; features are never 0 for "missing". Imputation is the model's business.
 * - **Physical features only.** Each feature measures something a fault changes in an engine
 *   (thermostat regulation, fuel correction at idle, charging voltage …), in physical units, inside
 *   the operating regime where the fault shows. There are no generic per-signal statistics: those
 *   mostly describe the driver and the car model, which is how a model learns the simulator.
 *
 * Guarantees: `FEATURE_NAMES` is a stable ordered list; `FEATURE_SET_ID` changes when it or
 * `FEATURE_VERSION` changes. The result depends only on the set of samples (sorted by event time,
 * a repeated event time counts once, the last one wins, as in InfluxDB), so it is bit-for-bit
 * reproducible. A feature is finite or absent, never NaN or ±Infinity.
 */
import type { SignalName } from '../contracts/signals.ts';
import type { FaultSide } from './training-data.ts';
import type { Sample } from '../contracts/telemetry.ts';
import { fnv1a32 } from '../contracts/topics.ts';

/** Bumped when the computation of an existing feature changes meaning. */
export const FEATURE_VERSION = 2;

/** Grid step (s). */
export const GRID_S = 1;
/** Longest a reading stands for its signal on the grid (s): covers PIDs polled at 0.2 Hz and faster. */
export const MAX_HOLD_S = 6;
/** Least time (s) a window must spend in a feature's regime for the feature to exist. */
export const MIN_REGIME_S = 8;
/**
 * Lag (s) of the changes that measure unsteadiness: long enough that a PID polled at 0.5 Hz has a
 * new reading at both ends, so the measure does not depend on the poll rate.
 */
const STEP_LAG_S = 2;
/**
 * Voltage readings further apart than this (s) are not compared for ripple: over 5 s (a PID polled at
 * 0.2 Hz) a healthy car's voltage follows its electrical load and looks like a failing regulator.
 */
const RIPPLE_STEP_S = 2.5;

/** Engine running (above cranking speed). */
const MIN_RUNNING_RPM = 400;
/** Idle: running and standing, for at least IDLE_SETTLE_S before and after (not a launch or a stop). */
const IDLE_MAX_KMH = 2;
const IDLE_SETTLE_S = 2;
/** Coolant at which every engine's thermostat regulates; below it an engine is warming up. */
const WARM_COOLANT_C = 70;
/** An engine running this long should be warm whatever the weather (s). */
const WARMED_UP_RUN_S = 900;
/** Speed with enough ram air through the radiator. */
const MOVING_KMH = 40;
/** Cruise: moving, not braking on a closed throttle (fuel cut hides the trims). */
const CRUISE_MIN_KMH = 20;
/**
 * Full load: throttle opening (absolute %) and engine speed at which an unrestricted intake is
 * close to ambient pressure and the flow is high enough for a restriction to show (a clogged
 * filter's loss grows with flow²). At 50 % and any speed the part-open throttle itself explains a
 * deficit: window ROC-AUC 0.85 against 0.99 here for a clogged filter at half its failure severity.
 */
const FULL_LOAD_THROTTLE_PCT = 70;
const FULL_LOAD_RPM = 2500;
/** Engine speed at which every alternator delivers close to its rating. */
const CHARGING_RPM = 1500;

/** One signal on the grid: NaN where the signal has no reading within MAX_HOLD_S. */
type Column = Float64Array;

/** A window on the grid, with the raw readings kept for the features that need successive steps. */
export interface Grid {
  readonly n: number;
  /** Seconds from the first reading to each grid point. */
  readonly timeS: Float64Array;
  column(signal: SignalName): Column | undefined;
  /** Raw readings of one signal, in time order: [seconds from the first reading, value]. */
  readings(signal: SignalName): ReadonlyArray<readonly [number, number]>;
}

/** Per grid point: which operating regime the engine is in (false where it cannot be told). */
export interface Regimes {
  running: Uint8Array;
  /** Warm and regulating: coolant ≥ 70 °C. */
  warm: Uint8Array;
  /** Should be warm: running ≥ 15 min, or coolant ≥ 70 °C when run time is not reported. */
  warmedUp: Uint8Array;
  idle: Uint8Array;
  cruise: Uint8Array;
  moving: Uint8Array;
}

/** How a feature is compared with the vehicle's own normal (models/vehicle-baseline.ts). */
export interface BaselineSpec {
  /**
   * Smallest spread (feature unit) a deviation is measured in: the change a mechanic would start
   * to care about (3 °C of coolant, 3 % of fuel trim, 0.15 V of charging voltage), about what one
   * healthy car varies by from day to day and season to season. Keeps a car whose normal looked
   * very steady while it learned from turning the next warm day into an alarm.
   */
  readonly floor: number;
  /** Words for an alert: "<what> 11 °C above this car's normal <when>". */
  readonly what: string;
  readonly when: string;
}

export interface FeatureDefinition {
  readonly name: string;
  readonly unit: string;
  /** Signals the feature reads (every one must be present). */
  readonly needs: readonly SignalName[];
  readonly description: string;
  /**
   * Which way the faults we know move it. A model clips the other side at the healthy median
   * (training-data.ts `InputBounds`): a value on the healthy side is no evidence of anything.
   */
  readonly faultSide: FaultSide;
  /** Whether the vehicle baseline learns this feature's normal and the model sees its deviation. */
  readonly baseline?: BaselineSpec;
  readonly compute: (grid: Grid, regimes: Regimes) => number | undefined;
}

const DEFINITIONS: readonly FeatureDefinition[] = [
  // ---- cooling -------------------------------------------------------------------------------
  {
    name: 'coolant_temp_moving',
    unit: '°C',
    faultSide: 'both',
    needs: ['COOLANT_TEMP', 'SPEED'],
    description: `Mean coolant temperature once the engine should be warm, at ≥ ${MOVING_KMH} km/h: with ram air through the radiator a working thermostat holds its set point; stuck open the engine runs cool, stuck closed or short of coolant it runs hot`,
    baseline: { floor: 3, what: 'coolant', when: 'at speed once warm' },
    compute: (g, r) => meanWhere(g.column('COOLANT_TEMP')!, and(r.warmedUp, r.moving)),
  },
  {
    name: 'coolant_temp_idle',
    unit: '°C',
    faultSide: 'both',
    needs: ['COOLANT_TEMP', 'SPEED', 'RPM'],
    description: 'Mean coolant temperature at idle once warm: the fan, not the thermostat, holds it here; low coolant or a weak fan lets it climb',
    baseline: { floor: 3, what: 'coolant', when: 'at idle once warm' },
    compute: (g, r) => meanWhere(g.column('COOLANT_TEMP')!, and(r.warmedUp, r.idle)),
  },
  {
    name: 'coolant_temp_roughness',
    unit: '°C',
    faultSide: 'high',
    needs: ['COOLANT_TEMP', 'RPM'],
    description: 'Robust spread of coolant temperature about its straight-line trend over the window, engine running: steam pockets at the sensor when coolant runs low make the reading jump',
    baseline: { floor: 0.5, what: 'coolant reading jumps', when: 'with the engine running' },
    compute: (g, r) => residualSpread(g.timeS, g.column('COOLANT_TEMP')!, r.running),
  },
  {
    name: 'coolant_temp_slope_moving',
    unit: '°C/min',
    faultSide: 'both',
    needs: ['COOLANT_TEMP', 'SPEED'],
    description: `Slope of coolant temperature once warm at ≥ ${MOVING_KMH} km/h (°C per minute): a regulating thermostat keeps it flat; stuck open, the engine cools at speed`,
    compute: (g, r) => scaled(slopeWhere(g.timeS, g.column('COOLANT_TEMP')!, and(r.warmedUp, r.moving)), 60),
  },
  // ---- fuel control --------------------------------------------------------------------------
  {
    name: 'fuel_trim_idle',
    unit: '%',
    faultSide: 'high',
    needs: ['SHORT_FUEL_TRIM_1', 'LONG_FUEL_TRIM_1', 'SPEED', 'RPM', 'COOLANT_TEMP'],
    description: 'Mean total fuel trim (STFT + LTFT, bank 1) at warm idle: air the ECU did not meter (a vacuum leak) or oxygen from misfiring cylinders shows most at idle, where intake air is least',
    baseline: { floor: 3, what: 'fuel trim', when: 'at warm idle' },
    compute: (g, r) => meanWhere(sum(g.column('SHORT_FUEL_TRIM_1')!, g.column('LONG_FUEL_TRIM_1')!), and(r.warm, r.idle)),
  },
  {
    name: 'fuel_trim_cruise',
    unit: '%',
    faultSide: 'high',
    needs: ['SHORT_FUEL_TRIM_1', 'LONG_FUEL_TRIM_1', 'SPEED', 'RPM', 'COOLANT_TEMP'],
    description: `Mean total fuel trim (STFT + LTFT, bank 1) when warm and moving at ≥ ${CRUISE_MIN_KMH} km/h: a MAF that under-reads needs correction at every load, a vacuum leak much less than at idle`,
    baseline: { floor: 3, what: 'fuel trim', when: 'when cruising warm' },
    compute: (g, r) => meanWhere(sum(g.column('SHORT_FUEL_TRIM_1')!, g.column('LONG_FUEL_TRIM_1')!), and(r.warm, r.cruise)),
  },
  // ---- air path ------------------------------------------------------------------------------
  {
    name: 'maf_per_rpm_load',
    unit: 'g/s',
    faultSide: 'low',
    needs: ['MAF', 'RPM', 'ENGINE_LOAD'],
    description: 'Mean MAF / (RPM/1000 · load/100) with the engine running above 5 % load: air measured for the work done (a leak behind the sensor, a drifting sensor)',
    baseline: { floor: 0.6, what: 'measured air flow per unit of work', when: 'with the engine running' },
    compute: (g, r) => {
      const maf = g.column('MAF')!;
      const rpm = g.column('RPM')!;
      const load = g.column('ENGINE_LOAD')!;
      const ratio = new Float64Array(g.n).fill(Number.NaN);
      for (let i = 0; i < g.n; i++) if (r.running[i] && load[i]! >= 5) ratio[i] = maf[i]! / ((rpm[i]! / 1000) * (load[i]! / 100));
      return meanWhere(ratio, r.running);
    },
  },
  {
    name: 'manifold_pressure_idle',
    unit: 'kPa',
    faultSide: 'high',
    needs: ['INTAKE_PRESSURE', 'SPEED', 'RPM', 'COOLANT_TEMP'],
    description: 'Mean manifold absolute pressure at warm idle: misfiring cylinders make no torque, so the others need more air to hold idle',
    baseline: { floor: 2.5, what: 'manifold pressure', when: 'at warm idle' },
    compute: (g, r) => meanWhere(g.column('INTAKE_PRESSURE')!, and(r.warm, r.idle)),
  },
  {
    name: 'manifold_pressure_deficit_full_load',
    unit: 'kPa',
    faultSide: 'high',
    needs: ['ENGINE_LOAD', 'THROTTLE_POS', 'INTAKE_TEMP', 'BAROMETRIC_PRESSURE', 'RPM'],
    description: `Mean barometric minus manifold pressure (MAP where reported, else estimated from load and intake temperature) at full load — throttle ≥ ${FULL_LOAD_THROTTLE_PCT} % open at ≥ ${FULL_LOAD_RPM} rpm: an unrestricted intake is within a few kPa of ambient there, a clogged filter takes away pressure in proportion to flow² (at part throttle or low speed the throttle itself explains any deficit)`,
    baseline: { floor: 3, what: 'manifold pressure lost at full load', when: 'at full throttle' },
    compute: (g, r) => {
      const throttle = g.column('THROTTLE_POS')!;
      const rpm = g.column('RPM')!;
      const baro = g.column('BAROMETRIC_PRESSURE')!;
      const map = manifoldPressure(g);
      const deficit = new Float64Array(g.n).fill(Number.NaN);
      const full = new Uint8Array(g.n);
      for (let i = 0; i < g.n; i++) {
        if (!r.running[i] || !(throttle[i]! >= FULL_LOAD_THROTTLE_PCT) || !(rpm[i]! >= FULL_LOAD_RPM)) continue;
        full[i] = 1;
        deficit[i] = baro[i]! - map[i]!;
      }
      return meanWhere(deficit, full, 3);
    },
  },
  // ---- combustion ----------------------------------------------------------------------------
  {
    name: 'rpm_idle_roughness',
    unit: 'rpm',
    faultSide: 'high',
    needs: ['RPM', 'SPEED', 'COOLANT_TEMP'],
    description: `Unsteadiness of engine speed at steady warm idle: the robust spread of its change over ${STEP_LAG_S} s (1.4826 × median |Δ| / √2): a misfiring cylinder makes idle hunt; a step (an idle-up for the A/C or after coasting) counts once, not as unsteadiness`,
    baseline: { floor: 15, what: 'idle speed unsteadiness', when: 'at warm idle' },
    compute: (g, r) => stepSpread(g.column('RPM')!, and(r.warm, r.idle)),
  },
  {
    name: 'timing_idle_roughness',
    unit: '°',
    faultSide: 'high',
    needs: ['TIMING_ADVANCE', 'RPM', 'SPEED', 'COOLANT_TEMP'],
    description: `Unsteadiness of ignition advance at steady warm idle, as for RPM (robust spread of its change over ${STEP_LAG_S} s): idle speed control trims timing against every missed combustion`,
    baseline: { floor: 1.5, what: 'ignition timing unsteadiness', when: 'at warm idle' },
    compute: (g, r) => stepSpread(g.column('TIMING_ADVANCE')!, and(r.warm, r.idle)),
  },
  {
    name: 'catalyst_temp_idle',
    unit: '°C',
    faultSide: 'high',
    needs: ['CATALYST_TEMP_B1S1', 'RPM', 'SPEED', 'COOLANT_TEMP'],
    description: 'Mean catalyst temperature at warm idle: unburnt fuel from misfires burns in the catalyst',
    baseline: { floor: 40, what: 'catalyst temperature', when: 'at warm idle' },
    compute: (g, r) => meanWhere(g.column('CATALYST_TEMP_B1S1')!, and(r.warm, r.idle)),
  },
  // ---- charging ------------------------------------------------------------------------------
  {
    name: 'voltage_charging',
    unit: 'V',
    faultSide: 'low',
    needs: ['CONTROL_MODULE_VOLTAGE', 'RPM'],
    description: `Median control-module voltage at ≥ ${CHARGING_RPM} rpm: the regulator's set point while the alternator keeps up; a failing one sags`,
    baseline: { floor: 0.15, what: 'charging voltage', when: 'above idle' },
    compute: (g, r) => {
      const rpm = g.column('RPM')!;
      const fast = new Uint8Array(g.n);
      for (let i = 0; i < g.n; i++) fast[i] = r.running[i] && rpm[i]! >= CHARGING_RPM ? 1 : 0;
      return medianWhere(g.column('CONTROL_MODULE_VOLTAGE')!, fast);
    },
  },
  {
    name: 'voltage_idle',
    unit: 'V',
    faultSide: 'low',
    needs: ['CONTROL_MODULE_VOLTAGE', 'RPM', 'SPEED'],
    description: 'Median control-module voltage at idle: a weak alternator cannot carry the load at idle speed',
    baseline: { floor: 0.2, what: 'voltage', when: 'at idle' },
    compute: (g, r) => medianWhere(g.column('CONTROL_MODULE_VOLTAGE')!, r.idle),
  },
  {
    name: 'voltage_ripple',
    unit: 'V',
    faultSide: 'high',
    needs: ['CONTROL_MODULE_VOLTAGE', 'RPM'],
    description: `Median |change| between successive voltage readings at most ${RIPPLE_STEP_S} s apart with the engine running: a failing regulator ripples; the median ignores load switching. Readings further apart see the load change, not the ripple (a car whose voltage is polled slower than every ${RIPPLE_STEP_S} s has no ripple feature)`,
    baseline: { floor: 0.015, what: 'voltage ripple', when: 'with the engine running' },
    compute: (g, r) => {
      const readings = g.readings('CONTROL_MODULE_VOLTAGE');
      const rpm = g.readings('RPM');
      if (rpm.length === 0) return undefined;
      const steps: number[] = [];
      let j = 0;
      for (let i = 1; i < readings.length; i++) {
        const [t, v] = readings[i]!;
        const [t0, v0] = readings[i - 1]!;
        if (t - t0 > RIPPLE_STEP_S) continue;
        while (j + 1 < rpm.length && rpm[j + 1]![0] <= t) j++;
        if (rpm[j]![1] < MIN_RUNNING_RPM || Math.abs(rpm[j]![0] - t) > MAX_HOLD_S) continue;
        steps.push(Math.abs(v - v0));
      }
      // Needs enough steps for a median; at 0.2 Hz a window has five.
      void r;
      return steps.length >= 4 ? median(steps) : undefined;
    },
  },
];

/** Every feature definition, in the order models take them. */
export const FEATURE_DEFINITIONS: readonly FeatureDefinition[] = DEFINITIONS;

/** The features of a window, in the order models take them. */
export const WINDOW_FEATURE_NAMES: readonly string[] = DEFINITIONS.map((d) => d.name);

/** Features the vehicle baseline learns; the model also sees `<name>_dev` for each. */
export const BASELINE_FEATURES: readonly FeatureDefinition[] = DEFINITIONS.filter((d) => d.baseline !== undefined);

/** The fault side of a model input (a deviation has its feature's); 'both' for names not in the contract. */
export function featureFaultSide(name: string): FaultSide {
  return byName.get(name.endsWith('_dev') ? name.slice(0, -4) : name)?.faultSide ?? 'both';
}

/** Name of the deviation feature of a baseline feature. */
export function deviationName(feature: string): string {
  return `${feature}_dev`;
}

/** Everything a model takes: window features, then deviations from the vehicle's baseline. */
export const FEATURE_NAMES: readonly string[] = [...WINDOW_FEATURE_NAMES, ...BASELINE_FEATURES.map((d) => deviationName(d.name))];

/** Changes whenever FEATURE_NAMES or FEATURE_VERSION changes: `v<version>-<fnv1a32 of the names>`. */
export const FEATURE_SET_ID = `v${FEATURE_VERSION}-${fnv1a32(FEATURE_NAMES.join(',')).toString(16).padStart(8, '0')}`;

const byName = new Map(DEFINITIONS.map((d) => [d.name, d]));

export function featureDefinition(name: string): FeatureDefinition | undefined {
  return byName.get(name);
}

/** Human-readable description of every feature, for docs and the trainer's report. */
export function describeFeatures(): Array<{ name: string; unit: string; description: string }> {
  return [
    ...DEFINITIONS.map((d) => ({ name: d.name, unit: d.unit, description: d.description })),
    ...BASELINE_FEATURES.map((d) => ({
      name: deviationName(d.name),
      unit: 'spreads',
      description: `Deviation of ${d.name} from this vehicle's own learned normal, in units of its normal spread (at least ${d.baseline!.floor} ${d.unit}); absent while the vehicle is learning`,
    })),
  ];
}

/** Present features only, keyed by name. */
export type FeatureVector = Record<string, number>;

/**
 * Context of a window that is not a model input: how long the engine ran, and ran warm, in it
 * (seconds on the grid). The baseline counts its learning time in `warm_running_s`.
 */
export const WINDOW_CONTEXT_NAMES = ['running_s', 'warm_running_s'] as const;

/**
 * Window features of one window's samples, plus the context values (WINDOW_CONTEXT_NAMES); not
 * the deviations: those need the vehicle's history (models/vehicle-baseline.ts). Samples need not
 * be sorted or unique.
 */
export function computeFeatures(input: readonly Sample[]): FeatureVector {
  const out: FeatureVector = {};
  const grid = buildGrid(input);
  if (grid.n === 0) return out;
  const regimes = classify(grid);
  out.running_s = count(regimes.running) * GRID_S;
  out.warm_running_s = count(regimes.warm) * GRID_S;
  for (const d of DEFINITIONS) {
    if (!d.needs.every((s) => grid.column(s) !== undefined)) continue;
    const v = d.compute(grid, regimes);
    if (v !== undefined && Number.isFinite(v)) out[d.name] = v;
  }
  return out;
}

/**
 * The vector in FEATURE_NAMES order (or a model's own order), `undefined` where a feature is
 * absent: imputation is the model's business, not the contract's.
 */
export function featureArray(features: FeatureVector, names: readonly string[] = FEATURE_NAMES): Array<number | undefined> {
  return names.map((n) => features[n]);
}

// ---- the grid -----------------------------------------------------------------------------------

/** Reads every signal of the window onto the 1 s grid (see the module header). */
export function buildGrid(input: readonly Sample[]): Grid {
  const samples = normalise(input);
  if (samples.length === 0) return { n: 0, timeS: new Float64Array(0), column: () => undefined, readings: () => [] };
  const t0 = samples[0]!.t;
  const spanS = (samples[samples.length - 1]!.t - t0) / 1000;
  const n = Math.floor(spanS / GRID_S) + 1;
  const timeS = new Float64Array(n);
  for (let k = 0; k < n; k++) timeS[k] = k * GRID_S;
  const readings = new Map<string, Array<readonly [number, number]>>();
  for (const s of samples) {
    const ts = (s.t - t0) / 1000;
    for (const key in s) {
      if (key === 't') continue;
      const v = (s as Record<string, number | undefined>)[key];
      if (v === undefined || !Number.isFinite(v)) continue;
      let list = readings.get(key);
      if (!list) readings.set(key, (list = []));
      list.push([ts, v]);
    }
  }
  const columns = new Map<string, Column>();
  const column = (signal: string): Column | undefined => {
    let c = columns.get(signal);
    if (c) return c;
    const list = readings.get(signal);
    if (!list) return undefined;
    c = new Float64Array(n).fill(Number.NaN);
    let j = -1;
    for (let k = 0; k < n; k++) {
      const at = timeS[k]! + 1e-9;
      while (j + 1 < list.length && list[j + 1]![0] <= at) j++;
      if (j >= 0 && timeS[k]! - list[j]![0] <= MAX_HOLD_S + 1e-9) c[k] = list[j]![1];
    }
    columns.set(signal, c);
    return c;
  };
  return { n, timeS, column, readings: (signal) => readings.get(signal) ?? [] };
}

/** Operating regime per grid point. */
export function classify(g: Grid): Regimes {
  const rpm = g.column('RPM');
  const speed = g.column('SPEED');
  const coolant = g.column('COOLANT_TEMP');
  const runTime = g.column('RUN_TIME');
  const r: Regimes = {
    running: new Uint8Array(g.n),
    warm: new Uint8Array(g.n),
    warmedUp: new Uint8Array(g.n),
    idle: new Uint8Array(g.n),
    cruise: new Uint8Array(g.n),
    moving: new Uint8Array(g.n),
  };
  for (let i = 0; i < g.n; i++) {
    const running = rpm !== undefined && rpm[i]! >= MIN_RUNNING_RPM;
    if (!running) continue;
    r.running[i] = 1;
    const c = coolant?.[i];
    const warm = c !== undefined && c >= WARM_COOLANT_C;
    r.warm[i] = warm ? 1 : 0;
    const rt = runTime?.[i];
    r.warmedUp[i] = rt !== undefined && !Number.isNaN(rt) ? (rt >= WARMED_UP_RUN_S ? 1 : 0) : warm ? 1 : 0;
    const v = speed?.[i];
    if (v === undefined || Number.isNaN(v)) continue;
    r.moving[i] = v >= MOVING_KMH ? 1 : 0;
    r.cruise[i] = v >= CRUISE_MIN_KMH ? 1 : 0;
  }
  // Steady idle: standing for IDLE_SETTLE_S on both sides, so a launch (clutch slipping at a few
  // km/h) or the last seconds of braking do not count as idle, whatever the poll rate.
  const settle = Math.round(IDLE_SETTLE_S / GRID_S);
  for (let i = settle; i < g.n - settle; i++) {
    let standing = r.running[i] === 1;
    for (let k = i - settle; standing && k <= i + settle; k++) standing = speed !== undefined && speed[k]! <= IDLE_MAX_KMH;
    r.idle[i] = standing ? 1 : 0;
  }
  return r;
}

/**
 * Manifold absolute pressure (kPa) per grid point: the MAP sensor where the engine reports one;
 * otherwise estimated from calculated load, which scales with MAP × the intake air density
 * correction √(298 K / intake temperature).
 */
function manifoldPressure(g: Grid): Column {
  const map = g.column('INTAKE_PRESSURE');
  if (map) return map;
  const load = g.column('ENGINE_LOAD')!;
  const iat = g.column('INTAKE_TEMP')!;
  const out = new Float64Array(g.n);
  for (let i = 0; i < g.n; i++) out[i] = (load[i]! * 1.013) / Math.sqrt(298 / (273 + iat[i]!));
  return out;
}

// ---- statistics over grid points ------------------------------------------------------------------

function and(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! & b[i]!;
  return out;
}

function count(a: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) n += a[i]!;
  return n;
}

function not(a: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ? 0 : 1;
  return out;
}

function sum(a: Column, b: Column): Column {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! + b[i]!;
  return out;
}

function scaled(x: number | undefined, k: number): number | undefined {
  return x === undefined ? undefined : x * k;
}

/** Grid points where the mask holds and the value exists; undefined below `min` points. */
function selected(x: Column, mask: Uint8Array, min = MIN_REGIME_S / GRID_S): number[] | undefined {
  const out: number[] = [];
  for (let i = 0; i < x.length; i++) if (mask[i] && !Number.isNaN(x[i]!)) out.push(i);
  return out.length >= min ? out : undefined;
}

function meanWhere(x: Column, mask: Uint8Array, min?: number): number | undefined {
  const idx = selected(x, mask, min);
  if (!idx) return undefined;
  let s = 0;
  for (const i of idx) s += x[i]!;
  return s / idx.length;
}

function medianWhere(x: Column, mask: Uint8Array): number | undefined {
  const idx = selected(x, mask);
  return idx ? median(idx.map((i) => x[i]!)) : undefined;
}

/** Least-squares slope of x over time (per second) on the selected grid points. */
function slopeWhere(timeS: Float64Array, x: Column, mask: Uint8Array): number | undefined {
  const idx = selected(x, mask);
  if (!idx) return undefined;
  return fitLine(idx.map((i) => timeS[i]!), idx.map((i) => x[i]!))?.slope;
}

/**
 * Spread of x about its least-squares line over time, on the selected grid points, as a robust
 * standard deviation (1.4826 × the median absolute residual): a single step (a gear change, the
 * fan switching) does not count, a signal that keeps jumping does.
 */
function residualSpread(timeS: Float64Array, x: Column, mask: Uint8Array): number | undefined {
  const idx = selected(x, mask);
  if (!idx) return undefined;
  const ts = idx.map((i) => timeS[i]!);
  const xs = idx.map((i) => x[i]!);
  const line = fitLine(ts, xs) ?? { slope: 0, intercept: xs[0]! };
  const residuals = xs.map((v, k) => Math.abs(v - (line.intercept + line.slope * ts[k]!)));
  return 1.4826 * median(residuals)!;
}

/**
 * Robust spread of a signal's changes over STEP_LAG_S on the grid where the mask holds at both
 * ends: 1.4826 × median |x(t + lag) − x(t)| / √2 (for noise, the noise's standard deviation).
 * The median ignores the few large changes of a step.
 */
function stepSpread(x: Column, mask: Uint8Array): number | undefined {
  const lag = Math.round(STEP_LAG_S / GRID_S);
  const changes: number[] = [];
  for (let i = 0; i + lag < x.length; i++) {
    if (!mask[i] || !mask[i + lag] || Number.isNaN(x[i]!) || Number.isNaN(x[i + lag]!)) continue;
    changes.push(Math.abs(x[i + lag]! - x[i]!));
  }
  if (changes.length < (MIN_REGIME_S - STEP_LAG_S) / GRID_S) return undefined;
  return (1.4826 * median(changes)!) / Math.SQRT2;
}

function fitLine(xs: readonly number[], ys: readonly number[]): { slope: number; intercept: number } | undefined {
  const n = xs.length;
  if (n < 2) return undefined;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += xs[i]!;
    my += ys[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  if (sxx === 0) return undefined;
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function normalise(input: readonly Sample[]): Sample[] {
  const sorted = [...input].sort((a, b) => a.t - b.t);
  const unique: Sample[] = [];
  for (const s of sorted) {
    if (unique.length > 0 && unique[unique.length - 1]!.t === s.t) unique[unique.length - 1] = s;
    else unique.push(s);
  }
  return unique;
}
