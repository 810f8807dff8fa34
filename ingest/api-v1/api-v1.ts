/**
 * The query API (`/v1/…`), served by ingest on the dashboard's server, and its OpenAPI 3.1
 * document (`/openapi.json`, generated from the zod schemas of api-schemas.ts).
 *
 * Guarantees:
 * - Every `/v1` request needs a token (`Authorization: Bearer fpt_…`, or the dashboard's session
 *   cookie), on loopback too: no token → 401, a role below the route's → 403, a vehicle outside a
 *   scoped token's vehicles → 404 (as if it did not exist); every error is the one JSON shape of
 *   api-errors.ts with a stable code.
 * - Lists are pages: `?limit=` (bounded) and an opaque `?cursor=` from the previous `nextCursor`.
 * - Every InfluxDB read has a time range, a LIMIT and a timeout; a failing InfluxDB is 503
 *   FP_API_UPSTREAM_FAILED, never a hang.
 */
import type {} from '@fastify/cookie';
import swagger from '@fastify/swagger';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { errorMessage } from '../../common/errors.ts';
import { BASELINE_RESET_SCHEMA, encodeBaselineReset } from '../../contracts/baseline-reset.ts';
import { topics } from '../../contracts/topics.ts';
import { SESSION_COOKIE, type RequestAuthenticator } from '../access/request-auth.ts';
import { roleAllows, vehicleScope, type TokenIdentity, type TokenRole } from '../access/token-store.ts';
import { globToRegExp } from '../../common/glob.ts';
import type { PageSnapshot } from '../dashboard/merge-backfill.ts';
import { apiErrorSchema, sendApiError } from './api-errors.ts';
import { ApiInfluxReader, durationMs, telemetryFields } from './api-influx-reader.ts';
import {
  alertSchema,
  alertsQuery,
  baselineResetAccepted,
  baselineResetBody,
  countrySchema,
  dtcSchema,
  pageQuery,
  pageSchema,
  telemetryQuery,
  telemetrySchema,
  threatSchema,
  tokenSchema,
  vehicleParams,
  vehicleSchema,
} from './api-schemas.ts';
import { decodeCursor, encodeCursor, pageByKey } from './cursor.ts';
import { apiVehicle, openAlertsByVehicle } from './fleet-view.ts';

export interface ApiV1Options {
  /** The fleet as the dashboard merges it (live state + InfluxDB). */
  fleet(): Promise<PageSnapshot>;
  influxUrl: string;
  influxDatabase: string;
  auth: RequestAuthenticator;
  /** A vehicle without a sample for this long is `offline` (default 5 min). */
  offlineAfterMs?: number;
  /** Publishes a command on ingest's broker connection (QoS 1); false when not connected. Without it, actions answer 503. */
  publish?(topic: string, payload: Buffer, acknowledged: (error?: Error) => void): boolean;
}

/** How long an action waits for the broker's PUBACK before answering 503. */
const ACTION_ACK_TIMEOUT_MS = 10_000;

/** The longest telemetry range one request may ask for. */
const TELEMETRY_RANGE_MAX_MS = 400 * 86_400_000;
const ALERTS_DEFAULT_SINCE_MS = 7 * 86_400_000;

declare module 'fastify' {
  interface FastifyRequest {
    apiIdentity?: TokenIdentity;
  }
  interface FastifyContextConfig {
    /** The least role a `/v1` route needs. */
    role?: TokenRole;
  }
}

/** JSON Schema 2020-12 of a zod schema, as OpenAPI 3.1 takes it (requests as their input). */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'output'): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

const ERROR_RESPONSES = Object.fromEntries([400, 401, 403, 404, 429, 503].map((status) => [status, { description: 'Error', ...jsonSchema(apiErrorSchema) }]));

function routeSchema(summary: string, parts: { params?: z.ZodType; query?: z.ZodType; body?: z.ZodType; response: z.ZodType; status?: 200 | 202 }) {
  return {
    summary,
    tags: ['v1'],
    security: [{ bearer: [] }],
    ...(parts.params ? { params: jsonSchema(parts.params, 'input') } : {}),
    ...(parts.query ? { querystring: jsonSchema(parts.query, 'input') } : {}),
    ...(parts.body ? { body: jsonSchema(parts.body, 'input') } : {}),
    response: { [parts.status ?? 200]: { description: parts.status === 202 ? 'Accepted' : 'OK', ...jsonSchema(parts.response) }, ...ERROR_RESPONSES },
  };
}

/** Registers /openapi.json and /v1/* on `app` (before it listens). */
export async function registerApiV1(app: FastifyInstance, options: ApiV1Options): Promise<void> {
  const influx = new ApiInfluxReader({ influxUrl: options.influxUrl, database: options.influxDatabase });
  const offlineAfterMs = options.offlineAfterMs ?? 5 * 60_000;

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'fleetpulse query API', version: '1.0.0', description: 'Vehicles, telemetry, alerts, DTCs and API security of a fleetpulse ingest. docs/operations.md, "Query API".' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A token from `fleetpulse tokens add`' } } },
    },
    hideUntagged: true,
  });
  app.get('/openapi.json', async () => app.swagger());

  await app.register(async (api) => {
    // zod validates (it gives the messages and the defaults); the JSON schemas are for the document only.
    api.setValidatorCompiler(() => (data) => ({ value: data }));
    api.setSerializerCompiler(() => (data) => JSON.stringify(data));
    api.setNotFoundHandler((request, reply) => sendApiError(reply, 'FP_API_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`));
    api.setErrorHandler((error, _request, reply) => sendApiError(reply, 'FP_API_UPSTREAM_FAILED', `could not read the fleet's data: ${errorMessage(error)}`));

    api.addHook('onRequest', async (request, reply) => {
      const outcome = await options.auth.authenticate({ authorization: request.headers.authorization, cookie: request.cookies?.[SESSION_COOKIE], address: request.ip });
      if (!outcome.ok) {
        if (outcome.reason === 'rate_limited') return sendApiError(reply.header('Retry-After', '60'), 'FP_API_RATE_LIMITED', 'too many failed attempts with this token or from this address; try again in a minute');
        return sendApiError(reply, 'FP_API_UNAUTHORIZED', outcome.reason === 'missing' ? 'a token is required: Authorization: Bearer <token from `fleetpulse tokens add`>' : 'the token is not valid (malformed, revoked or unknown)');
      }
      const needed = request.routeOptions.config.role ?? 'viewer';
      if (!roleAllows(outcome.identity.role, needed)) return sendApiError(reply, 'FP_API_FORBIDDEN', `role ${outcome.identity.role} may not do this (needs ${needed})`);
      request.apiIdentity = outcome.identity;
      return undefined;
    });

    const parse = <T extends z.ZodType>(schema: T, value: unknown, reply: FastifyReply): z.infer<T> | undefined => {
      const result = schema.safeParse(value ?? {});
      if (result.success) return result.data;
      const issue = result.error.issues[0]!;
      void sendApiError(reply, 'FP_API_BAD_REQUEST', `${issue.path.join('.') || 'request'}: ${issue.message}`);
      return undefined;
    };
    const identity = (request: FastifyRequest): TokenIdentity => request.apiIdentity!;
    const scopeRegexps = (request: FastifyRequest): RegExp[] | undefined => identity(request).vehicles?.map(globToRegExp);
    const badCursor = (reply: FastifyReply): FastifyReply => sendApiError(reply, 'FP_API_BAD_REQUEST', 'cursor: not a cursor of this list (pass nextCursor back unchanged)');
    const fleetWideOnly = (request: FastifyRequest, reply: FastifyReply): boolean => {
      if (!identity(request).vehicles) return true;
      void sendApiError(reply, 'FP_API_FORBIDDEN', 'a token limited to some vehicles may not read fleet-wide API data');
      return false;
    };

    const vehicles = async (request: FastifyRequest) => {
      const [snapshot, mil] = await Promise.all([options.fleet(), influx.mil()]);
      const visible = vehicleScope(identity(request));
      const context = { nowMs: Date.now(), offlineAfterMs, mil, openAlerts: openAlertsByVehicle(snapshot.alerts) };
      return snapshot.vehicles.filter((v) => visible(v.id)).map((v) => apiVehicle(v, context));
    };
    /** The vehicle, or undefined after answering 404 (also for one outside the token's scope). */
    const visibleVehicle = (request: FastifyRequest, reply: FastifyReply, id: string): boolean => {
      if (vehicleScope(identity(request))(id)) return true;
      void sendApiError(reply, 'FP_API_NOT_FOUND', `no vehicle '${id}'`);
      return false;
    };

    api.get('/vehicles', { schema: routeSchema('Vehicles: state, last seen, score, MIL, open alerts', { query: pageQuery, response: pageSchema(vehicleSchema) }) }, async (request, reply) => {
      const q = parse(pageQuery, request.query, reply);
      if (!q) return reply;
      const after = q.cursor === undefined ? undefined : decodeCursor('vehicles', q.cursor, { after: z.string() })?.after;
      if (q.cursor !== undefined && after === undefined) return badCursor(reply);
      return pageByKey('vehicles', await vehicles(request), (v) => v.id, q.limit, after);
    });

    api.get('/vehicles/:id', { schema: routeSchema('One vehicle', { params: vehicleParams, response: vehicleSchema }) }, async (request, reply) => {
      const p = parse(vehicleParams, request.params, reply);
      if (!p || !visibleVehicle(request, reply, p.id)) return reply;
      const found = (await vehicles(request)).find((v) => v.id === p.id);
      return found ?? sendApiError(reply, 'FP_API_NOT_FOUND', `no vehicle '${p.id}'`);
    });

    api.get('/vehicles/:id/telemetry', { schema: routeSchema('Telemetry of one vehicle: raw for short ranges, 1-minute rollup means for long ones', { params: vehicleParams, query: telemetryQuery, response: telemetrySchema }) }, async (request, reply) => {
      const p = parse(vehicleParams, request.params, reply);
      const q = p && parse(telemetryQuery, request.query, reply);
      if (!p || !q || !visibleVehicle(request, reply, p.id)) return reply;
      const to = q.to ?? Date.now();
      const from = q.from ?? to - 3_600_000;
      if (!(from < to)) return sendApiError(reply, 'FP_API_BAD_REQUEST', 'from: must be before to');
      if (to - from > TELEMETRY_RANGE_MAX_MS) return sendApiError(reply, 'FP_API_BAD_REQUEST', `from: a range is at most ${TELEMETRY_RANGE_MAX_MS / 86_400_000} days`);
      const fields = telemetryFields(q.signals);
      if (!fields.ok) return sendApiError(reply, 'FP_API_BAD_REQUEST', `signals: unknown ${fields.unknown.join(', ') || '(none given)'}`);
      const afterMs = q.cursor === undefined ? undefined : decodeCursor('telemetry', q.cursor, { after: z.number(), from: z.number(), to: z.number() });
      if (q.cursor !== undefined && (!afterMs || afterMs.from !== from || afterMs.to !== to)) return badCursor(reply);
      const everyMs = q.every ? durationMs(q.every) : undefined;
      if (everyMs !== undefined && everyMs < 1000) return sendApiError(reply, 'FP_API_BAD_REQUEST', 'every: must be at least 1s');
      const result = await influx.telemetry({ vehicle: p.id, from, to, fields: fields.fields, everyMs, afterMs: afterMs?.after, limit: q.limit });
      const last = result.points[result.points.length - 1];
      const { more, ...body } = result;
      return { ...body, nextCursor: more && last ? encodeCursor('telemetry', { after: last.t, from, to }) : null };
    });

    api.get('/vehicles/:id/dtcs', { schema: routeSchema("A vehicle's DTC episodes, newest first", { params: vehicleParams, query: pageQuery, response: pageSchema(dtcSchema) }) }, async (request, reply) => {
      const p = parse(vehicleParams, request.params, reply);
      const q = p && parse(pageQuery, request.query, reply);
      if (!p || !q || !visibleVehicle(request, reply, p.id)) return reply;
      const offset = q.cursor === undefined ? 0 : decodeCursor('dtcs', q.cursor, { offset: z.number().int().min(0) })?.offset;
      if (offset === undefined) return badCursor(reply);
      const all = await influx.dtcs(p.id);
      const items = all.slice(offset, offset + q.limit);
      return { items, nextCursor: offset + q.limit < all.length ? encodeCursor('dtcs', { offset: offset + q.limit }) : null };
    });

    api.get('/alerts', { schema: routeSchema('Alert changes (model, DTC, MIL), newest first', { query: alertsQuery, response: pageSchema(alertSchema) }) }, async (request, reply) => {
      const q = parse(alertsQuery, request.query, reply);
      if (!q) return reply;
      const before = q.cursor === undefined ? undefined : decodeCursor('alerts', q.cursor, { t: z.number(), skip: z.number().int().min(0) });
      if (q.cursor !== undefined && !before) return badCursor(reply);
      const page = await influx.alerts({ sinceMs: q.since ?? Date.now() - ALERTS_DEFAULT_SINCE_MS, state: q.state, scope: scopeRegexps(request), limit: q.limit, ...(before ? { before: { t: before.t, skip: before.skip } } : {}) });
      return { items: page.items, nextCursor: page.more && page.last ? encodeCursor('alerts', page.last) : null };
    });

    api.get('/api-traffic', { schema: routeSchema('API requests and errors by country over the live window', { query: pageQuery, response: pageSchema(countrySchema) }) }, async (request, reply) => {
      const q = parse(pageQuery, request.query, reply);
      if (!q || !fleetWideOnly(request, reply)) return reply;
      const after = q.cursor === undefined ? undefined : decodeCursor('api-traffic', q.cursor, { after: z.string() })?.after;
      if (q.cursor !== undefined && after === undefined) return badCursor(reply);
      const countries = (await options.fleet()).countries.map((c) => ({ country: c.country, requests: c.requests, errors: c.errors }));
      return pageByKey('api-traffic', countries, (c) => c.country, q.limit, after);
    });

    api.get('/threats', { schema: routeSchema('API clients blocked now (rule, subject, until when)', { query: pageQuery, response: pageSchema(threatSchema) }) }, async (request, reply) => {
      const q = parse(pageQuery, request.query, reply);
      if (!q || !fleetWideOnly(request, reply)) return reply;
      const after = q.cursor === undefined ? undefined : decodeCursor('threats', q.cursor, { after: z.string() })?.after;
      if (q.cursor !== undefined && after === undefined) return badCursor(reply);
      const threats = (await options.fleet()).threats.map((t) => ({ key: t.key, rule: t.rule, kind: t.kind, subject: t.subject, count: t.count, threshold: t.threshold, firstMs: t.firstMs, lastMs: t.lastMs, blockUntilMs: t.blockUntilMs }));
      return pageByKey('threats', threats, (t) => t.key, q.limit, after);
    });

    api.post('/vehicles/:id/baseline-reset', { config: { role: 'operator' }, schema: routeSchema("Forget a vehicle's learned baseline (after a repair): its ingest worker learns it again from the next windows", { params: vehicleParams, body: baselineResetBody, response: baselineResetAccepted, status: 202 }) }, async (request, reply) => {
      const p = parse(vehicleParams, request.params, reply);
      const b = p && parse(baselineResetBody, request.body, reply);
      if (!p || !b || !visibleVehicle(request, reply, p.id)) return reply;
      if (!(await vehicles(request)).some((v) => v.id === p.id)) return sendApiError(reply, 'FP_API_NOT_FOUND', `no vehicle '${p.id}'`);
      const requestedAtMs = Date.now();
      const payload = encodeBaselineReset({ schema: BASELINE_RESET_SCHEMA, vehicle: p.id, reason: b.reason, requestedAtMs });
      // The broker holds it for the worker of the vehicle's shard (persistent session), as for `fleetpulse baseline reset`.
      const acknowledged = await publishAcknowledged(options.publish, topics.baselineReset(p.id), payload);
      if (acknowledged !== true) return sendApiError(reply, 'FP_API_UPSTREAM_FAILED', `baseline reset of '${p.id}' not confirmed: ${acknowledged}; try again (a second reset does no harm)`);
      return reply.code(202).send({ vehicle: p.id, reason: b.reason, requestedAt: new Date(requestedAtMs).toISOString() });
    });

    api.get('/tokens', { config: { role: 'admin' }, schema: routeSchema('Tokens (admin): name, role, vehicle scope; never the tokens', { query: pageQuery, response: pageSchema(tokenSchema) }) }, async (request, reply) => {
      const q = parse(pageQuery, request.query, reply);
      if (!q) return reply;
      const after = q.cursor === undefined ? undefined : decodeCursor('tokens', q.cursor, { after: z.string() })?.after;
      if (q.cursor !== undefined && after === undefined) return badCursor(reply);
      return pageByKey('tokens', options.auth.store.list(), (t) => t.name, q.limit, after);
    });
  }, { prefix: '/v1' });
}

/** True once the broker has the message (PUBACK), or why not. */
function publishAcknowledged(publish: ApiV1Options['publish'], topic: string, payload: Buffer): Promise<true | string> {
  if (!publish) return Promise.resolve('this server has no broker connection');
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(`the broker did not acknowledge it within ${ACTION_ACK_TIMEOUT_MS / 1000} s`), ACTION_ACK_TIMEOUT_MS);
    const sent = publish(topic, payload, (error) => {
      clearTimeout(timer);
      resolve(error ? `the broker refused it (${errorMessage(error)})` : true);
    });
    if (!sent) {
      clearTimeout(timer);
      resolve('ingest is not connected to the broker');
    }
  });
}
