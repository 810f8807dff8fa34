/**
 * The API-log pipeline on real parts: nginx (Debian) in front of the privacy API, the log shipper,
 * an authenticated Aedes broker, ingest with API-log analytics, and influxd.
 *
 * - Every request nginx logged is counted exactly once in `api_requests` (10 s windows), across a
 *   rename rotation (nginx reopening on SIGUSR1), a shipper restart and a copy-truncate.
 * - A key-guessing attacker is detected (`api_threats`) and blocked by the API (HTTP 403) within
 *   10 s of its first request.
 * - After a quiet period every logged request is in the 10 s and the 1 min windows (they close on
 *   the wall clock, not only when newer lines arrive).
 * - Right after a clean stop of ingest every logged request is in both window sizes; after a
 *   restart that resumes the open windows, with lines logged while ingest was down, each still
 *   counts exactly once.
 */
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../broker/broker-server.ts';
import { writeCustomerTable, generateApiKey, CustomerTable } from '../../api/customer-table.ts';
import { TrustedProxies } from '../../api/client-ip.ts';
import { startPrivacyApi, type RunningPrivacyApi } from '../../api/privacy-api-server.ts';
import { LogShipper } from '../../api/logship/log-shipper.ts';
import { runApiTraffic } from '../../api/traffic/api-traffic-generator.ts';
import { nginxExecutable } from '../../api/nginx/managed-nginx.ts';
import { ApiLogProcessor } from '../../ingest/apilogs/api-log-processor.ts';
import { GeoLookup } from '../../ingest/apilogs/geo-lookup.ts';
import { DEFAULT_THRESHOLDS } from '../../ingest/apilogs/abuse-detector.ts';
import { deviceFixture, type Fixture } from '../broker/broker-fixture.ts';
import { influxQuery, rowsOf, waitFor, type RestartableTestInfluxd } from '../support/influx.ts';
import { startTestPipeline, type TestIngest, type TestIngestOptions, type TestPipelineWithIngest } from '../support/pipeline.ts';

const DB = 'apilogs_e2e';

function idsIn(file: string): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { id: string }).id);
}

describe.skipIf(!nginxExecutable())('API-log pipeline end to end', () => {
  let dir: string;
  let pipeline: TestPipelineWithIngest;
  let influx: RestartableTestInfluxd;
  let fixture: Fixture;
  let broker: RunningBroker;
  let processor: ApiLogProcessor;
  let api: RunningPrivacyApi;
  let keys: string[];
  let newProcessor: () => ApiLogProcessor;
  let ingestOptions: (apiLogs: ApiLogProcessor) => TestIngestOptions;
  let ingest: TestIngest;
  const shippers: LogShipper[] = [];
  const traffic = (requests: number, extra: Partial<Parameters<typeof runApiTraffic>[0]> = {}) =>
    runApiTraffic({ target: api.url, keys, maxRequests: requests, maxDurationMs: 15_000, rate: 80, concurrency: 4, attackers: [], attackShare: 0, seed: requests, ...extra });
  /** Every distinct request nginx logged, over the log and its rotated copies. */
  const loggedIds = (): Set<string> => {
    const accessLog = api.nginx!.accessLog;
    return new Set([...idsIn(`${accessLog}.1`), ...idsIn(`${accessLog}.2`), ...idsIn(accessLog)]);
  };
  /** Requests in `api_requests` windows of one size. */
  const counted = async (window: '10s' | '1m'): Promise<number> => {
    const series = await influxQuery(influx.url, DB, `SELECT sum(requests) FROM api_requests WHERE "window"='${window}'`);
    return Number(rowsOf(series[0])[0]?.sum ?? 0);
  };

  const newShipper = (): LogShipper => {
    const shipper = new LogShipper({
      file: api.nginx!.accessLog,
      source: 'edge-1',
      mqttUrl: broker.url,
      username: 'edge-1',
      password: fixture.passwords.get('edge-1'),
      clientId: 'edge-1:logship',
      stateDir: join(dir, 'logship'),
      pollIntervalMs: 50,
      flushIntervalMs: 100,
      maxBatchLines: 200,
      maxBatchBytes: 256 * 1024,
      bufferMaxBytes: 16 * 1024 * 1024,
      maxInflight: 8,
      rotateGraceMs: 300,
      fsync: false,
    });
    shipper.start();
    shippers.push(shipper);
    return shipper;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fp-apilogs-'));
    keys = [generateApiKey(), generateApiKey(), generateApiKey()];
    const customersFile = join(dir, 'customers.json');
    writeCustomerTable(customersFile, { keys: keys.map((key, i) => ({ key, customer: `customer-${i}`, plan: i === 0 ? 'pro' : 'free' })) });
    fixture = await deviceFixture([
      { username: 'ingest-1', role: 'ingest' },
      { username: 'edge-1', role: 'logship' },
    ]);
    const geo = await GeoLookup.open();
    newProcessor = () =>
      new ApiLogProcessor({
        geo,
        customers: new CustomerTable(customersFile),
        trustedProxies: new TrustedProxies(['127.0.0.0/8']),
        windows: { sizesMs: [10_000, 60_000], allowedLatenessMs: 3000, idleTimeoutMs: 1000, maxOpenCells: 100_000 },
        thresholds: { ...DEFAULT_THRESHOLDS, authFailures: 8 },
        blockMs: 60_000,
        maxBlocklistEntries: 1000,
        maxRememberedIds: 100_000,
      });
    processor = newProcessor();
    // An authenticated broker (as startAuthBroker), and ingest connected and subscribed as ingest-1.
    ingestOptions = (apiLogs: ApiLogProcessor) => ({
      username: 'ingest-1',
      password: fixture.passwords.get('ingest-1'),
      clientId: 'ingest-1',
      influxDatabase: DB,
      shards: [],
      spoolDir: join(dir, 'spool'),
      apiLogs,
      stopDrainMs: 5000,
    });
    pipeline = await startTestPipeline({
      broker: { auth: { devicesFile: fixture.devicesFile, watchIntervalMs: 100 }, sysIntervalMs: 0 },
      ingest: ingestOptions(processor),
    });
    ({ influx, broker } = pipeline);
    ingest = { ingest: pipeline.ingest, scoring: undefined, stop: () => pipeline.ingest.stop() };
    api = await startPrivacyApi({
      host: '127.0.0.1',
      port: 0,
      customersFile,
      trustedProxies: ['127.0.0.0/8'],
      maxBytes: 256 * 1024,
      maxPixels: 4_000_000,
      maxRegions: 16,
      mqtt: { url: broker.url, username: 'edge-1', password: fixture.passwords.get('edge-1'), clientId: 'edge-1:api' },
      nginx: { prefixDir: join(dir, 'nginx'), port: 0 },
    });
  });

  afterAll(async () => {
    for (const s of shippers) await s.stop(500).catch(() => undefined);
    await api?.stop();
    await pipeline?.stop();
    fixture?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('counts every logged request exactly once across rotation, copy-truncate and a shipper restart, and blocks a key guesser within 10 s', async () => {
    const accessLog = api.nginx!.accessLog;

    let shipper = newShipper();
    const first = await traffic(60, { attackers: ['prober'], attackShare: 0.1 });
    expect(first.failures).toBe(0);

    // Rename rotation: nginx keeps writing the old file until it reopens on SIGUSR1.
    renameSync(accessLog, `${accessLog}.1`);
    await traffic(20);
    api.nginx!.reopenLogs();
    await waitFor(() => existsSync(accessLog), 5000);
    await traffic(40);

    // Shipper restart while traffic goes on: the checkpoint picks up where it stopped.
    await shipper.stop(1000);
    await traffic(40);
    shipper = newShipper();
    await traffic(30);

    // Copy-truncate (with no writes between copy and truncate, nothing may be lost).
    expect(await shipper.drained(10_000)).toBe(true);
    copyFileSync(accessLog, `${accessLog}.2`);
    truncateSync(accessLog, 0);
    await traffic(30);

    // A key guesser: random keys from one address until the API answers 403.
    const attackStart = Date.now();
    let firstBlockedAt: number | undefined;
    const controller = new AbortController();
    const attack = await runApiTraffic({
      target: api.url,
      keys,
      maxRequests: 2000,
      maxDurationMs: 15_000,
      rate: 20,
      concurrency: 1,
      attackers: ['key-guesser'],
      attackShare: 1,
      seed: 99,
      signal: controller.signal,
      onResponse: (r) => {
        if (r.status === 403 && firstBlockedAt === undefined) {
          firstBlockedAt = r.atMs;
          controller.abort();
        }
      },
    });
    expect(attack.byStatus['401']).toBeGreaterThanOrEqual(8);
    expect(firstBlockedAt, 'the key guesser was never blocked').toBeDefined();
    expect(firstBlockedAt! - attackStart).toBeLessThan(10_000);

    expect(await shipper.drained(10_000)).toBe(true);
    // Every distinct request nginx logged, over all files (the copy repeats lines already shipped).
    const logged = loggedIds();
    expect(logged.size).toBeGreaterThanOrEqual(220 + (attack.byStatus['401'] ?? 0));
    await waitFor(async () => (await counted('10s')) >= logged.size, 25_000, 250);
    expect(await counted('10s')).toBe(logged.size);
    expect(processor.stats().windows.lateRequests).toBe(0);

    const threats = rowsOf((await influxQuery(influx.url, DB, `SELECT * FROM api_threats WHERE "rule"='key_guessing'`))[0]);
    expect(threats.map((t) => t.subject)).toContain('203.0.113.10');
    // Requests per country: exactly what the logged client addresses resolve to, country by country.
    const geo = await GeoLookup.open();
    const proxies = new TrustedProxies(['127.0.0.0/8']);
    const expected = new Map<string, number>();
    const seen = new Set<string>();
    for (const file of [`${accessLog}.1`, `${accessLog}.2`, accessLog]) {
      if (!existsSync(file)) continue;
      for (const line of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
        const record = JSON.parse(line) as { id: string; addr: string; xff?: string };
        if (seen.has(record.id)) continue;
        seen.add(record.id);
        const country = geo.lookup(proxies.clientIp(record.addr, record.xff || undefined)).country;
        expected.set(country, (expected.get(country) ?? 0) + 1);
      }
    }
    expect(expected.size, 'the simulated customers come from several countries').toBeGreaterThan(1);
    const byCountry = await influxQuery(influx.url, DB, `SELECT sum(requests) FROM api_requests WHERE "window"='10s' GROUP BY country`);
    const stored = new Map(byCountry.map((s) => [s.tags!.country!, Number(rowsOf(s)[0]!.sum)]));
    expect(stored).toEqual(expected);
  });

  it('counts every logged request in the 10 s and 1 min windows after a quiet period, without new lines to close them', { timeout: 150_000 }, async () => {
    const shipper = shippers.at(-1) ?? newShipper();
    expect((await traffic(120)).failures).toBe(0);
    expect(await shipper.drained(10_000)).toBe(true);
    const logged = loggedIds().size;
    // The 1 min window of the last request closes one minute + lateness after it, on the wall clock.
    const closed = await waitFor(async () => (await counted('10s')) === logged && (await counted('1m')) === logged, 80_000, 500);
    expect({ tenSeconds: await counted('10s'), oneMinute: await counted('1m') }).toEqual({ tenSeconds: logged, oneMinute: logged });
    expect(closed).toBe(true);
  });

  it('counts every logged request after a clean stop of ingest, and exactly once after a restart that resumes the open windows', { timeout: 150_000 }, async () => {
    const shipper = shippers.at(-1) ?? newShipper();
    expect((await traffic(150)).failures).toBe(0);
    // Every line nginx wrote has reached ingest (the shipper polls the file, then sends).
    expect(await waitFor(async () => (await shipper.drained(1000)) && processor.stats().requests === loggedIds().size, 10_000, 100)).toBe(true);
    // A clean stop right after the last line arrived: its 10 s and 1 min windows are still open.
    expect(processor.stats().windows.openCells).toBeGreaterThan(0);
    await ingest.stop();
    const logged = loggedIds().size;
    expect({ tenSeconds: await counted('10s'), oneMinute: await counted('1m') }, 'right after the clean stop').toEqual({ tenSeconds: logged, oneMinute: logged });

    // Lines logged while ingest is down wait at the broker; the restarted ingest resumes the open
    // windows, so the windows written again hold the requests of both runs, each once.
    expect((await traffic(40)).failures).toBe(0);
    processor = newProcessor();
    ingest = await pipeline.startIngest(ingestOptions(processor));
    expect(await shipper.drained(10_000)).toBe(true);
    const total = loggedIds().size;
    const closed = await waitFor(async () => processor.stats().windows.openCells === 0 && (await counted('10s')) === total && (await counted('1m')) === total, 80_000, 500);
    expect({ tenSeconds: await counted('10s'), oneMinute: await counted('1m') }, 'after the restart').toEqual({ tenSeconds: total, oneMinute: total });
    expect(closed).toBe(true);
    expect(processor.stats().windows.lateRequests).toBe(0);
  });
});
