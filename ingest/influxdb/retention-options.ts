/**
 * The retention options of `fleetpulse ingest` (merged into its option table) and the settings
 * they make. Defaults and what each RP holds: docs/operations.md "Retention and rollups".
 */
import { opt, type ConfigOf } from '../../common/config.ts';
import { ConfigError } from '../../common/errors.ts';
import { DEFAULT_RETENTION, type RetentionSettings } from './retention-policies.ts';

export const retentionOptions = {
  influxRawRetentionDays: opt.int('Days raw telemetry is kept in InfluxDB (RP raw_30d); 0 = forever', { default: DEFAULT_RETENTION.rawDays, min: 0, max: 36_500 }),
  influxRollupRetentionDays: opt.int('Days the 1-minute telemetry rollup (mean/min/max) is kept (RP rollup_1y); 0 = forever', { default: DEFAULT_RETENTION.rollupDays, min: 0, max: 36_500 }),
  influxRollupEveryS: opt.int('How often the rollup continuous query runs (RESAMPLE EVERY), seconds', { default: DEFAULT_RETENTION.rollupEveryS, min: 1, max: 3600 }),
  influxRollupForS: opt.int('How far back each rollup run recomputes (RESAMPLE FOR), seconds: samples arriving later than this stay raw only', { default: DEFAULT_RETENTION.rollupForS, min: 60, max: 86_400 }),
};

export type RetentionConfig = ConfigOf<typeof retentionOptions>;

/** Settings from the options; throws ConfigError naming the option when they contradict each other. */
export function retentionSettingsOf(config: RetentionConfig, context = 'fleetpulse ingest'): RetentionSettings {
  const forever = (days: number): number => (days === 0 ? Infinity : days);
  if (forever(config.influxRollupRetentionDays) < forever(config.influxRawRetentionDays)) {
    throw new ConfigError(context, [{ field: 'influxRollupRetentionDays', message: `must be at least influxRawRetentionDays (${config.influxRawRetentionDays || 'forever'}): a rollup that expires before its raw data saves nothing` }]);
  }
  return { rawDays: config.influxRawRetentionDays, rollupDays: config.influxRollupRetentionDays, rollupEveryS: config.influxRollupEveryS, rollupForS: config.influxRollupForS };
}
