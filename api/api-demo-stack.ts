/**
 * The API-log half of `fleetpulse up`: a demo customer table (created once), the privacy API with
 * nginx in front, the log shipper on nginx's access log, and gentle simulated traffic with a few
 * attackers, all stopped in reverse order.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../common/logger.ts';
import { generateApiKey, writeCustomerTable } from './customer-table.ts';
import { LogShipper } from './logship/log-shipper.ts';
import { startPrivacyApi, type RunningPrivacyApi } from './privacy-api-server.ts';
import { runApiTraffic } from './traffic/api-traffic-generator.ts';
import { readFileSync } from 'node:fs';

export interface ApiDemoStack {
  readonly api: RunningPrivacyApi;
  readonly customersFile: string;
  readonly summary: string[];
  stop(): Promise<void>;
}

const DEMO_CUSTOMERS = [
  ['acme-logistics', 'enterprise'],
  ['citycab', 'pro'],
  ['fleetwise-rentals', 'pro'],
  ['parkhaus', 'free'],
  ['roadshots', 'free'],
] as const;

/** Writes a demo customer table unless one exists; returns its keys. */
export function ensureDemoCustomers(file: string): string[] {
  if (!existsSync(file)) writeCustomerTable(file, { keys: DEMO_CUSTOMERS.map(([customer, plan]) => ({ key: generateApiKey(), customer, plan })) });
  return (JSON.parse(readFileSync(file, 'utf8')) as { keys: Array<{ key: string }> }).keys.map((k) => k.key);
}

export async function startApiDemoStack(options: {
  dataDir: string;
  mqttUrl: string;
  username: string;
  password: string;
  nginxPort: number;
  /** The option that chose `nginxPort`, named when it is taken. */
  nginxPortOption: string;
  trafficRate: number;
  logger: Logger;
}): Promise<ApiDemoStack> {
  const customersFile = join(options.dataDir, 'api', 'customers.json');
  const keys = ensureDemoCustomers(customersFile);
  const api = await startPrivacyApi({
    host: '127.0.0.1',
    port: 0,
    customersFile,
    trustedProxies: ['127.0.0.0/8', '::1/128'],
    maxBytes: 10 * 1024 * 1024,
    maxPixels: 40_000_000,
    maxRegions: 64,
    mqtt: { url: options.mqttUrl, username: options.username, password: options.password, clientId: `${options.username}:api` },
    nginx: { prefixDir: join(options.dataDir, 'nginx'), port: options.nginxPort, portOption: options.nginxPortOption },
    logger: options.logger.child('api'),
  });
  const shipper = new LogShipper({
    file: api.nginx!.accessLog,
    source: 'local',
    mqttUrl: options.mqttUrl,
    username: options.username,
    password: options.password,
    clientId: `${options.username}:logship`,
    stateDir: join(options.dataDir, 'logship', 'local'),
    pollIntervalMs: 200,
    flushIntervalMs: 500,
    maxBatchLines: 1000,
    maxBatchBytes: 256 * 1024,
    bufferMaxBytes: 64 * 1024 * 1024,
    maxInflight: 16,
    rotateGraceMs: 1000,
    fsync: false,
    logger: options.logger.child('logship'),
  });
  shipper.start();
  const abort = new AbortController();
  let traffic: Promise<unknown> = Promise.resolve();
  if (options.trafficRate > 0) {
    traffic = runApiTraffic({
      target: api.url,
      keys,
      maxRequests: Math.round(options.trafficRate * 86_400),
      maxDurationMs: 86_400_000,
      rate: options.trafficRate,
      concurrency: 4,
      attackers: ['key-guesser', 'prober'],
      attackShare: 0.05,
      seed: Date.now() % 1_000_000,
      signal: abort.signal,
    }).catch(() => undefined);
  }
  return {
    api,
    customersFile,
    summary: [
      `  API       ${api.url} (nginx → privacy API ${api.apiUrl}); POST /v1/blur, GET /openapi.json; keys in ${customersFile}`,
      `  Logship   ${api.nginx!.accessLog} → apilogs/local → ingest → api_requests, api_threats${options.trafficRate > 0 ? `; simulated traffic ${options.trafficRate} req/s with attackers` : ''}`,
    ],
    async stop() {
      abort.abort();
      await traffic;
      await api.stop();
      await shipper.stop();
    },
  };
}
