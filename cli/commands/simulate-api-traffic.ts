/** `fleetpulse simulate api-traffic`: simulated customers and attackers against nginx on loopback. */
import { join, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { opt } from '../../common/config.ts';
import { ConfigError, errorMessage } from '../../common/errors.ts';
import { assertLoopback, runApiTraffic, type AttackerKind } from '../../api/traffic/api-traffic-generator.ts';
import { defineCommand } from '../command.ts';
import { sharedOptions } from '../shared-options.ts';

const KINDS: readonly AttackerKind[] = ['key-guesser', 'prober', 'oversize', 'burst', 'leaked-key'];

export default defineCommand({
  path: 'simulate api-traffic',
  section: 'simulate',
  summary: 'Send simulated customer and attacker traffic through nginx (loopback only).',
  options: {
    target: opt.url('nginx in front of the privacy API (loopback)', ['http'], { default: 'http://127.0.0.1:8090' }),
    customersFile: opt.string('Customer table whose keys the simulated customers use (default <dataDir>/api/customers.json)', { default: '-' }),
    requests: opt.int('Requests in all', { default: 2000, min: 1, max: 10_000_000 }),
    durationS: opt.int('Stop after this many seconds at the latest', { default: 60, min: 1, max: 86_400 }),
    rate: opt.number('Requests per second', { default: 50, min: 0.1, max: 100_000 }),
    concurrency: opt.int('Requests in flight at most', { default: 8, min: 1, max: 1000 }),
    attackers: opt.string(`Attackers mixed in, comma separated (${KINDS.join(', ')}) or none`, { default: 'key-guesser,prober' }),
    attackShare: opt.number('Share of requests sent by attackers', { default: 0.1, min: 0, max: 1 }),
    seed: opt.int('Seed', { default: 7 }),
    dataDir: sharedOptions.dataDir,
  },
  async run(config, ctx) {
    const attackers = config.attackers === 'none' ? [] : config.attackers.split(',').map((s) => s.trim());
    const bad = attackers.find((a) => !(KINDS as readonly string[]).includes(a));
    if (bad) throw new ConfigError('fleetpulse simulate api-traffic', [{ field: 'attackers', message: `unknown attacker '${bad}'` }]);
    try {
      assertLoopback(config.target);
    } catch (error) {
      throw new ConfigError('fleetpulse simulate api-traffic', [{ field: 'target', message: errorMessage(error) }]);
    }
    const file = config.customersFile === '-' ? join(resolve(config.dataDir), 'api', 'customers.json') : resolve(config.customersFile);
    let keys: string[];
    try {
      keys = (JSON.parse(readFileSync(file, 'utf8')) as { keys: Array<{ key: string }> }).keys.map((k) => k.key);
    } catch (error) {
      throw new ConfigError('fleetpulse simulate api-traffic', [{ field: 'customersFile', message: `${file}: ${errorMessage(error)}` }]);
    }
    const result = await runApiTraffic({
      target: config.target,
      keys,
      maxRequests: config.requests,
      maxDurationMs: config.durationS * 1000,
      rate: config.rate,
      concurrency: config.concurrency,
      attackers: attackers as AttackerKind[],
      attackShare: config.attackShare,
      seed: config.seed,
    });
    ctx.print(JSON.stringify(result));
  },
});
