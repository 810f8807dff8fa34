/**
 * The `fleetpulse ingest` options of model scoring and alerting (merged into its option table)
 * and the factory that loads the model and attaches a ScoringPipeline. On by default with the
 * shipped model (models/default/), so `npm start` scores out of the box.
 */
import { join, resolve } from 'node:path';
import { opt, type ConfigOf } from '../../common/config.ts';
import type { Logger } from '../../common/logger.ts';
import { RAISE_AFTER_WINDOWS } from '../../models/evaluation.ts';
import type { IngestService } from '../ingest-service.ts';
import { DEFAULT_LEARN_HOURS } from '../../models/vehicle-baseline.ts';
import { ModelProvider } from './model-provider.ts';
import { ScoringPipeline } from './scoring-pipeline.ts';
import { SharedVehicleState } from './shared-vehicle-state.ts';
import { VehiclePaths } from './vehicle-paths.ts';
import { VehicleStateStore } from './vehicle-state-store.ts';

/** The model shipped with fleetpulse. */
export const DEFAULT_MODEL_PATH = join(import.meta.dirname, '..', '..', 'models', 'default', 'model.onnx');

export const scoringOptions = {
  scoring: opt.boolean('Score closed windows with the anomaly model and raise alerts (--no-scoring: features only)', { default: true }),
  model: opt.string('Model file (.onnx with its .json) or a directory of model versions, reloaded on change (default: the shipped models/default/model.onnx)', { default: '-' }),
  modelPollMs: opt.int('How often the model files are checked for a new version (ms; 0 = no hot reload)', { default: 2000, min: 0, max: 3_600_000 }),
  scoreBatchSize: opt.int('Windows per inference batch at most (a batch runs when this many are waiting)', { default: 256, min: 1, max: 65_536 }),
  scoreMaxDelayMs: opt.int('Longest time a closed window waits for its inference batch (ms)', { default: 200, min: 1, max: 60_000 }),
  scoreMaxQueue: opt.int('Windows waiting for scoring at most; beyond, windows are not scored (counted)', { default: 100_000, min: 1 }),
  alertRaiseWindows: opt.int('Consecutive anomalous windows that raise an alert', { default: RAISE_AFTER_WINDOWS, min: 1, max: 1000 }),
  alertClearWindows: opt.int('Consecutive normal windows that clear an alert', { default: 3, min: 1, max: 1000 }),
  alertStateFile: opt.string('Alert state file (default <dataDir>/ingest-alerts/<influxDatabase>/<clientId>.json)', { default: '-' }),
  vehicleStateFile: opt.string("Vehicles' baselines and recent evidence, SQLite (default <dataDir>/ingest-state/<influxDatabase>/<clientId>.sqlite)", { default: '-' }),
  vehicleStateCache: opt.int('Vehicle states kept decoded in memory (about 5 KB each); the rest is read from the state file when needed', { default: 4096, min: 1, max: 1_000_000 }),
  vehicleStateSharedMinutes: opt.int('Copy a vehicle\'s state to InfluxDB (vehicle_state, read by the worker its shard moves to) at most this often, and at every baseline status change; 0 = no shared copy', { default: 15, min: 0, max: 10_080 }),
  baselineLearnHours: opt.number("Hours of warm driving a vehicle's baseline learns from before it is used (the model was trained with 3)", { default: DEFAULT_LEARN_HOURS, min: 0, max: 1000 }),
};

export type ScoringConfig = ConfigOf<typeof scoringOptions> & { dataDir: string; influxDatabase: string; influxUrl: string; clientId: string; spoolFsync?: string; shards?: readonly number[] };

/** Where the vehicle state store of a worker lives. */
export function vehicleStateFile(config: Pick<ScoringConfig, 'vehicleStateFile' | 'dataDir' | 'influxDatabase' | 'clientId'>): string {
  return config.vehicleStateFile === '-' ? join(resolve(config.dataDir), 'ingest-state', config.influxDatabase, `${config.clientId}.sqlite`) : resolve(config.vehicleStateFile);
}

/** Loads the model (a ConfigError on field `model` when it is missing or invalid) and attaches scoring; undefined with --no-scoring. */
export async function attachScoring(ingest: IngestService, config: ScoringConfig, logger: Logger): Promise<ScoringPipeline | undefined> {
  if (!config.scoring) return undefined;
  const provider = await ModelProvider.load(config.model === '-' ? DEFAULT_MODEL_PATH : resolve(config.model), logger.child('model'));
  const store = new VehicleStateStore({ file: vehicleStateFile(config), synchronous: config.spoolFsync === 'always' ? 'FULL' : 'NORMAL' });
  if (config.shards) {
    const mine = new Set(config.shards);
    const { shardOf } = await import('../../contracts/topics.ts');
    const moved = store.forgetUnless((vehicle) => mine.has(shardOf(vehicle)));
    if (moved > 0) logger.info('vehicle states of shards this worker no longer consumes forgotten (their worker has them)', { vehicles: moved });
  }
  const paths = new VehiclePaths({
    store,
    ...(config.vehicleStateSharedMinutes > 0 ? { shared: new SharedVehicleState({ influxUrl: config.influxUrl, database: config.influxDatabase }) } : {}),
    sharedEveryMs: config.vehicleStateSharedMinutes * 60_000,
    maxCached: config.vehicleStateCache,
    baseline: { learnHours: config.baselineLearnHours },
    logger: logger.child('paths'),
  });
  return ScoringPipeline.attach(ingest, {
    provider,
    paths,
    modelPollMs: config.modelPollMs,
    batchSize: config.scoreBatchSize,
    maxDelayMs: config.scoreMaxDelayMs,
    maxQueue: config.scoreMaxQueue,
    raiseAfterWindows: config.alertRaiseWindows,
    clearAfterWindows: config.alertClearWindows,
    alertStatePath: config.alertStateFile === '-' ? join(resolve(config.dataDir), 'ingest-alerts', config.influxDatabase, `${config.clientId}.json`) : resolve(config.alertStateFile),
    logger,
  });
}

/** Defaults of every scoring option (for `fleetpulse up`). */
export function defaultScoringConfig(): ConfigOf<typeof scoringOptions> {
  return {
    scoring: true, model: '-', modelPollMs: 2000, scoreBatchSize: 256, scoreMaxDelayMs: 200, scoreMaxQueue: 100_000, alertRaiseWindows: RAISE_AFTER_WINDOWS, alertClearWindows: 3, alertStateFile: '-',
    vehicleStateFile: '-', vehicleStateCache: 4096, vehicleStateSharedMinutes: 15, baselineLearnHours: DEFAULT_LEARN_HOURS,
  };
}
