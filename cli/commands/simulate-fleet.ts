import { opt } from '../../common/config.ts';
import { createLogger } from '../../common/logger.ts';
import { MAX_EVENT_TIME_MS, MIN_EVENT_TIME_MS } from '../../contracts/telemetry.ts';
import { parseSeverityCurve } from '../../simulator/faults.ts';
import { SimulatedFleet } from '../../agent/simulated-fleet.ts';
import { defineCommand } from '../command.ts';
import { sharedOptions } from '../shared-options.ts';

/** `a-b` (days, fractions allowed) → [a, b]. */
export function parseDayRange(text: string): [number, number] {
  const m = /^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*$/.exec(text);
  if (!m) throw new Error(`'${text}' is not a range of days like 1-10`);
  const lo = Number(m[1]);
  const hi = Number(m[2]);
  if (hi < lo) throw new Error(`'${text}': the upper bound is below the lower`);
  return [lo, hi];
}

function parseStartTime(text: string): number {
  if (text === 'now') return Date.now();
  const t = Date.parse(text);
  if (!Number.isFinite(t)) throw new Error(`'${text}' is not an ISO date-time or 'now'`);
  if (t < MIN_EVENT_TIME_MS || t >= MAX_EVENT_TIME_MS) throw new Error('must lie between 2000-01-01 and 2100-01-01');
  return t;
}

export const fleetOptions = {
  vehicles: opt.int('Number of simulated vehicles', { default: 20, min: 1, max: 100_000 }),
  idPrefix: opt.string('Prefix of the vehicle ids (sim-001, sim-002 …)', { default: 'sim-', pattern: /^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$/, patternHint: 'must be letters, digits, _ . -' }),
  seed: opt.int('Seed: the same seed gives the same fleet', { default: 42 }),
  mqttUrl: sharedOptions.mqttUrl,
  sampleRateHz: opt.number('Samples per simulated second per vehicle while its engine runs', { default: 1, min: 0.01, max: 100 }),
  batchIntervalMs: opt.int('Longest time a sample waits before its batch is published (ms)', { default: 2000, min: 50 }),
  durationS: opt.int('Stop after this many wall-clock seconds (0 = run until stopped)', { default: 0, min: 0 }),
  faulty: opt.number('Percentage of vehicles with a developing fault (ground truth is printed, never sent)', { default: 0, min: 0, max: 100 }),
  speed: opt.number('Simulated seconds per wall-clock second; event time = start + speed × elapsed wall time', { default: 1, min: 0.01, max: 100_000 }),
  schedule: opt.oneOf(['continuous', 'daily'], 'continuous: engines always running (demo); daily: real trips, parked most of the day', { default: 'continuous' }),
  startTime: opt.parsed('Event time where the simulation starts (ISO 8601, or now)', '<time>', parseStartTime, { default: 'now' }),
  faultOnsetDays: opt.parsed('Faults start this many simulated days after the start (range)', '<a-b>', parseDayRange, { default: '1-10' }),
  failureAfterDays: opt.parsed('Days from a fault\'s onset to failure (range)', '<a-b>', parseDayRange, { default: '6-20' }),
  severityCurve: opt.parsed('How severity grows to failure: linear, power:<k>, exp:<rate>', '<curve>', parseSeverityCurve, { default: 'power:2' }),
};

export default defineCommand({
  path: 'simulate fleet',
  section: 'simulate',
  summary: 'Run a simulated fleet: one agent and one MQTT connection per vehicle.',
  options: fleetOptions,
  async run(config, ctx) {
    const logger = createLogger('fleet');
    const fleet = new SimulatedFleet({
      ...config,
      maxBatchSamples: 500,
      outboxSamples: 100_000,
      faultyFraction: config.faulty / 100,
      startMs: config.startTime,
      curve: config.severityCurve,
      logger,
    });
    await fleet.start();
    ctx.print(`simulating ${config.vehicles} vehicles (${config.idPrefix}…) → ${config.mqttUrl}, ${config.speed}× real time from ${new Date(config.startTime).toISOString()}, schedule ${config.schedule}`);
    for (const spec of fleet.specs.filter((s) => s.fault)) {
      const f = spec.fault!;
      ctx.print(`  ground truth: ${spec.vehicleId} ${spec.profile.id} ${f.kind} onset ${new Date(f.onsetMs).toISOString()} failure ${new Date(f.failureMs).toISOString()}`);
    }
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
