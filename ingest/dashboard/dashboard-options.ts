/**
 * Options of the live dashboard, merged into `fleetpulse ingest` (off by default: a production
 * worker sees only its shards, and Grafana is the dashboard there) and `fleetpulse up` (on by
 * default at http://127.0.0.1:8080). The query API is served with it; `tokenFile` holds the tokens
 * of both.
 */
import { opt, type ConfigOf } from '../../common/config.ts';
import type { Logger } from '../../common/logger.ts';
import { assertPortFree } from '../../common/net.ts';
import { codedError } from '../../common/errors.ts';
import { isLoopbackHost, RequestAuthenticator } from '../access/request-auth.ts';
import { FileTokenStore } from '../access/token-store.ts';
import { tokenFileOption, tokenFilePath } from '../access/token-options.ts';
import { DASHBOARD_PORT_OPTION, startDashboard, type DashboardHost, type NotificationStatusSource, type RunningDashboard } from './dashboard-server.ts';

export function dashboardOptions(onByDefault: boolean) {
  return {
    dashboard: opt.boolean('Serve the built-in live dashboard (--no-dashboard: off)', { default: onByDefault }),
    dashboardPort: opt.int('Port of the live dashboard (0 = any free port); start fails when it is taken', { default: 8080, min: 0, max: 65535 }),
    dashboardHost: opt.string('Address the live dashboard listens on', { default: '127.0.0.1' }),
    dashboardMaxClients: opt.int('Live dashboard event streams at most (beyond: 503)', { default: 32, min: 1, max: 10_000 }),
    tokenFile: tokenFileOption,
  };
}

export type DashboardConfig = ConfigOf<ReturnType<typeof dashboardOptions>>;

/**
 * Checks run before anything starts: fails with the one-line PortUnavailableError naming
 * --dashboard-port when the configured port is taken, and with FP_ACCESS_NOT_CONFIGURED when the
 * dashboard would listen beyond loopback with no token to log in with.
 */
export async function assertDashboardPortFree(config: DashboardConfig & { dataDir: string }): Promise<void> {
  if (!config.dashboard) return;
  if (!isLoopbackHost(config.dashboardHost)) {
    const store = new FileTokenStore(tokenFilePath(config));
    if (store.size === 0) throw codedError('FP_ACCESS_NOT_CONFIGURED', config.dashboardHost, store.path);
  }
  await assertPortFree(config.dashboardHost, config.dashboardPort, DASHBOARD_PORT_OPTION);
}

/** Starts the dashboard when configured; undefined with --no-dashboard. `notifications` adds the notifications panel. */
export async function startConfiguredDashboard(ingest: DashboardHost, config: DashboardConfig & { dataDir: string }, influx: { url: string; database: string }, logger: Logger, notifications?: NotificationStatusSource): Promise<RunningDashboard | undefined> {
  if (!config.dashboard) return undefined;
  return startDashboard(ingest, {
    host: config.dashboardHost,
    port: config.dashboardPort,
    influxUrl: influx.url,
    influxDatabase: influx.database,
    stream: { maxClients: config.dashboardMaxClients },
    ...(notifications ? { notifications } : {}),
    access: new RequestAuthenticator(new FileTokenStore(tokenFilePath(config))),
    logger,
  });
}
