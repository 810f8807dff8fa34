import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Blocklist } from './blocklist.ts';
import { TrustedProxies } from './client-ip.ts';
import { CustomerTable, writeCustomerTable } from './customer-table.ts';
import { buildPrivacyApi } from './privacy-api.ts';

const KEY = 'kTESTKEY0123456789abcdef';

/** A photo with sharp detail: a checkerboard, so blurring a region measurably lowers its variance. */
async function checkerboard(width: number, height: number, format: 'jpeg' | 'png', orientation?: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) raw.fill(((x >> 3) + (y >> 3)) % 2 ? 255 : 0, (y * width + x) * 3, (y * width + x) * 3 + 3);
  let img = sharp(raw, { raw: { width, height, channels: 3 } });
  if (orientation) img = img.withMetadata({ orientation, exif: { IFD0: { Copyright: 'secret-owner' } } });
  return format === 'jpeg' ? img.jpeg({ quality: 95 }).toBuffer() : img.png().toBuffer();
}

async function regionStdev(image: Buffer, r: { left: number; top: number; width: number; height: number }): Promise<number> {
  // stats() looks at its input, so extract into a buffer first.
  const stats = await sharp(await sharp(image).extract(r).png().toBuffer()).stats();
  return stats.channels[0]!.stdev;
}

describe('privacy API', () => {
  let dir: string;
  let api: ReturnType<typeof buildPrivacyApi>;
  const blocklist = new Blocklist();

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fp-api-'));
    writeCustomerTable(join(dir, 'customers.json'), { keys: [{ key: KEY, customer: 'acme', plan: 'pro' }] });
    api = buildPrivacyApi({
      customers: new CustomerTable(join(dir, 'customers.json')),
      blocklist,
      trustedProxies: new TrustedProxies(['127.0.0.0/8']),
      maxBytes: 2 * 1024 * 1024,
      maxPixels: 1_000_000,
      maxRegions: 4,
      maxWork: 2000,
      deadlineMs: 30_000,
      concurrency: 1,
      maxQueued: 4,
    });
  });
  afterAll(async () => {
    await api.app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (body: Buffer, query: string, headers: Record<string, string> = {}, type = 'image/jpeg') =>
    api.app.inject({ method: 'POST', url: `/v1/blur?${query}`, payload: body, headers: { 'content-type': type, 'x-api-key': KEY, ...headers } });

  it('blurs and pixelates only the requested regions, in the input format, with a request id', async () => {
    for (const [format, method] of [['jpeg', 'blur'], ['png', 'pixelate']] as const) {
      const input = await checkerboard(320, 240, format);
      const res = await post(input, `method=${method}&regions=40,40,120,80`, { 'x-request-id': 'abcdef0123456789' }, `image/${format}`);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.headers['content-type']).toBe(`image/${format}`);
      expect(res.headers['x-request-id']).toBe('abcdef0123456789');
      const out = res.rawPayload;
      expect((await sharp(out).metadata()).format).toBe(format);
      const inside = { left: 56, top: 56, width: 88, height: 48 };
      const outside = { left: 200, top: 140, width: 100, height: 80 };
      expect(await regionStdev(out, inside)).toBeLessThan((await regionStdev(input, inside)) / 3);
      expect(await regionStdev(out, outside)).toBeGreaterThan((await regionStdev(input, outside)) * 0.9);
    }
  });

  it('hides regions of a partly transparent PNG without the original showing through', async () => {
    const width = 160;
    const height = 120;
    const raw = Buffer.alloc(width * height * 4);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) raw.fill(((x >> 3) + (y >> 3)) % 2 ? 255 : 0, (y * width + x) * 4, (y * width + x) * 4 + 3).writeUInt8(128, (y * width + x) * 4 + 3);
    const input = await sharp(raw, { raw: { width, height, channels: 4 } }).png().toBuffer();
    const res = await post(input, 'regions=20,20,120,80', {}, 'image/png');
    expect(res.statusCode, res.body).toBe(200);
    const inside = { left: 36, top: 36, width: 88, height: 48 };
    expect(await regionStdev(res.rawPayload, inside)).toBeLessThan((await regionStdev(input, inside)) / 10);
  });

  it('applies EXIF orientation and strips metadata; plate mode hides every plate box', async () => {
    const input = await checkerboard(320, 200, 'jpeg', 6); // stored landscape, displayed portrait
    expect((await sharp(input).metadata()).exif).toBeDefined();
    const res = await post(input, 'mode=plates&plates=10,10,50,20;100,250,60,30');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['x-regions-hidden']).toBe('2');
    const meta = await sharp(res.rawPayload).metadata();
    expect([meta.width, meta.height]).toEqual([200, 320]);
    expect(meta.exif).toBeUndefined();
    expect(meta.orientation).toBeUndefined();
    expect(meta.icc).toBeUndefined();
  });

  it('answers clear 4xx errors', async () => {
    const small = await checkerboard(64, 64, 'png');
    const cases: Array<[Promise<{ statusCode: number; body: string }>, number, string]> = [
      [api.app.inject({ method: 'POST', url: '/v1/blur?regions=1,1,5,5', payload: small, headers: { 'content-type': 'image/png' } }), 401, 'missing_api_key'],
      [post(small, 'regions=1,1,5,5', { 'x-api-key': 'kWRONGKEY0123456789abcd' }, 'image/png'), 401, 'invalid_api_key'],
      [post(Buffer.alloc(3 * 1024 * 1024, 1), 'regions=1,1,5,5'), 413, 'body_too_large'],
      [post(await checkerboard(1200, 1000, 'png'), 'regions=1,1,5,5', {}, 'image/png'), 413, 'too_many_pixels'],
      [post(Buffer.from('GIF89a not really'), 'regions=1,1,5,5', {}, 'image/png'), 415, 'unsupported_image'],
      [post(small, 'regions=1,1,5,5', {}, 'text/plain'), 415, 'unsupported_media_type'],
      [post(small, 'regions=500,500,5,5', {}, 'image/png'), 422, 'region_outside_image'],
      [post(small, '', {}, 'image/png'), 422, 'no_regions'],
      [post(small, 'regions=1,1,5', {}, 'image/png'), 400, 'bad_boxes'],
      [post(small, 'regions=1,1,5,5;1,1,5,5;1,1,5,5;1,1,5,5;1,1,5,5', {}, 'image/png'), 422, 'too_many_regions'],
    ];
    for (const [pending, status, code] of cases) {
      const res = await pending;
      expect(res.statusCode, `${code}: ${res.body}`).toBe(status);
      const body = JSON.parse(res.body) as { error: { code: string }; requestId: string };
      expect(body.error.code).toBe(code);
      expect(body.requestId).toMatch(/^[0-9a-f]{32}$/);
    }
  });

  it('enforces the blocklist by client address through trusted proxies, by network and by key', async () => {
    const small = await checkerboard(64, 64, 'png');
    const now = Date.now();
    blocklist.replace(
      [
        { kind: 'ip', value: '203.0.113.7', reason: 'key_guessing', sinceMs: now, untilMs: now + 60_000 },
        { kind: 'net', value: '198.51.100.0/24', reason: 'net_burst', sinceMs: now, untilMs: now + 60_000 },
        { kind: 'ip', value: '192.0.2.1', reason: 'expired', sinceMs: now - 10, untilMs: now - 1 },
      ],
      now,
    );
    const through = (xff: string) => post(small, 'regions=1,1,5,5', { 'x-forwarded-for': xff }, 'image/png');
    expect((await through('203.0.113.7')).statusCode).toBe(403);
    expect((await through('198.51.100.99')).statusCode).toBe(403);
    expect((await through('192.0.2.1')).statusCode).toBe(200);
    // A client cannot hide behind a forged left-most entry: the right-most untrusted hop counts.
    expect((await through('10.9.9.9, 203.0.113.7')).statusCode).toBe(403);
    expect((await through('203.0.113.7, 192.0.2.55')).statusCode).toBe(200);
    blocklist.replace([{ kind: 'key', value: KEY.slice(0, 8), reason: 'leaked_key', sinceMs: now, untilMs: now + 60_000 }], now);
    expect((await through('192.0.2.55')).statusCode).toBe(403);
    blocklist.replace([], now);
  });

  it('serves its OpenAPI description', async () => {
    const res = await api.app.inject({ method: 'GET', url: '/openapi.json' });
    const doc = JSON.parse(res.body) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/v1/blur');
  });
});
