/**
 * The privacy API as a running service: the fastify app on loopback, the customer table reloaded
 * on change, the blocklist subscription, and (optionally) nginx in front of it.
 */
import { join } from 'node:path';
import { type Logger, silentLogger } from '../common/logger.ts';
import { listenNamingOption } from '../common/net.ts';
import { Blocklist, subscribeBlocklist, type BlocklistSubscription } from './blocklist.ts';
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
  /** Blocklist source; without it nothing is blocked. */
  mqtt?: { url: string; username?: string; password?: string; clientId: string };
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

export async function startPrivacyApi(options: PrivacyApiServerOptions): Promise<RunningPrivacyApi> {
  const log = options.logger ?? silentLogger;
  const customers = new CustomerTable(options.customersFile, { reloadIntervalMs: 1000, logger: log.child('customers') });
  const blocklist = new Blocklist();
  const { app, stats } = buildPrivacyApi({
    customers,
    blocklist,
    trustedProxies: new TrustedProxies(options.trustedProxies),
    maxBytes: options.maxBytes,
    maxPixels: options.maxPixels,
    maxRegions: options.maxRegions,
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
  let subscription: BlocklistSubscription | undefined;
  if (options.mqtt) subscription = subscribeBlocklist(blocklist, { mqttUrl: options.mqtt.url, username: options.mqtt.username, password: options.mqtt.password, clientId: options.mqtt.clientId, logger: log.child('blocklist') });
  let nginx: ManagedNginx | undefined;
  try {
    if (options.nginx) {
      nginx = await startManagedNginx({
        prefixDir: options.nginx.prefixDir,
        port: options.nginx.port,
        upstream: `${options.host}:${port}`,
        // The API's own limit: nginx reads every upload whole and answers a larger one with the API's JSON 413.
        maxBodyBytes: options.maxBytes,
        accessLog: options.nginx.accessLog ?? join(options.nginx.prefixDir, 'logs', 'access.log'),
        ...(options.nginx.portOption ? { portOption: options.nginx.portOption } : {}),
      });
      log.info('nginx started', { url: nginx.url, accessLog: nginx.accessLog, pid: nginx.pid });
    }
  } catch (error) {
    await subscription?.close();
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
      await nginx?.stop();
      await subscription?.close();
      await app.close();
      customers.close();
    },
  };
}
