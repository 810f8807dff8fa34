/**
 * Driver styles: how hard a driver accelerates and brakes, how fast they like to go and where
 * they change gear. The same road demand gives different RPM, load and throttle per style.
 */
export const DRIVER_STYLES = ['calm', 'normal', 'aggressive'] as const;
export type DriverStyle = (typeof DRIVER_STYLES)[number];

export interface DriverStyleParams {
  /** Largest acceleration and deceleration the driver asks for (m/s²). */
  maxAccel: number;
  maxDecel: number;
  /** How eagerly the speed error is closed (1/s). */
  gain: number;
  /** Multiplies cruise speeds. */
  speedFactor: number;
  /** Upshift above / downshift below (rpm). */
  upshiftRpm: number;
  downshiftRpm: number;
}

export const STYLE_PARAMS: Record<DriverStyle, DriverStyleParams> = {
  calm: { maxAccel: 1.0, maxDecel: 1.6, gain: 0.25, speedFactor: 0.93, upshiftRpm: 2100, downshiftRpm: 1100 },
  normal: { maxAccel: 1.6, maxDecel: 2.4, gain: 0.4, speedFactor: 1.0, upshiftRpm: 2600, downshiftRpm: 1200 },
  aggressive: { maxAccel: 2.8, maxDecel: 3.6, gain: 0.7, speedFactor: 1.08, upshiftRpm: 3600, downshiftRpm: 1500 },
};
