/**
 * The built-in live dashboard (fastify), served by ingest on its own port (default
 * 127.0.0.1:8080), apart from the operations endpoint (/healthz, /metrics): a browser-facing page
 * can be turned off, moved or exposed without touching what Prometheus scrapes.
 *
 *   ingest events ─▶ LiveState (bounded) ─▶ SseEventStream ─ GET /events (SSE) ─▶ page
 *   InfluxDB ─▶ InfluxBackfill ─▶ first snapshot of each stream, GET /api/vehicles/:id/history
 *
 * Routes: `/` (the page: public/index.html, app.js, style.css, read once at start),
 * `/events` (SSE, see event-stream.ts), `/api/snapshot` (the same first picture as JSON),
 * `/api/vehicles/:id/history?minutes=10`, `/api/notifications` (per channel: last delivery,
 * failures, waiting; `{ channels: [] }` when notifications are off; the page polls it). Counters go into ingest's /metrics
 * (`fleetpulse_ingest_dashboard_*`).
 *
 * With `access` (a token file) the query API (`/v1`, `/openapi.json`, ingest/api-v1/) is served
 * here too. Beyond loopback every route asks for a token (dashboard-login.ts); a start beyond
 * loopback without a token to log in with is refused (FP_ACCESS_NOT_CONFIGURED) before listening.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { codedError, errorMessage } from '../../common/errors.ts';
import { type Logger, silentLogger } from '../../common/logger.ts';
import { listenNamingOption, type PortOption } from '../../common/net.ts';
import type { ScrapeMetrics } from '../../common/metrics.ts';
import { isLoopbackHost, type RequestAuthenticator } from '../access/request-auth.ts';
import { registerApiV1 } from '../api-v1/api-v1.ts';
import type { IngestEventListener } from '../ingest-events.ts';
import type { NotificationStatus } from '../notify/notifier.ts';
import { InfluxBackfill } from './backfill.ts';
import { registerDashboardLogin } from './dashboard-login.ts';
import { SseEventStream, type EventStreamOptions } from './event-stream.ts';
import { LiveState, type LiveStateOptions } from './live-state.ts';
import { mergeBackfill, type PageSnapshot } from './merge-backfill.ts';

/** What the dashboard needs of ingest: its events and a place for its metrics. */
export interface DashboardHost {
  addEventListener(listener: IngestEventListener): void;
  addMetrics(source: (m: ScrapeMetrics) => void): void;
  /** Publishes on ingest's broker connection, QoS 1 (IngestService.publish); absent: the query API's actions answer 503. */
  publish?(topic: string, payload: Buffer, acknowledged: (error?: Error) => void): boolean;
}

/** Where the notifications panel reads from (the Notifier). */
export interface NotificationStatusSource {
  status(): NotificationStatus;
}

export interface DashboardOptions {
  host: string;
  /** 0 = any free port. */
  port: number;
  influxUrl: string;
  influxDatabase: string;
  /** The option named in the error when the port is taken (default DASHBOARD_PORT_OPTION). */
  portOption?: PortOption;
  stream?: EventStreamOptions;
  state?: LiveStateOptions;
  notifications?: NotificationStatusSource;
  /** Tokens: serves the query API, and asks for login beyond loopback. Required beyond loopback. */
  access?: RequestAuthenticator;
  logger?: Logger;
}

export interface RunningDashboard {
  readonly url: string;
  readonly state: LiveState;
  readonly stream: SseEventStream;
  close(): Promise<void>;
}

const PUBLIC_DIR = join(import.meta.dirname, 'public');
const ASSETS: Record<string, string> = { '/': 'index.html', '/index.html': 'index.html', '/app.js': 'app.js', '/style.css': 'style.css' };
const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };

/** The dashboard's port option as `ingest` and `up` spell it, named when the port is taken. */
export const DASHBOARD_PORT_OPTION: PortOption = { option: '--dashboard-port', alternative: 'turn the dashboard off with --no-dashboard' };

export async function startDashboard(ingest: DashboardHost, options: DashboardOptions): Promise<RunningDashboard> {
  const log = options.logger ?? silentLogger;
  const state = new LiveState(options.state);
  const stream = new SseEventStream(state, options.stream);
  const backfill = new InfluxBackfill({ influxUrl: options.influxUrl, database: options.influxDatabase, apiWindowMs: state.apiWindowMs });
  const assets = new Map(Object.entries(ASSETS).map(([route, file]) => [route, { body: readFileSync(join(PUBLIC_DIR, file)), type: TYPES[file.split('.').pop()!]! }]));

  const pageSnapshot = async (): Promise<PageSnapshot> => {
    const influx = await backfill.fleet();
    if (!influx.ok) log.warn('dashboard backfill from InfluxDB failed; live data only', { error: influx.error });
    return mergeBackfill(state, state.snapshot(), influx);
  };

  const loginRequired = !isLoopbackHost(options.host);
  if (loginRequired && (!options.access || options.access.store.size === 0)) throw codedError('FP_ACCESS_NOT_CONFIGURED', options.host, options.access?.store.path ?? 'the token file');

  const app = Fastify({ logger: false });
  if (options.access) {
    await registerDashboardLogin(app, options.access, loginRequired);
    await registerApiV1(app, { fleet: pageSnapshot, influxUrl: options.influxUrl, influxDatabase: options.influxDatabase, auth: options.access, ...(ingest.publish ? { publish: ingest.publish.bind(ingest) } : {}) });
  }
  for (const [route, asset] of assets) {
    app.get(route, async (_request, reply) => reply.type(asset.type).header('Cache-Control', 'no-cache').send(asset.body));
  }
  app.get('/favicon.ico', async (_request, reply) => reply.code(204).send());
  app.get('/api/snapshot', async () => pageSnapshot());
  app.get<{ Params: { id: string }; Querystring: { minutes?: string } }>('/api/vehicles/:id/history', async (request, reply) => {
    const { id } = request.params;
    if (!InfluxBackfill.isVehicleId(id)) return reply.code(400).send({ error: 'invalid vehicle id' });
    return backfill.vehicle(id, Number(request.query.minutes ?? 10) || 10);
  });
  app.get('/api/notifications', async () => options.notifications?.status() ?? { channels: [] });
  app.get<{ Querystring: { lastEventId?: string } }>('/events', async (request, reply) => {
    reply.hijack();
    const res = reply.raw;
    if (!stream.hasRoom()) return stream.reject(res);
    const header = request.headers['last-event-id'] ?? request.query.lastEventId;
    try {
      await stream.open(request.raw, res, typeof header === 'string' ? header : undefined, pageSnapshot);
    } catch (error) {
      log.warn('dashboard stream failed to open', { error: errorMessage(error) });
      res.destroy();
    }
  });

  let closed = false;
  ingest.addEventListener((event) => {
    if (!closed) state.apply(event);
  });
  ingest.addMetrics((m) => {
    if (closed) return;
    const s = stream.stats();
    const l = state.stats();
    const b = backfill.stats();
    m.gauge('dashboard_sse_clients', 'Live dashboard event streams open', s.clients)
      .counter('dashboard_sse_connections_total', 'Live dashboard event streams opened', s.connections)
      .counter('dashboard_sse_rejected_total', 'Live dashboard streams refused at the client bound', s.rejected)
      .counter('dashboard_sse_dropped_slow_total', 'Live dashboard clients disconnected for falling behind their buffer bound', s.droppedSlow)
      .counter('dashboard_sse_deltas_total', 'Live dashboard delta events built', s.deltas)
      .counter('dashboard_sse_bytes_total', 'Bytes written to live dashboard streams', s.bytesWritten)
      .counter('dashboard_sse_snapshots_total', 'Snapshots sent to live dashboard streams', s.snapshots)
      .counter('dashboard_sse_resumed_total', 'Live dashboard streams resumed from Last-Event-ID', s.resumed)
      .gauge('dashboard_vehicles', 'Vehicles in the live dashboard state', l.vehicles)
      .counter('dashboard_vehicles_evicted_total', 'Vehicles dropped from the live dashboard state at its bound', l.vehiclesEvicted)
      .counter('dashboard_samples_dropped_total', 'Samples not sent to dashboard charts (per-vehicle bound between deltas)', l.samplesDropped)
      .counter('dashboard_threats_dropped_total', 'Threats dropped from the live dashboard state at its bound', l.threatsDropped)
      .counter('dashboard_backfill_queries_total', 'InfluxDB reads for the dashboard', b.queries)
      .counter('dashboard_backfill_failures_total', 'Failed InfluxDB reads for the dashboard', b.failures);
    if (options.access) {
      const a = options.access.stats();
      m.counter('api_auth_accepted_total', 'Query API and dashboard requests with a valid token', a.accepted)
        .counter('api_auth_refused_total', 'Query API and dashboard requests with an invalid token', a.refused)
        .counter('api_auth_rate_limited_total', 'Token checks refused at the failed-attempt limit (no scrypt)', a.rateLimited);
    }
  });

  try {
    await listenNamingOption(options.portOption ?? DASHBOARD_PORT_OPTION, options.host, options.port, () => app.listen({ host: options.host, port: options.port }));
  } catch (error) {
    await app.close();
    throw error;
  }
  stream.start();
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const url = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}/`;
  log.info('live dashboard', { url });
  return {
    url,
    state,
    stream,
    async close() {
      closed = true;
      stream.close();
      await app.close();
    },
  };
}
