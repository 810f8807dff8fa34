/**
 * The privacy API's work is bounded: a request over the work budget is refused before any pixel
 * is decoded; work whose deadline passes or whose client is gone stops, and the next request is
 * served; beyond the queue bound the answer is 503 with Retry-After; stopping the API cancels what
 * is still running after the drain period. Real HTTP on an ephemeral port and real sharp.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { estimateWork } from '../../api/blur-plan.ts';
import { Blocklist } from '../../api/blocklist.ts';
import { TrustedProxies } from '../../api/client-ip.ts';
import { CustomerTable, writeCustomerTable } from '../../api/customer-table.ts';
import { nginxExecutable } from '../../api/nginx/managed-nginx.ts';
import { buildPrivacyApi, type PrivacyApiOptions } from '../../api/privacy-api.ts';
import { startPrivacyApi } from '../../api/privacy-api-server.ts';
import { waitFor } from '../support/influx.ts';

const KEY = 'kTESTKEY0123456789abcdef';
const dir = mkdtempSync(join(tmpdir(), 'fp-api-work-'));
const customersFile = join(dir, 'customers.json');
writeCustomerTable(customersFile, { keys: [{ key: KEY, customer: 'acme', plan: 'pro' }] });

/** 16 MP with 64 regions over all of it: tens of CPU-seconds of blurring, far beyond the deadlines below. */
const HEAVY_REGIONS = Array.from({ length: 64 }, () => '0,0,4000,4000').join(';');
let heavy: Buffer;
let small: Buffer;

beforeAll(async () => {
  heavy = await sharp({ create: { width: 4000, height: 4000, channels: 3, background: '#808080' } }).png().toBuffer();
  small = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#406080' } }).jpeg().toBuffer();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function listening(overrides: Partial<PrivacyApiOptions>) {
  const api = buildPrivacyApi({
    customers: new CustomerTable(customersFile),
    blocklist: new Blocklist(),
    trustedProxies: new TrustedProxies(['127.0.0.0/8']),
    maxBytes: 10 * 1024 * 1024,
    maxPixels: 40_000_000,
    maxRegions: 64,
    maxWork: 1e9,
    deadlineMs: 60_000,
    concurrency: 1,
    maxQueued: 4,
    ...overrides,
  });
  await api.app.listen({ host: '127.0.0.1', port: 0 });
  const address = api.app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return { ...api, url };
}

function blur(url: string, image: Buffer, regions: string, signal?: AbortSignal): Promise<Response> {
  return fetch(`${url}/v1/blur?regions=${regions}`, { method: 'POST', headers: { 'content-type': image[0] === 0x89 ? 'image/png' : 'image/jpeg', 'x-api-key': KEY }, body: image, ...(signal ? { signal } : {}) });
}

async function errorCode(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

describe('bounded API work', () => {
  it('refuses a request over the work budget with 422 over_budget, before doing any work', async () => {
    const image = await sharp({ create: { width: 2000, height: 2000, channels: 3, background: '#808080' } }).jpeg().toBuffer();
    const regions = [0, 1, 2, 3].map((i) => ({ x: i * 300, y: 0, width: 1000, height: 1000 }));
    const work = estimateWork({ format: 'jpeg', width: 2000, height: 2000 }, regions, 'blur');
    const query = regions.map((r) => `${r.x},${r.y},${r.width},${r.height}`).join(';');
    const tight = await listening({ maxWork: work - 1 });
    try {
      const res = await blur(tight.url, image, query);
      expect(res.status).toBe(422);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('over_budget');
      expect(body.error.message).toContain(`limit is ${work - 1}`);
      expect(tight.stats().work.started).toBe(0);
    } finally {
      await tight.app.close();
    }
    const enough = await listening({ maxWork: work });
    try {
      expect((await blur(enough.url, image, query)).status).toBe(200);
    } finally {
      await enough.app.close();
    }
  });

  it('stops work past its deadline (503 deadline_exceeded, Retry-After) and serves the next request', async () => {
    const api = await listening({ deadlineMs: 1000 });
    try {
      const res = await blur(api.url, heavy, HEAVY_REGIONS);
      expect(res.status).toBe(503);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await errorCode(res)).toBe('deadline_exceeded');
      // The answer comes once the work has stopped: nothing is left running behind it.
      expect(api.stats().work).toMatchObject({ running: 0, cancelled: { deadline: 1 } });
      expect((await blur(api.url, small, '10,10,100,100')).status).toBe(200);
    } finally {
      await api.app.close();
    }
  });

  it('stops work whose client has gone, and serves the next request', async () => {
    const api = await listening({});
    try {
      const client = new AbortController();
      const pending = blur(api.url, heavy, HEAVY_REGIONS, client.signal).catch((e: unknown) => e);
      expect(await waitFor(() => api.stats().work.running === 1, 20_000)).toBe(true);
      client.abort();
      expect(await pending).toBeInstanceOf(Error);
      expect(await waitFor(() => api.stats().work.cancelled.client_gone === 1 && api.stats().work.running === 0, 20_000)).toBe(true);
      expect((await blur(api.url, small, '10,10,100,100')).status).toBe(200);
      expect(api.stats().work.completed).toBe(1);
    } finally {
      await api.app.close();
    }
  });

  it('answers 503 busy with Retry-After beyond the queue bound, at once', async () => {
    const api = await listening({ concurrency: 1, maxQueued: 1 });
    const clients = [new AbortController(), new AbortController()];
    try {
      const running = blur(api.url, heavy, HEAVY_REGIONS, clients[0]!.signal).catch(() => undefined);
      expect(await waitFor(() => api.stats().work.running === 1, 20_000)).toBe(true);
      const queued = blur(api.url, heavy, HEAVY_REGIONS, clients[1]!.signal).catch(() => undefined);
      expect(await waitFor(() => api.stats().work.queued === 1, 20_000)).toBe(true);
      const refused = await blur(api.url, small, '10,10,100,100');
      expect(refused.status).toBe(503);
      expect(await errorCode(refused)).toBe('busy');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(api.stats().work.refusedBusy).toBe(1);
      for (const c of clients) c.abort();
      await Promise.all([running, queued]);
      expect(await waitFor(() => api.stats().work.running === 0 && api.stats().work.queued === 0, 20_000)).toBe(true);
    } finally {
      for (const c of clients) c.abort();
      await api.app.close();
    }
  });

  it.skipIf(!nginxExecutable())('stops the work of a client that disconnects from nginx', async () => {
    const api = await startPrivacyApi({ host: '127.0.0.1', port: 0, customersFile, trustedProxies: ['127.0.0.0/8'], maxBytes: 10 * 1024 * 1024, maxPixels: 40_000_000, maxRegions: 64, maxWork: 1e9, concurrency: 1, nginx: { prefixDir: join(dir, 'nginx'), port: 0 } });
    try {
      const client = new AbortController();
      const pending = blur(api.url, heavy, HEAVY_REGIONS, client.signal).catch((e: unknown) => e);
      expect(await waitFor(() => api.stats().work.running === 1, 20_000)).toBe(true);
      client.abort();
      await pending;
      expect(await waitFor(() => api.stats().work.cancelled.client_gone === 1 && api.stats().work.running === 0, 20_000)).toBe(true);
      expect((await blur(api.url, small, '10,10,100,100')).status).toBe(200);
    } finally {
      await api.stop();
    }
  });

  it('stop() lets work finish for the drain period, then cancels it (503 shutting_down) and returns', async () => {
    const api = await startPrivacyApi({ host: '127.0.0.1', port: 0, customersFile, trustedProxies: ['127.0.0.0/8'], maxBytes: 10 * 1024 * 1024, maxPixels: 40_000_000, maxRegions: 64, maxWork: 1e9, deadlineMs: 120_000, concurrency: 1, maxQueued: 4, drainMs: 500 });
    const pending = blur(api.url, heavy, HEAVY_REGIONS);
    expect(await waitFor(() => api.stats().work.running === 1, 20_000)).toBe(true);
    await api.stop();
    const res = await pending;
    expect(res.status).toBe(503);
    expect(await errorCode(res)).toBe('shutting_down');
    expect(api.stats().work).toMatchObject({ running: 0, cancelled: { shutting_down: 1 } });
  });
});
