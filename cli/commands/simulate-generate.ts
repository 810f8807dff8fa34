import { createWriteStream, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import { opt } from '../../common/config.ts';
import { MAX_EVENT_TIME_MS, MIN_EVENT_TIME_MS } from '../../contracts/telemetry.ts';
import { parseSeverityCurve } from '../../simulator/faults.ts';
import { generateVehicleSamples } from '../../simulator/fleet-generator.ts';
import { planFleet } from '../../simulator/fleet-plan.ts';
import { defineCommand } from '../command.ts';
import { parseDayRange } from './simulate-fleet.ts';

function parseIsoTime(text: string): number {
  const t = Date.parse(text);
  if (!Number.isFinite(t) || t < MIN_EVENT_TIME_MS || t >= MAX_EVENT_TIME_MS) throw new Error(`'${text}' is not an ISO date-time between 2000 and 2100`);
  return t;
}

/**
 * Training data without a broker: one JSON line per sample,
 * `{"vehicle","t","values":{…signals},"truth":{fault,severity,timeToFailureS}}`, plus a manifest
 * `<out>.fleet.json` with every vehicle's spec (profile, driver, fault onset and failure).
 */
export default defineCommand({
  path: 'simulate generate',
  section: 'simulate',
  summary: 'Generate a simulated fleet\'s samples with ground truth into a JSON-lines file (gzip if it ends in .gz).',
  options: {
    out: opt.string('Output file (.jsonl or .jsonl.gz)'),
    vehicles: opt.int('Number of vehicles', { default: 200, min: 1, max: 100_000 }),
    days: opt.number('Simulated days', { default: 30, min: 0.01, max: 3650 }),
    faulty: opt.number('Percentage of vehicles with a developing fault', { default: 20, min: 0, max: 100 }),
    seed: opt.int('Seed', { default: 42 }),
    idPrefix: opt.string('Prefix of the vehicle ids', { default: 'sim-', pattern: /^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$/, patternHint: 'must be letters, digits, _ . -' }),
    sampleRateHz: opt.number('Samples per simulated second while the ignition is on', { default: 1, min: 0.01, max: 10 }),
    startTime: opt.parsed('Event time where the simulation starts (ISO 8601)', '<time>', parseIsoTime, { default: '2025-01-06T00:00:00Z' }),
    faultOnsetDays: opt.parsed('Faults start this many days after the start (range)', '<a-b>', parseDayRange, { default: '1-10' }),
    failureAfterDays: opt.parsed('Days from onset to failure (range)', '<a-b>', parseDayRange, { default: '6-20' }),
    severityCurve: opt.parsed('Severity curve: linear, power:<k>, exp:<rate>', '<curve>', parseSeverityCurve, { default: 'power:2' }),
  },
  async run(config, ctx) {
    const specs = planFleet({
      vehicles: config.vehicles,
      idPrefix: config.idPrefix,
      seed: config.seed,
      faultyFraction: config.faulty / 100,
      startMs: config.startTime,
      schedule: 'daily',
      onsetDays: config.faultOnsetDays,
      failureAfterDays: config.failureAfterDays,
      curve: config.severityCurve,
    });
    writeFileSync(`${config.out}.fleet.json`, `${JSON.stringify(specs.map((s) => ({ ...s, profile: s.profile.id })), null, 1)}\n`);
    const file = createWriteStream(config.out);
    const gzip = config.out.endsWith('.gz') ? createGzip() : undefined;
    const sink = gzip ?? file;
    if (gzip) gzip.pipe(file);
    const endMs = config.startTime + config.days * 86_400_000;
    let samples = 0;
    const t0 = Date.now();
    for (const spec of specs) {
      let chunk = '';
      for (const s of generateVehicleSamples(spec, config.seed, config.startTime, endMs, config.sampleRateHz)) {
        chunk += `${JSON.stringify({ vehicle: spec.vehicleId, t: s.t, values: s.values, truth: s.truth })}\n`;
        samples++;
        if (chunk.length > 1 << 20) {
          if (!sink.write(chunk)) await once(sink, 'drain');
          chunk = '';
        }
      }
      if (chunk && !sink.write(chunk)) await once(sink, 'drain');
    }
    sink.end();
    await once(file, 'close');
    ctx.print(`wrote ${samples} samples of ${specs.length} vehicles over ${config.days} days to ${config.out} in ${((Date.now() - t0) / 1000).toFixed(1)} s (manifest: ${config.out}.fleet.json)`);
  },
});
