import { opt } from '../../common/config.ts';
import { createLogger } from '../../common/logger.ts';
import { VEHICLE_ID_PATTERN } from '../../contracts/topics.ts';
import { Agent } from '../../agent/agent.ts';
import { SimulatedSource } from '../../agent/simulated-source.ts';
import { defineCommand } from '../command.ts';
import { sharedOptions } from '../shared-options.ts';

export const agentOptions = {
  vehicleId: opt.string('This vehicle\'s id (letters, digits, _ . -; at most 64)', { pattern: VEHICLE_ID_PATTERN, patternHint: 'must be 1-64 letters, digits, _ . - and start with a letter or digit' }),
  mqttUrl: sharedOptions.mqttUrl,
  source: opt.oneOf(['simulate'], 'Where samples come from', { default: 'simulate' }),
  sampleRateHz: opt.number('Samples per second', { default: 1, min: 0.01, max: 100 }),
  batchIntervalMs: opt.int('Longest time a sample waits before its batch is published (ms)', { default: 2000, min: 50, max: 600_000 }),
  maxBatchSamples: opt.int('Samples per batch at most', { default: 500, min: 1, max: 5000 }),
  outboxSamples: opt.int('Samples held while the broker is unreachable; the oldest are dropped beyond', { default: 100_000, min: 1 }),
  seed: opt.int('Seed of the simulated vehicle', { default: 1 }),
};

export default defineCommand({
  path: 'agent',
  section: 'agent',
  summary: 'Run the vehicle agent: read samples, batch them, publish them to the broker with QoS 1.',
  options: agentOptions,
  async run(config) {
    const logger = createLogger('agent');
    const source = new SimulatedSource({ vehicleId: config.vehicleId, seed: config.seed, sampleRateHz: config.sampleRateHz });
    const agent = new Agent({ ...config, source, logger });
    await agent.start();
    logger.info('agent started', { vehicle: config.vehicleId, source: source.name, broker: config.mqttUrl });
    return {
      async stop() {
        const stats = await agent.stop();
        logger.info('agent stopped', { ...stats });
      },
    };
  },
});
