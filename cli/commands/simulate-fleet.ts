import { opt } from '../../common/config.ts';
import { createLogger } from '../../common/logger.ts';
import { SimulatedFleet } from '../../simulator/fleet.ts';
import { defineCommand } from '../command.ts';
import { sharedOptions } from '../shared-options.ts';

export const fleetOptions = {
  vehicles: opt.int('Number of simulated vehicles', { default: 20, min: 1, max: 100_000 }),
  idPrefix: opt.string('Prefix of the vehicle ids (sim-001, sim-002 …)', { default: 'sim-', pattern: /^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$/, patternHint: 'must be letters, digits, _ . -' }),
  seed: opt.int('Seed: the same seed gives the same fleet', { default: 42 }),
  mqttUrl: sharedOptions.mqttUrl,
  sampleRateHz: opt.number('Samples per second per vehicle', { default: 1, min: 0.01, max: 100 }),
  batchIntervalMs: opt.int('Longest time a sample waits before its batch is published (ms)', { default: 2000, min: 50 }),
  durationS: opt.int('Stop after this many seconds (0 = run until stopped)', { default: 0, min: 0 }),
};

export default defineCommand({
  path: 'simulate fleet',
  section: 'simulate',
  summary: 'Run a simulated fleet: one agent and one MQTT connection per vehicle.',
  options: fleetOptions,
  async run(config, ctx) {
    const logger = createLogger('fleet');
    const fleet = new SimulatedFleet({ ...config, maxBatchSamples: 500, outboxSamples: 100_000, logger });
    await fleet.start();
    ctx.print(`simulating ${config.vehicles} vehicles (${config.idPrefix}…) → ${config.mqttUrl}`);
    let stopped: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopped ??= fleet.stop().then((stats) => {
        const acked = stats.reduce((n, s) => n + s.samplesAcked, 0);
        const dropped = stats.reduce((n, s) => n + s.samplesDropped, 0);
        logger.info('fleet stopped', { vehicles: stats.length, samplesAcked: acked, samplesDropped: dropped });
      }));
    const done = config.durationS > 0 ? new Promise<void>((resolve) => setTimeout(resolve, config.durationS * 1000)).then(stop) : undefined;
    return { stop, done };
  },
});
