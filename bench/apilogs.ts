/**
 * API-log benchmark: an nginx-format access log → LogShipper → Aedes → ingest (API-log analytics:
 * dedup, client IP, geo, customer, windows, abuse rules) → spool → influxd.
 *
 *   npm run bench:apilogs -- [--lines 200000] [--rate 5000]
 *
 * The log is written in advance (lines spread over `lines / rate` seconds of event time, 2,000
 * simulated clients, 5 customers), so what is measured is the pipeline, not nginx. Reported:
 * lines/s from the shipper's start until every request is counted in `api_requests` (10 s
 * windows) in InfluxDB, with the shipper, broker and ingest in this process and influxd a child.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startBroker } from '../broker/broker-server.ts';
import { FileDeviceStore } from '../broker/device-store.ts';
import { startLocalInfluxd } from '../ingest/influxdb/local-influxd.ts';
import { IngestService } from '../ingest/ingest-service.ts';
import { ApiLogProcessor } from '../ingest/apilogs/api-log-processor.ts';
import { GeoLookup } from '../ingest/apilogs/geo-lookup.ts';
import { DEFAULT_THRESHOLDS } from '../ingest/apilogs/abuse-detector.ts';
import { CustomerTable, generateApiKey, writeCustomerTable } from '../api/customer-table.ts';
import { TrustedProxies } from '../api/client-ip.ts';
import { LogShipper } from '../api/logship/log-shipper.ts';
import { publicIp, rng } from '../api/traffic/api-traffic-generator.ts';
import { influxQuery, rowsOf, waitFor } from '../test/support/influx.ts';

const { values } = parseArgs({ options: { lines: { type: 'string', default: '200000' }, rate: { type: 'string', default: '5000' } } });
const LINES = Number(values.lines);
const RATE = Number(values.rate);

const dir = mkdtempSync(join(tmpdir(), 'fp-bench-apilogs-'));
const influx = await startLocalInfluxd({ dataDir: join(dir, 'influx'), port: 0 });
try {
  const keys = Array.from({ length: 5 }, () => generateApiKey());
  const customersFile = join(dir, 'customers.json');
  writeCustomerTable(customersFile, { keys: keys.map((key, i) => ({ key, customer: `c${i}`, plan: 'pro' })) });
  const random = rng(1);
  const clients = Array.from({ length: 2000 }, () => publicIp(random));
  const startMs = Math.floor(Date.now() / 10_000) * 10_000 - Math.ceil(LINES / RATE) * 1000 - 60_000;
  const logFile = join(dir, 'access.log');
  const chunks: string[] = [];
  for (let i = 0; i < LINES; i++) {
    const t = (startMs + (i * 1000) / RATE) / 1000;
    const status = random() < 0.03 ? 404 : random() < 0.01 ? 500 : 200;
    chunks.push(
      `{"t":${t.toFixed(3)},"id":"${randomBytes(16).toString('hex')}","addr":"127.0.0.1","xff":"${clients[i % clients.length]}","method":"POST","path":"/v1/blur","status":${status},"bytes_in":${20000 + (i % 5000)},"bytes_out":${18000 + (i % 4000)},"rt":${(0.005 + random() * 0.05).toFixed(3)},"urt":"0.004","key":"${keys[i % keys.length]!.slice(0, 8)}","ua":"bench"}\n`,
    );
  }
  writeFileSync(logFile, chunks.join(''));

  const devicesFile = join(dir, 'devices.json');
  const created = await new FileDeviceStore(devicesFile).addMany([
    { username: 'ingest-b', role: 'ingest' },
    { username: 'edge-b', role: 'logship' },
  ]);
  const pw = new Map(created.map((c) => [c.identity.username, c.password]));
  const broker = await startBroker({ host: '127.0.0.1', port: 0, auth: { devicesFile } });
  const processor = new ApiLogProcessor({
    geo: await GeoLookup.open(),
    customers: new CustomerTable(customersFile),
    trustedProxies: new TrustedProxies(['127.0.0.0/8']),
    windows: { sizesMs: [10_000, 60_000], allowedLatenessMs: 5000, idleTimeoutMs: 1000, maxOpenCells: 200_000 },
    thresholds: DEFAULT_THRESHOLDS,
    blockMs: 60_000,
    maxBlocklistEntries: 10_000,
    maxRememberedIds: 1_000_000,
  });
  const ingest = new IngestService({ mqttUrl: broker.url, username: 'ingest-b', password: pw.get('ingest-b'), clientId: 'ingest-b', influxUrl: influx.url, influxDatabase: 'bench', shards: [], spoolDir: join(dir, 'spool'), flushIntervalMs: 200, apiLogs: processor });
  await ingest.start();
  await new Promise((r) => setTimeout(r, 500));
  const t0 = performance.now();
  const shipper = new LogShipper({ file: logFile, source: 'bench', mqttUrl: broker.url, username: 'edge-b', password: pw.get('edge-b'), clientId: 'edge-b:ship', stateDir: join(dir, 'ship'), pollIntervalMs: 20, flushIntervalMs: 50, maxBatchLines: 1000, maxBatchBytes: 256 * 1024, bufferMaxBytes: 64 * 1024 * 1024, maxInflight: 16, rotateGraceMs: 1000, fsync: false });
  shipper.start();
  await shipper.drained(600_000);
  const shippedMs = performance.now() - t0;
  const counted = async () => Number(rowsOf((await influxQuery(influx.url, 'bench', `SELECT sum(requests) FROM api_requests WHERE "window"='10s'`))[0])[0]?.sum ?? 0);
  const ok = await waitFor(async () => (await counted()) >= LINES, 600_000, 200);
  const totalMs = performance.now() - t0;
  const stats = processor.stats();
  console.log(JSON.stringify({ lines: LINES, counted: await counted(), complete: ok, shippedAckedLinesPerS: Math.round(LINES / (shippedMs / 1000)), endToEndLinesPerS: Math.round(LINES / (totalMs / 1000)), seconds: +(totalMs / 1000).toFixed(1), duplicates: stats.duplicates, late: stats.windows.lateRequests, detections: stats.detections }));
  await shipper.stop(1000);
  await ingest.stop();
  await broker.close();
} finally {
  await influx.stop();
  rmSync(dir, { recursive: true, force: true });
}
