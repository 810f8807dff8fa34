/**
 * The dashboard's login, for a dashboard that listens beyond loopback: every page, asset, API and
 * the event stream need a token, sent as `Authorization: Bearer …` or as the session cookie the
 * login form sets (`POST /login` with `{ token }`; the cookie holds the token, httpOnly and
 * SameSite=Strict, so a revoked token ends its sessions at the next request). Without one, the
 * page redirects to `/login` and everything else answers 401 in the API's error shape.
 *
 * Failed logins are limited twice: per token id and per address by the authenticator (no scrypt
 * once limited), and `POST /login` at `LOGIN_ATTEMPTS_PER_MINUTE` per address (@fastify/rate-limit).
 * On loopback nothing here applies (the dashboard stays as open as it always was); the query API
 * has its own check (api-v1.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { SESSION_COOKIE, type RequestAuthenticator } from '../access/request-auth.ts';
import { apiErrorBody, sendApiError } from '../api-v1/api-errors.ts';

export const LOGIN_ATTEMPTS_PER_MINUTE = 20;

/** Paths reachable without a token: the login itself and what the login page needs. */
const OPEN_PATHS = new Set(['/login', '/favicon.ico', '/openapi.json']);

const LOGIN_PAGE = readFileSync(join(import.meta.dirname, 'public', 'login.html'));

/** Adds the cookie parser always (the API reads the session cookie too) and, when `required`, the login. */
export async function registerDashboardLogin(app: FastifyInstance, auth: RequestAuthenticator, required: boolean): Promise<void> {
  await app.register(cookie);
  if (!required) return;
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_request, context) => ({ statusCode: 429, ...apiErrorBody('FP_API_RATE_LIMITED', `too many login attempts from this address; try again in ${Math.ceil(context.ttl / 1000)} s`) }),
  });

  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?')[0]!;
    // The query API checks its own requests (also on loopback).
    if (OPEN_PATHS.has(path) || path === '/v1' || path.startsWith('/v1/')) return undefined;
    const outcome = await auth.authenticate({ authorization: request.headers.authorization, cookie: request.cookies[SESSION_COOKIE], address: request.ip });
    if (outcome.ok) return undefined;
    if (request.method === 'GET' && (path === '/' || path === '/index.html')) return reply.redirect('/login', 303);
    if (outcome.reason === 'rate_limited') return sendApiError(reply.header('Retry-After', '60'), 'FP_API_RATE_LIMITED', 'too many failed attempts; try again in a minute');
    return sendApiError(reply, 'FP_API_UNAUTHORIZED', 'log in at /login, or send Authorization: Bearer <token>');
  });

  app.get('/login', async (_request, reply) => reply.type('text/html; charset=utf-8').header('Cache-Control', 'no-store').send(LOGIN_PAGE));
  app.post<{ Body: { token?: unknown } }>('/login', { config: { rateLimit: { max: LOGIN_ATTEMPTS_PER_MINUTE, timeWindow: 60_000 } } }, async (request, reply) => {
    const token = typeof request.body?.token === 'string' ? request.body.token.trim() : '';
    const outcome = await auth.check(token, request.ip);
    if (!outcome.ok) {
      if (outcome.reason === 'rate_limited') return sendApiError(reply.header('Retry-After', '60'), 'FP_API_RATE_LIMITED', 'too many failed logins; try again in a minute');
      return sendApiError(reply, 'FP_API_UNAUTHORIZED', 'this token is not valid (malformed, revoked or unknown)');
    }
    return reply
      .setCookie(SESSION_COOKIE, token, { path: '/', httpOnly: true, sameSite: 'strict', secure: request.protocol === 'https', maxAge: 12 * 3600 })
      .send({ name: outcome.identity.name, role: outcome.identity.role });
  });
  app.post('/logout', async (_request, reply) => reply.clearCookie(SESSION_COOKIE, { path: '/' }).send({ ok: true }));
}
