/**
 * The privacy API (fastify): POST /v1/blur, GET /openapi.json, GET /healthz.
 *
 * Order of checks on /v1/blur, cheapest first: blocklist (403) → API key (401) → body size
 * (413, enforced while reading) → parameters (400/422) → pixel count (413, from the header,
 * before decoding) → format (415) → work budget (422 over_budget, estimated from the header and
 * the regions, before decoding) → the work queue (503 busy, with Retry-After). Every answer
 * carries `X-Request-Id` (nginx's id when it passed one) and every error is
 * `{ error: { code, message }, requestId }`.
 *
 * The work itself runs in a bounded queue (work-queue.ts): it stops when its deadline passes
 * (503 deadline_exceeded), when its client disconnects (nothing to answer) or when the API shuts
 * down after the drain period (503 shutting_down); each 503 says when to retry.
 *
 * `/healthz` is 200 while the API serves: `status` `ok`, or `degraded` while the blocklist's broker
 * connection is down (`blocklist.mqtt` says why; the last blocklist received stays in force).
 *
 * The client address used for the blocklist is resolved through the trusted proxies (nginx on
 * loopback by default), the same way ingest resolves it from the access log, so both agree on
 * who a client is.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { type Logger, silentLogger } from '../common/logger.ts';
import { runBlur } from './blur.ts';
import { planBlur, type BlurMethod, type Region } from './blur-plan.ts';
import type { Blocklist } from './blocklist.ts';
import type { BlocklistSourceHealth } from './blocklist-subscriber.ts';
import type { TrustedProxies } from './client-ip.ts';
import type { CustomerTable } from './customer-table.ts';
import { openApiDocument } from './openapi.ts';
import { WorkQueue, type CancelReason, type WorkQueueStats } from './work-queue.ts';

export interface PrivacyApiOptions {
  customers: CustomerTable;
  blocklist: Blocklist;
  /** Where the blocklist comes from, for /healthz; without it nothing updates the blocklist. */
  blocklistSource?: { health(): BlocklistSourceHealth };
  trustedProxies: TrustedProxies;
  maxBytes: number;
  maxPixels: number;
  maxRegions: number;
  /** Most work one request may need, in megapixel passes (blur-plan.ts); more is refused before any work. */
  maxWork: number;
  /** Longest a request may wait for and use a worker; then its work stops (503 deadline_exceeded). */
  deadlineMs: number;
  /** Images processed at once. */
  concurrency: number;
  /** Requests waiting for a worker; beyond, 503 busy. */
  maxQueued: number;
  logger?: Logger;
}

export interface PrivacyApiStats {
  requests: number;
  blurred: number;
  byStatus: Record<string, number>;
  work: WorkQueueStats;
}

export interface PrivacyApi {
  app: FastifyInstance;
  stats(): PrivacyApiStats;
  /** Refuses new work, lets what runs or waits go on for `drainMs`, cancels the rest; resolves when no work runs. */
  drainWork(drainMs: number): Promise<void>;
}

const REFUSED: Record<'busy' | Exclude<CancelReason, 'client_gone'>, string> = {
  busy: 'all workers are busy and the queue is full; retry later',
  deadline: 'the request did not finish within its deadline (the API is loaded); retry later',
  shutting_down: 'the API is shutting down; retry later',
};
const REFUSED_CODE = { busy: 'busy', deadline: 'deadline_exceeded', shutting_down: 'shutting_down' } as const;

const REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;
const BOXES = /^\d{1,6},\d{1,6},\d{1,6},\d{1,6}(;\d{1,6},\d{1,6},\d{1,6},\d{1,6})*$/;

function parseBoxes(text: string | undefined): Region[] | undefined {
  if (text === undefined || text === '') return [];
  if (!BOXES.test(text)) return undefined;
  return text.split(';').map((b) => {
    const [x, y, width, height] = b.split(',').map(Number) as [number, number, number, number];
    return { x, y, width, height };
  });
}

export function buildPrivacyApi(options: PrivacyApiOptions): PrivacyApi {
  const log = options.logger ?? silentLogger;
  const counters = { requests: 0, blurred: 0, byStatus: {} as Record<string, number> };
  const work = new WorkQueue({ concurrency: options.concurrency, maxQueued: options.maxQueued, deadlineMs: options.deadlineMs });
  const app = Fastify({
    bodyLimit: options.maxBytes,
    trustProxy: false,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID().replaceAll('-', '');
    },
    logger: false,
  });
  const fail = (reply: FastifyReply, status: number, code: string, message: string) => reply.code(status).send({ error: { code, message }, requestId: reply.request.id });

  app.addContentTypeParser(['image/jpeg', 'image/png', 'application/octet-stream'], { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.addHook('onRequest', async (req, reply) => {
    counters.requests += 1;
    reply.header('x-request-id', req.id);
  });
  app.addHook('onResponse', async (_req, reply) => {
    const key = String(reply.statusCode);
    counters.byStatus[key] = (counters.byStatus[key] ?? 0) + 1;
  });
  app.setErrorHandler((error: { statusCode?: number; code?: string; message: string }, _req, reply) => {
    const status = error.statusCode ?? 500;
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return fail(reply, 413, 'body_too_large', `the body exceeds ${options.maxBytes} bytes`);
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return fail(reply, 415, 'unsupported_media_type', 'send the image as image/jpeg or image/png');
    if (status >= 500) log.error('request failed', { error: error.message });
    return fail(reply, status, (error.code ?? 'error').toLowerCase(), status >= 500 ? 'internal error' : error.message);
  });
  app.setNotFoundHandler((req, reply) => fail(reply, 404, 'not_found', `no route ${req.method} ${req.url.split('?')[0]}`));

  app.get('/healthz', async () => {
    const source = options.blocklistSource?.health();
    // Degraded, not down: without its broker the API still serves, enforcing the last blocklist it received.
    const status = source && !source.mqttConnected ? 'degraded' : 'ok';
    const blocklist = { ...options.blocklist.stats(), updatedMs: options.blocklist.lastUpdatedMs, ...(source ? { source: 'broker', ...source } : { source: 'none' }) };
    return { status, blocklist, work: work.stats() };
  });
  app.get('/openapi.json', async () => openApiDocument(options));

  // Blocklist and key checks run before the body is read, so a blocked or keyless client's upload costs nothing.
  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.url !== '/v1/blur') return;
    const clientIp = options.trustedProxies.clientIp(req.socket.remoteAddress ?? '', headerText(req.headers['x-forwarded-for']));
    const key = headerText(req.headers['x-api-key']);
    const blocked = options.blocklist.match(clientIp, key);
    if (blocked) return fail(reply, 403, 'blocked', `blocked until ${new Date(blocked.untilMs).toISOString()} (${blocked.reason})`);
    if (!key) return fail(reply, 401, 'missing_api_key', 'send your API key in the X-API-Key header');
    if (!options.customers.lookupKey(key)) return fail(reply, 401, 'invalid_api_key', 'unknown API key');
    return undefined;
  });

  app.post<{ Querystring: { mode?: string; method?: string; regions?: string; plates?: string } }>('/v1/blur', async (req, reply) => {
    const body = req.body;
    if (!Buffer.isBuffer(body)) return fail(reply, 415, 'unsupported_media_type', 'send the image as image/jpeg or image/png');
    if (body.length === 0) return fail(reply, 400, 'empty_body', 'send the image as the request body');
    const mode = req.query.mode ?? 'regions';
    const method = (req.query.method ?? 'blur') as BlurMethod;
    if (mode !== 'regions' && mode !== 'plates') return fail(reply, 400, 'bad_mode', 'mode must be regions or plates');
    if (method !== 'blur' && method !== 'pixelate') return fail(reply, 400, 'bad_method', 'method must be blur or pixelate');
    const regions = parseBoxes(req.query.regions);
    const plates = parseBoxes(req.query.plates);
    if (!regions || !plates) return fail(reply, 400, 'bad_boxes', 'boxes are x,y,width,height separated by ;');
    const boxes = mode === 'plates' ? [...plates, ...regions] : regions;
    if (boxes.length === 0) return fail(reply, 422, 'no_regions', mode === 'plates' ? 'mode plates needs plate boxes' : 'give regions to hide (or mode=plates with plates)');
    const planned = await planBlur(body, boxes, method, { maxPixels: options.maxPixels, maxRegions: options.maxRegions, maxWork: options.maxWork });
    if (!planned.ok) return fail(reply, planned.status, planned.code, planned.message);
    // The client is gone when the connection closes before the answer is written.
    const client = new AbortController();
    if (reply.raw.destroyed) client.abort();
    else reply.raw.once('close', () => reply.raw.writableFinished || client.abort());
    const outcome = await work.submit((control) => runBlur(body, planned.plan, control), client.signal);
    if (!outcome.ok) {
      if (outcome.reason === 'client_gone') {
        // Nobody to answer: release the connection now rather than when it times out.
        reply.hijack();
        reply.raw.destroy();
        return undefined;
      }
      return fail(reply.header('retry-after', String(work.retryAfterSeconds())), 503, REFUSED_CODE[outcome.reason], REFUSED[outcome.reason]);
    }
    const result = outcome.value;
    if (!result.ok) return fail(reply, result.status, result.code, result.message);
    counters.blurred += 1;
    return reply.type(result.format === 'jpeg' ? 'image/jpeg' : 'image/png').header('x-regions-hidden', String(result.regions)).send(result.image);
  });

  return {
    app,
    stats: () => ({ ...counters, byStatus: { ...counters.byStatus }, work: work.stats() }),
    drainWork: (drainMs) => work.close(drainMs),
  };
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}
