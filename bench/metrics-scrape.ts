/**
 * CPU cost of one Prometheus scrape of ingest's and the broker's `/metrics`.
 *
 *   node --import tsx bench/metrics-scrape.ts [--scrapes 2000]
 *
 * Everything runs in this process: a broker with `--metrics`, an ingest worker on it with scoring
 * attached (so every metric family is there), InfluxDB left unreachable (ingest spools and says
 * `degraded`; its write counters still render). A few telemetry batches and one malformed message
 * go through first, so the labelled families have samples. Then `/metrics` of each is fetched
 * `--scrapes` times in a row; reported: CPU microseconds of this process per scrape (user + system,
 * the HTTP client's share included), the same for a 404 from the same server (HTTP alone: the
 * difference is the rendering), and the bytes of one response.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { startBroker } from '../broker/broker-server.ts';
import { encodeTelemetry, type TelemetryBatch } from '../contracts/telemetry.ts';
import { topics } from '../contracts/topics.ts';
import { waitFor } from '../test/support/influx.ts';
import { startIngestWithoutInflux } from '../test/support/ingest-without-influx.ts';
import { sleep } from '../common/backoff.ts';
import { cpuSeconds } from './process-cpu.ts';

const { values } = parseArgs({ options: { scrapes: { type: 'string', default: '2000' }, 'idle-seconds': { type: 'string', default: '20' } } });
const SCRAPES = Number(values.scrapes);
const IDLE_SECONDS = Number(values['idle-seconds']);

/**
 * CPU of an idle node process per second of wall time, with and without a ServiceMetrics (whose
 * default metrics keep an event-loop delay monitor running), measured from /proc after 10 s to settle.
 */
async function idleCpu(withMetrics: boolean): Promise<number> {
  const script = withMetrics ? "const { ServiceMetrics } = await import('./common/metrics.ts'); new ServiceMetrics('idle');" : '';
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `${script} setInterval(() => {}, 1 << 30);`], { cwd: join(import.meta.dirname, '..'), stdio: 'ignore' });
  try {
    await sleep(10_000);
    const before = cpuSeconds(child.pid!);
    await sleep(IDLE_SECONDS * 1000);
    return ((cpuSeconds(child.pid!) - before) / IDLE_SECONDS) * 1000;
  } finally {
    child.kill();
  }
}

/** CPU microseconds of this process per fetch of `url`, over SCRAPES fetches after 100 to warm up. */
async function cpuPerFetch(url: string): Promise<number> {
  for (let i = 0; i < 100; i++) await (await fetch(url)).text();
  const before = process.cpuUsage();
  for (let i = 0; i < SCRAPES; i++) await (await fetch(url)).text();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / SCRAPES;
}

const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-bench-metrics-'));
const broker = await startBroker({ host: '127.0.0.1', port: 0, metrics: { port: 0 } });
const { ingest, stop } = await startIngestWithoutInflux(broker.url, dir, 'bench-metrics');
try {
  const client = await mqtt.connectAsync(broker.url, { clientId: 'bench-load' });
  for (let seq = 0; seq < 20; seq++) {
    const batch: TelemetryBatch = { v: 1, vehicle: 'bench-1', seq, samples: [{ t: Date.now(), RPM: 800 + seq, SPEED: 10 }] };
    await client.publishAsync(topics.telemetry('bench-1'), encodeTelemetry(batch), { qos: 1 });
  }
  await client.publishAsync(topics.telemetry('bench-1'), 'not telemetry', { qos: 1 });
  await client.endAsync();
  await waitFor(() => ingest.stats().messagesIn >= 21, 10_000);

  for (const [service, url] of [
    ['ingest', `${ingest.httpUrl}/metrics`],
    ['broker', broker.metricsUrl!],
  ] as const) {
    const bytes = (await (await fetch(url)).text()).length;
    const scrape = await cpuPerFetch(url);
    // The same server answering 404: what HTTP costs on both sides without the rendering.
    const transport = await cpuPerFetch(new URL('/no-such-path', url).href);
    console.log(`${service}: ${scrape.toFixed(0)} µs CPU per scrape, ${transport.toFixed(0)} µs of it HTTP (a 404 costs that), ${bytes} bytes`);
  }
  if (IDLE_SECONDS > 0) {
    const [without, withMetrics] = await Promise.all([idleCpu(false), idleCpu(true)]);
    console.log(`idle process: ${withMetrics.toFixed(2)} ms CPU per s with the default metrics, ${without.toFixed(2)} without (${IDLE_SECONDS} s)`);
  }
} finally {
  await stop();
  await broker.close();
  rmSync(dir, { recursive: true, force: true });
}
