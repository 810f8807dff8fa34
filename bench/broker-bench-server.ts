/**
 * Benchmark only: one broker process for bench/broker-bench.ts, started exactly like
 * `fleetpulse broker --persistence memory` (same startBroker, same limits) with authentication and
 * ACLs on, or — with `--insecure-no-auth`, which exists only here so that their cost can be measured —
 * off. Never use it to serve clients.
 *
 *   node --import tsx bench/broker-bench-server.ts --port N (--devices-file F | --insecure-no-auth)
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createLogger } from '../common/logger.ts';
import { startBroker } from '../broker/broker-server.ts';

const { values } = parseArgs({ options: { port: { type: 'string' }, 'devices-file': { type: 'string' }, 'insecure-no-auth': { type: 'boolean', default: false } } });
const devicesFile = values['devices-file'];
if (!values.port || (!devicesFile && !values['insecure-no-auth'])) {
  process.stderr.write('usage: broker-bench-server.ts --port N (--devices-file F | --insecure-no-auth)\n');
  process.exit(2);
}
const broker = await startBroker({
  host: '127.0.0.1',
  port: Number(values.port),
  logger: createLogger('broker'),
  ...(devicesFile && !values['insecure-no-auth'] ? { auth: { devicesFile, maxFailedLogins: 100_000 } } : {}),
  persistence: { kind: 'memory' },
});
const stop = async (): Promise<void> => {
  // Diagnostic: the broker's counters at the end of the run.
  if (process.env.BENCH_SERVER_STATS_DIR) writeFileSync(`${process.env.BENCH_SERVER_STATS_DIR}/stats-${process.pid}.txt`, await broker.metricsText());
  await broker.close();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
