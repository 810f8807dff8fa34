/**
 * Through the real nginx, every refusal is the API's JSON error with the right status: an upload
 * just over the limit is a JSON 413 every time (it was nginx's HTML 413, or an HTML 502 when the
 * API refused mid-upload and nginx hit a broken pipe), and the access log records 413, not 5xx.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey, writeCustomerTable } from '../../api/customer-table.ts';
import { nginxExecutable, startManagedNginx } from '../../api/nginx/managed-nginx.ts';
import { startPrivacyApi, type RunningPrivacyApi } from '../../api/privacy-api-server.ts';
import { freePort } from '../../common/net.ts';

const MAX_BYTES = 1024 * 1024;

interface Answer {
  status: number;
  type: string | undefined;
  requestId: string | undefined;
  body: string;
}

/** POSTs `size` bytes, with Content-Length or chunked, and reads the whole answer. */
function upload(url: string, size: number, headers: Record<string, string>, chunked = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/blur?regions=1,1,5,5`, { method: 'POST', headers: { 'content-type': 'image/jpeg', ...headers, ...(chunked ? {} : { 'content-length': String(size) }) } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], requestId: res.headers['x-request-id'] as string | undefined, body }));
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(64 * 1024, 7);
    let left = size;
    const write = (): void => {
      while (left > 0) {
        const part = chunk.subarray(0, Math.min(left, chunk.length));
        left -= part.length;
        if (!req.write(part)) return void req.once('drain', write);
      }
      req.end();
    };
    write();
  });
}

function expectJsonError(answer: Answer, status: number, code: string): void {
  expect(answer.status, answer.body).toBe(status);
  expect(answer.type).toMatch(/^application\/json/);
  const parsed = JSON.parse(answer.body) as { error: { code: string; message: string }; requestId: string };
  expect(parsed.error.code).toBe(code);
  expect(parsed.requestId).toMatch(/^[0-9a-f]{32}$/);
  expect(answer.requestId).toBe(parsed.requestId);
}

describe.skipIf(!nginxExecutable())('refusals through nginx', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fp-api-refusals-'));
  const key = generateApiKey();
  let api: RunningPrivacyApi;

  beforeAll(async () => {
    writeCustomerTable(join(dir, 'customers.json'), { keys: [{ key, customer: 'acme', plan: 'pro' }] });
    api = await startPrivacyApi({
      host: '127.0.0.1',
      port: 0,
      customersFile: join(dir, 'customers.json'),
      trustedProxies: ['127.0.0.0/8'],
      maxBytes: MAX_BYTES,
      maxPixels: 1_000_000,
      maxRegions: 4,
      nginx: { prefixDir: join(dir, 'nginx'), port: 0 },
    });
  });
  afterAll(async () => {
    await api?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers an upload over the limit with the JSON 413, by length and chunked, every time', async () => {
    const answers: Answer[] = [];
    for (let round = 0; round < 8; round++) {
      for (const over of [1, 16 * 1024, 48 * 1024, 200 * 1024, 2 * MAX_BYTES]) {
        answers.push(await upload(api.url, MAX_BYTES + over, { 'x-api-key': key }, round % 2 === 1));
      }
    }
    for (const answer of answers) expectJsonError(answer, 413, 'body_too_large');
    expect(JSON.parse(answers[0]!.body).error.message).toBe(`the body exceeds ${MAX_BYTES} bytes`);
    // Exactly the limit is not refused for its size (it is no image: 415).
    expectJsonError(await upload(api.url, MAX_BYTES, { 'x-api-key': key }), 415, 'unsupported_image');
  });

  it("refuses a large upload without a key with the API's JSON 401, never a 502", async () => {
    for (let round = 0; round < 10; round++) expectJsonError(await upload(api.url, MAX_BYTES - 1000, {}), 401, 'missing_api_key');
  });

  it('answers a request line or headers too long for nginx with JSON 414 / 431', async () => {
    const answer = async (res: Response): Promise<Answer> => ({ status: res.status, type: res.headers.get('content-type') ?? undefined, requestId: res.headers.get('x-request-id') ?? undefined, body: await res.text() });
    expectJsonError(await answer(await fetch(`${api.url}/v1/blur?regions=${'1'.repeat(10_000)}`)), 414, 'uri_too_long');
    expectJsonError(await answer(await fetch(`${api.url}/healthz`, { headers: { 'x-padding': 'p'.repeat(10_000) } })), 431, 'headers_too_large');
  });

  it('logs the refusals with their own status, none as 5xx', async () => {
    await new Promise((r) => setTimeout(r, 200)); // nginx writes the line after the response
    const statuses = readFileSync(api.nginx!.accessLog, 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as { status: number }).status);
    expect(statuses.length).toBeGreaterThanOrEqual(53);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(statuses.filter((s) => s === 413)).toHaveLength(40);
  });

  it('answers for an API that is down with a JSON 502', async () => {
    const nginx = await startManagedNginx({ prefixDir: join(dir, 'nginx-down'), port: 0, upstream: `127.0.0.1:${await freePort()}`, maxBodyBytes: MAX_BYTES });
    try {
      expectJsonError(await upload(nginx.url, 10, { 'x-api-key': key }), 502, 'api_unavailable');
    } finally {
      await nginx.stop();
    }
  });
});
