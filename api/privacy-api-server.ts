/**
 * The privacy API as a running service: the fastify app on loopback, the customer table reloaded
 * on change, the blocklist subscription, and (optionally) nginx in front of it.
 *
 * `stop()` ends within the drain period plus at most one processing step: new work is refused
 * (503 shutting_down), work running or waiting may finish for `drainMs`, the rest is cancelled
 * (503), and only then nginx (which passes those answers on) and the API stop.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { type Logger, silentLogger } from '../common/logger.ts';
import { listenNamingOption } from '../common/net.ts';
import { Blocklist } from './blocklist.ts';
import { BlocklistSubscriber, type BlocklistSubscriberOptions } from './blocklist-subscriber.ts';
import { TrustedProxies } from './client-ip.ts';
import { CustomerTable } from './customer-table.ts';
import { startManagedNginx, type ManagedNginx } from './nginx/managed-nginx.ts';
import { buildPrivacyApi } from './privacy-api.ts';

export interface PrivacyApiServerOptions {
  host: string;
  port: number;
  customersFile: string;
  trustedProxies: readonly string[];
  maxBytes: number;
  maxPixels: number;
  maxRegions: number;
  /** Work budget per request in megapixel passes (default WORK_DEFAULTS.maxWork). */
  maxWork?: number;
  /** Per-request deadline, waiting included (default WORK_DEFAULTS.deadlineMs). */
  deadlineMs?: number;
  /** Images processed at once (default: the number of cores). */
  concurrency?: number;
  /** Requests waiting for a worker before 503 busy (default WORK_DEFAULTS.maxQueued). */
  maxQueued?: number;
  /** How long stop() lets work finish before cancelling it (default WORK_DEFAULTS.drainMs). */
  drainMs?: number;
  /** Blocklist source; without it nothing is blocked. */
  mqtt?: Omit<BlocklistSubscriberOptions, 'logger'>;
  /** Runs nginx in front when given. */
  nginx?: { prefixDir: string; port: number; accessLog?: string; /** The option that chose `port` (default `--nginx-port`). */ portOption?: string };
  logger?: Logger;
}

export interface RunningPrivacyApi {
  /** The API itself. */
  readonly apiUrl: string;
  /** nginx when it runs, else the API. */
  readonly url: string;
  readonly nginx: ManagedNginx | undefined;
  readonly blocklist: Blocklist;
  stats(): ReturnType<ReturnType<typeof buildPrivacyApi>['stats']>;
  stop(): Promise<void>;
}

/**
 * The bounds on the API's work. A budget of 2000 megapixel passes is about 5 CPU-s on the bench
 * machine and admits a 40 MP photo with regions covering it several times over; the deadline is
 * well inside nginx's proxy_read_timeout (set to it + 10 s).
 */
export const WORK_DEFAULTS = { maxWork: 2000, deadlineMs: 30_000, maxQueued: 16, drainMs: 10_000 } as const;

export async function startPrivacyApi(options: PrivacyApiServerOptions): Promise<RunningPrivacyApi> {
  const log = options.logger ?? silentLogger;
  const customers = new CustomerTable(options.customersFile, { reloadIntervalMs: 1000, logger: log.child('customers') });
  const blocklist = new Blocklist();
  const subscriber = options.mqtt ? new BlocklistSubscriber(blocklist, { ...options.mqtt, logger: log.child('blocklist') }) : undefined;
  const deadlineMs = options.deadlineMs ?? WORK_DEFAULTS.deadlineMs;
  const { app, stats, drainWork } = buildPrivacyApi({
    customers,
    blocklist,
    ...(subscriber ? { blocklistSource: subscriber } : {}),
    trustedProxies: new TrustedProxies(options.trustedProxies),
    maxBytes: options.maxBytes,
    maxPixels: options.maxPixels,
    maxRegions: options.maxRegions,
    maxWork: options.maxWork ?? WORK_DEFAULTS.maxWork,
    deadlineMs,
    concurrency: options.concurrency || availableParallelism(),
    maxQueued: options.maxQueued ?? WORK_DEFAULTS.maxQueued,
    logger: log,
  });
  try {
    await listenNamingOption('--port', options.host, options.port, () => app.listen({ host: options.host, port: options.port }));
  } catch (error) {
    await app.close();
    customers.close();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const apiUrl = `http://${options.host}:${port}`;
  subscriber?.start();
  let nginx: ManagedNginx | undefined;
  try {
    if (options.nginx) {
      nginx = await startManagedNginx({
        prefixDir: options.nginx.prefixDir,
        port: options.nginx.port,
        upstream: `${options.host}:${port}`,
        // The API's own limit: nginx reads every upload whole and answers a larger one with the API's JSON 413.
        maxBodyBytes: options.maxBytes,
        readTimeoutS: Math.ceil(deadlineMs / 1000) + 10,
        accessLog: options.nginx.accessLog ?? join(options.nginx.prefixDir, 'logs', 'access.log'),
        ...(options.nginx.portOption ? { portOption: options.nginx.portOption } : {}),
      });
      log.info('nginx started', { url: nginx.url, accessLog: nginx.accessLog, pid: nginx.pid });
    }
  } catch (error) {
    await subscriber?.stop();
    await app.close();
    customers.close();
    throw error;
  }
  return {
    apiUrl,
    url: nginx?.url ?? apiUrl,
    nginx,
    blocklist,
    stats,
    async stop() {
      await drainWork(options.drainMs ?? WORK_DEFAULTS.drainMs);
      await nginx?.stop();
      await subscriber?.stop();
      await app.close();
      customers.close();
    },
  };
}
