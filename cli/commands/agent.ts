import { opt } from '../../common/config.ts';
import { createLogger, type Logger } from '../../common/logger.ts';
import { VEHICLE_ID_PATTERN } from '../../contracts/topics.ts';
import { Agent } from '../../agent/agent.ts';
import { PAYLOAD_ENCODINGS } from '../../contracts/agent-config.ts';
import { payloadEncoder } from '../../agent/payload-encoding.ts';
import { type AgentSettings, RemoteConfig, SOURCE_SETTING_KEYS } from '../../agent/remote-config.ts';
import { SwappableSource } from '../../agent/swappable-source.ts';
import { agentBufferOptions, agentConnectionOptions, connectionFromConfig, healthStoreFromConfig, storeFromConfig } from '../../agent/agent-setup.ts';
import { SimulatedSource } from '../../agent/simulated-source.ts';
import { ReplaySource, replaySourceFromConfig } from '../../agent/replay-source.ts';
import { DEFAULT_FAST_PIDS, DEFAULT_SLOW_PIDS, parsePidList, serialSourceFromConfig } from '../../agent/obd/obd-source.ts';
import { defineCommand } from '../command.ts';
import { sharedOptions } from '../shared-options.ts';

export const agentOptions = {
  vehicleId: opt.string('This vehicle\'s id (letters, digits, _ . -; at most 64)', { pattern: VEHICLE_ID_PATTERN, patternHint: 'must be 1-64 letters, digits, _ . - and start with a letter or digit' }),
  mqttUrl: sharedOptions.mqttUrl,
  dataDir: sharedOptions.dataDir,
  ...agentConnectionOptions,
  ...agentBufferOptions,
  source: opt.oneOf(['simulate', 'replay', 'serial'], 'Where samples come from (serial: an ELM327 adapter on --serial)', { default: 'simulate' }),
  sampleRateHz: opt.number('Samples per second', { default: 1, min: 0.01, max: 100 }),
  batchIntervalMs: opt.int('Longest time a sample waits before its batch is published (ms)', { default: 2000, min: 50, max: 600_000 }),
  maxBatchSamples: opt.int('Samples per batch at most', { default: 500, min: 1, max: 5000 }),
  seed: opt.int('Seed of the simulated vehicle', { default: 1 }),
  replay: opt.string('Drive log (CSV) to play with --source replay', { required: false }),
  replayFormat: opt.oneOf(['auto', 'carobd', 'torque', 'carscanner', 'custom'], 'Format of the drive log (auto: told from its header)', { default: 'auto' }),
  replayMapping: opt.string('JSON column mapping for --replay-format custom (see docs/obd.md)', { required: false }),
  replaySpeed: opt.number('Replay pace: log seconds per wall-clock second; 0 = as fast as possible', { default: 1, min: 0, max: 100_000 }),
  replayTime: opt.oneOf(['rebase', 'keep'], 'Event times: rebase the log to now, or keep its own date-time stamps', { default: 'rebase' }),
  replayLoop: opt.boolean('Start the log over when it ends (without it the agent exits once the whole log is acknowledged)', { default: false }),
  replayVehicleColumn: opt.string('Column of the drive log that names each row\'s vehicle, for a log holding several', { required: false }),
  replayVehicle: opt.string('The vehicle (value of --replay-vehicle-column) whose rows to play', { required: false }),
  serial: opt.string('Serial device of the ELM327 adapter for --source serial, e.g. /dev/ttyUSB0 or /dev/rfcomm0', { required: false }),
  baud: opt.int('Serial speed of the adapter (most ship at 38400)', { default: 38400, min: 300, max: 4_000_000 }),
  fastPids: opt.parsed('PIDs polled at --fast-hz, comma-separated signal names', '<names>', parsePidList, { default: DEFAULT_FAST_PIDS.join(',') }),
  slowPids: opt.parsed('PIDs polled at --slow-hz, comma-separated signal names', '<names>', parsePidList, { default: DEFAULT_SLOW_PIDS.join(',') }),
  fastHz: opt.number('Polls per second of each fast PID (the line may allow fewer; missed slots are counted)', { default: 5, min: 0.01, max: 100 }),
  slowHz: opt.number('Polls per second of each slow PID', { default: 0.5, min: 0.001, max: 100 }),
  healthIntervalS: opt.int("Seconds between reads of the car's diagnosis (DTCs, MIL, readiness, freeze frame; simulator: of simulated time); it is also read whenever the car answers again (ignition on). 0 = only then", { default: 60, min: 0, max: 86_400 }),
  payload: opt.oneOf(PAYLOAD_ENCODINGS, 'Wire encoding of telemetry batches: compact (columnar, contracts/telemetry-compact.ts) or json', { default: 'compact' }),
  remoteConfig: opt.boolean("Apply this vehicle's retained config topic live and log its alerts", { default: true }),
};

export default defineCommand({
  path: 'agent',
  section: 'agent',
  summary: 'Run the vehicle agent: read samples, batch them, publish them to the broker with QoS 1.',
  options: agentOptions,
  async run(config) {
    const logger = createLogger('agent');
    const build = (s: AgentSettings) =>
      config.source === 'replay' ? replaySourceFromConfig(config, logger) : config.source === 'serial' ? serialSourceFromConfig({ ...config, ...s }, logger) : new SimulatedSource({ vehicleId: config.vehicleId, seed: config.seed, sampleRateHz: s.sampleRateHz, healthIntervalMs: s.healthIntervalS * 1000 });
    // Remote config (agent/remote-config.ts) may rebuild the source live, hence the swappable wrapper.
    const first = build(config);
    const source = new SwappableSource(first);
    const remote = config.remoteConfig
      ? new RemoteConfig({ vehicleId: config.vehicleId, local: config, agent: { reconfigure: (s) => agent.reconfigure(s) }, source, buildSource: build, sourceKeys: SOURCE_SETTING_KEYS[config.source], logger })
      : undefined;
    const connection = connectionFromConfig(config);
    const store = storeFromConfig(config, logger);
    const healthStore = healthStoreFromConfig(config, logger);
    const agent = new Agent({ ...config, ...connection, store, healthStore, source, logger, encode: payloadEncoder(config.payload), ...(remote ? { onClient: (client) => remote.attach(client) } : {}) });
    await agent.start();
    logger.info('agent started', { vehicle: config.vehicleId, source: source.name, broker: config.mqttUrl });
    // A replay without --replay-loop has an end: the agent exits once the broker holds all of it.
    // (A replay source is never rebuilt by remote config: it has no live settings.)
    const stopping = new AbortController();
    const done = first instanceof ReplaySource && !config.replayLoop ? first.finished.then(() => untilAcknowledged(agent, logger, stopping.signal)) : undefined;
    return {
      ...(done ? { done } : {}),
      async stop() {
        stopping.abort();
        const stats = await agent.stop();
        logger.info('agent stopped', { ...stats });
      },
    };
  },
});

/**
 * Resolves once every sample the source produced is in a closed batch (the batch timer closes the
 * last one) and the buffer holds nothing unacknowledged, or once the agent is being stopped. Waits
 * as long as that takes — while the broker is away too: a signal stops the agent earlier, and a
 * disk buffer keeps the rest.
 */
async function untilAcknowledged(agent: Agent, logger: Logger, stopping: AbortSignal): Promise<void> {
  let told = false;
  while (!stopping.aborted) {
    const s = agent.stats();
    // After a store failure the lost samples are never buffered: the queue alone tells then.
    const allClosed = s.samplesBuffered >= s.samplesProduced || s.storeFailures > 0;
    if (allClosed && s.queuedBatches === 0 && s.healthQueued === 0) return;
    if (!told) {
      logger.info('replay played: waiting for the broker to acknowledge what is buffered', { queuedSamples: s.queuedSamples, connected: s.connected });
      told = true;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
