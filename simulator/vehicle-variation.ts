/**
 * How much one healthy car differs from its model's nominal physics: calibration and sensor
 * character that vary from car to car in the real world and say nothing about faults.
 *
 * The nominal variation (all factors 1, offsets 0) is the simulator as it always was. The
 * randomised one is drawn for the training fleet so that what a model learns as "healthy" is at
 * least as wide as real logs show — the ranges below come from the carOBD drives of a healthy
 * Toyota Etios (shared/data/carobd, measured with `npm run report:realism`'s data and
 * docs/model-report.md "Real drives"), widened so that one real car sits inside them rather than at
 * their edge:
 * - idle speed hunting: that car's steady warm idle has a robust spread of 11 rpm at the median and
 *   up to 140 rpm (a manual gearbox in traffic: idle-up after coasting, electrical loads), where the
 *   nominal simulator had 8 and at most 18;
 * - ignition timing at idle swings −10…+15° (idle speed control by spark): robust spread up to
 *   7.6° against the nominal 2.7°;
 * - short-term fuel trim: spread 2.4–3.5 % against the nominal 1.6 %;
 * - manifold pressure at warm idle 24–40 kPa against the nominal 35–40 kPa;
 * - catalyst temperature at warm idle 110–540 °C (sensor position) against 440–570 °C;
 * - charging voltage 13.3–14.3 V; voltage quantised at about 0.02 V by its ECU; other cars charge
 *   "smartly" (12.6–13.2 V with a full battery), and thermostats of other makes regulate at
 *   80–105 °C.
 */
import type { Rng } from './rng.ts';

export interface VehicleVariation {
  /** Multiplies the idle controller's hunting noise (Ornstein-Uhlenbeck diffusion). */
  idleHuntScale: number;
  /** Slow idle-speed excursions (rpm, standard deviation): idle-up for loads, after coasting. */
  idleWanderRpm: number;
  /** Standard deviation (°) of spark timing used for idle speed control. */
  idleTimingNoiseDeg: number;
  /** Standard deviation (%) of short-term fuel trim around the controller's value. */
  trimNoisePct: number;
  /** Standard deviation of the fuel calibration error the trims correct (fraction). */
  calibrationSpread: number;
  /** Added to the manifold pressure at which the engine makes no torque (kPa): pumping and cam character. */
  mapZeroOffsetKpa: number;
  /** Added to the catalyst temperature reading (°C): where the sensor sits. */
  catalystOffsetC: number;
  /** Standard deviation (V) of the regulator's set point from the model's nominal. */
  regulatorSpreadV: number;
  /** Standard deviation (V) of the voltage reading's noise. */
  voltageNoiseV: number;
  /** Multiplies the engine's thermal mass (warm-up speed). */
  thermalMassFactor: number;
  /** Added to the thermostat's opening temperature (°C). */
  thermostatOffsetC: number;
  /** Multiplies the MAF sensor's reading (calibration). */
  mafScale: number;
  /** Amplitude (°C) of the weather's swing of the daily mean temperature over weeks. */
  weatherSwingC: number;
  /** Electrical accessories (lights, fan, heated seats) change from trip to trip. */
  accessoriesVaryByTrip: boolean;
  /**
   * "Smart" charging: the set point drops by this much (V) while the battery is nearly full, as
   * many cars since about 2010 do to save fuel; 0 for a classic regulator.
   */
  smartChargingDropV: number;
}

export const NOMINAL_VARIATION: Readonly<VehicleVariation> = Object.freeze({
  idleHuntScale: 1,
  idleWanderRpm: 0,
  idleTimingNoiseDeg: 1.5,
  trimNoisePct: 1.3,
  calibrationSpread: 0.025,
  mapZeroOffsetKpa: 0,
  catalystOffsetC: 0,
  regulatorSpreadV: 0.06,
  voltageNoiseV: 0.008,
  thermalMassFactor: 1,
  thermostatOffsetC: 0,
  mafScale: 1,
  weatherSwingC: 0,
  accessoriesVaryByTrip: false,
  smartChargingDropV: 0,
});

/** A healthy car drawn from the widened real-world ranges (see the module header). */
export function drawVariation(rng: Rng): VehicleVariation {
  const logUniform = (lo: number, hi: number): number => Math.exp(rng.uniform(Math.log(lo), Math.log(hi)));
  return {
    idleHuntScale: logUniform(0.7, 6),
    idleWanderRpm: rng.next() < 0.5 ? 0 : logUniform(10, 120),
    idleTimingNoiseDeg: logUniform(1, 5),
    trimNoisePct: logUniform(0.9, 3.5),
    calibrationSpread: 0.032,
    mapZeroOffsetKpa: rng.uniform(-10, 4),
    catalystOffsetC: rng.uniform(-220, 60),
    regulatorSpreadV: 0.22,
    voltageNoiseV: logUniform(0.004, 0.02),
    thermalMassFactor: logUniform(0.6, 1.5),
    // Thermostats regulate at 80 °C on some engines, above 100 °C on others (map-controlled ones).
    thermostatOffsetC: rng.uniform(-6, 10),
    mafScale: rng.uniform(0.92, 1.08),
    weatherSwingC: rng.uniform(2, 9),
    accessoriesVaryByTrip: true,
    smartChargingDropV: rng.next() < 0.25 ? rng.uniform(0.3, 0.9) : 0,
  };
}
