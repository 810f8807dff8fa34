import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TrustedProxies, networkOf } from '../../api/client-ip.ts';
import { CustomerTable, writeCustomerTable } from '../../api/customer-table.ts';
import { ApiLogProcessor } from './api-log-processor.ts';
import { AbuseDetector, DEFAULT_THRESHOLDS } from './abuse-detector.ts';
import { ApiWindows, type RequestFacts } from './api-windows.ts';
import { parseAccessLogLine } from './access-log-record.ts';
import { GeoLookup } from './geo-lookup.ts';
import { apiRequestLine } from './api-lines.ts';

describe('client address through trusted proxies', () => {
  const proxies = new TrustedProxies(['127.0.0.0/8', '10.0.0.0/8', '::1/128']);
  it('takes the right-most untrusted hop and ignores what the client wrote before it', () => {
    expect(proxies.clientIp('127.0.0.1', '198.51.100.4')).toBe('198.51.100.4');
    expect(proxies.clientIp('127.0.0.1', '1.1.1.1, 198.51.100.4, 10.1.2.3')).toBe('198.51.100.4');
    expect(proxies.clientIp('192.0.2.9', '198.51.100.4')).toBe('192.0.2.9'); // untrusted peer: header ignored
    expect(proxies.clientIp('::ffff:127.0.0.1', 'garbage, 198.51.100.4')).toBe('198.51.100.4');
    expect(proxies.clientIp('127.0.0.1', 'garbage')).toBe('127.0.0.1');
    expect(() => new TrustedProxies(['10.0.0.0/33'])).toThrow(/10.0.0.0\/33/);
  });
  it('names /24 and /64 networks', () => {
    expect(networkOf('203.0.113.77')).toBe('203.0.113.0/24');
    expect(networkOf('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(networkOf('2001:db8::1')).toBe('2001:db8:0:0::/64');
  });
});

describe('geography', () => {
  it('resolves public addresses from the bundled database and marks private ones unknown', async () => {
    const geo = await GeoLookup.open();
    expect(geo.lookup('81.2.69.142').country).toBe('GB');
    expect(geo.lookup('2001:4860:4860::8888').country).toBe('US');
    expect(geo.lookup('10.1.2.3').country).toBe('ZZ');
    expect(geo.lookup('not-an-ip').country).toBe('ZZ');
  });
});

describe('access log lines', () => {
  it('parses the nginx JSON format and rejects malformed lines as values', () => {
    const r = parseAccessLogLine('{"t":1700000000.123,"id":"abc","addr":"127.0.0.1","xff":"1.2.3.4","method":"POST","path":"/v1/blur","status":200,"bytes_in":100,"bytes_out":2000,"rt":0.012,"urt":"0.010, 0.001","key":"kABCDEFG","ua":"x"}');
    expect(r.ok && r.record.timeMs).toBe(1_700_000_000_123);
    expect(r.ok && r.record.upstreamTime).toBeCloseTo(0.011);
    expect(parseAccessLogLine('not json')).toEqual({ ok: false, reason: 'not JSON' });
    expect(parseAccessLogLine('{"status":200}')).toEqual({ ok: false, reason: 'no time' });
  });
});

describe('API windows', () => {
  const facts = (timeMs: number, latencyMs: number, status = 200): RequestFacts => ({ timeMs, endpoint: '/v1/blur', statusClass: `${Math.floor(status / 100)}xx`, country: 'DE', customer: 'acme', plan: 'pro', status, bytesIn: 10, bytesOut: 100, latencyUs: latencyMs * 1000 });

  it('closes on the source watermark with counts and HDR quantiles, counts late requests, keeps sources apart', () => {
    const w = new ApiWindows({ sizesMs: [10_000], allowedLatenessMs: 1000, idleTimeoutMs: 60_000, maxOpenCells: 1000 });
    for (let i = 1; i <= 100; i++) expect(w.add('a', facts(i * 10, i), 0)).toEqual([]);
    w.add('a', facts(5000, 1000, 503), 0);
    // Another source far ahead does not close source a's window.
    expect(w.add('b', facts(50_000, 1), 0)).toEqual([]);
    const closed = w.add('a', facts(11_001, 1), 0);
    expect(closed).toHaveLength(2); // the 2xx and the 5xx cell
    const ok = closed.find((c) => c.statusClass === '2xx')!;
    expect(ok.requests).toBe(100);
    expect(ok.p50Ms).toBeCloseTo(50, 0);
    expect(ok.p99Ms).toBeCloseTo(99, 0);
    expect(closed.find((c) => c.statusClass === '5xx')!.errors).toBe(1);
    expect(apiRequestLine(ok)).toMatch(/^api_requests,source=a,window=10s,endpoint=\/v1\/blur,status_class=2xx,country=DE,customer=acme,plan=pro requests=100i,errors=0i/);
    w.add('a', facts(9000, 1), 0);
    expect(w.stats().lateRequests).toBe(1);
  });

  it('resumes open windows from a snapshot: the result equals one uninterrupted run', () => {
    const options = { sizesMs: [10_000, 60_000], allowedLatenessMs: 1000, idleTimeoutMs: 2000, maxOpenCells: 1000 };
    const requests = Array.from({ length: 200 }, (_, i) => facts(50_000 + i * 100, 1 + (i % 37), i % 9 === 0 ? 503 : 200));
    const whole = new ApiWindows(options);
    const expected = [...requests.flatMap((r) => whole.add('a', r, 0)), ...whole.closeAll()];
    const first = new ApiWindows(options);
    const closedBefore = requests.slice(0, 120).flatMap((r) => first.add('a', r, 0));
    expect(first.openCellsSoFar().length).toBeGreaterThan(0);
    const snapshot = JSON.parse(JSON.stringify(first.snapshot())) as ReturnType<ApiWindows['snapshot']>;
    const second = new ApiWindows(options);
    expect(second.restore(snapshot, 0)).toBe(first.stats().openCells);
    const after = [...requests.slice(120).flatMap((r) => second.add('a', r, 0)), ...second.closeAll()];
    const key = (c: { windowMs: number; startMs: number; statusClass: string }) => `${c.windowMs}/${c.startMs}/${c.statusClass}`;
    const byKey = (cells: typeof expected) => new Map(cells.map((c) => [key(c), c]));
    expect(byKey([...closedBefore, ...after])).toEqual(byKey(expected));
    expect(second.stats().lateRequests).toBe(0);
  });

  it('closes windows of an idle source by the processing clock', () => {
    const w = new ApiWindows({ sizesMs: [10_000, 60_000], allowedLatenessMs: 1000, idleTimeoutMs: 2000, maxOpenCells: 1000 });
    w.add('a', facts(1000, 1), 1000);
    expect(w.closeIdle(2000)).toEqual([]);
    expect(w.closeIdle(12_000).map((c) => c.windowMs)).toEqual([10_000]);
    expect(w.closeIdle(62_000).map((c) => c.windowMs)).toEqual([60_000]);
  });
});

describe('abuse detection', () => {
  const req = (timeMs: number, over: Partial<Parameters<AbuseDetector['observe']>[0]> = {}) => ({ timeMs, clientIp: '198.51.100.7', status: 200, path: '/v1/blur', requestId: `r${timeMs}`, keyPrefix: 'kABCDEFG', knownKey: true, country: 'DE', ...over });

  it('flags key guessing once, after the threshold of 401s within a minute', () => {
    const d = new AbuseDetector({ ...DEFAULT_THRESHOLDS, authFailures: 5 }, 60_000);
    const fired = [];
    // More failures than the threshold, but 20 s apart: no five of them fall within one minute.
    for (let i = 0; i < 8; i++) fired.push(...d.observe(req(i * 20_000, { status: 401 })));
    expect(fired).toEqual([]);
    for (let i = 0; i < 20; i++) fired.push(...d.observe(req(300_000 + i * 100, { status: 401 })));
    expect(fired.map((f) => [f.rule, f.kind, f.subject])).toEqual([['key_guessing', 'ip', '198.51.100.7']]);
  });

  it('flags path probing, oversize floods, network bursts and a key used from many countries', () => {
    const d = new AbuseDetector({ ...DEFAULT_THRESHOLDS, probePaths: 4, oversize: 3, netBurst: 50, ipBurst: 1000, keyCountries: 3 }, 60_000);
    const rules = new Set<string>();
    for (let i = 0; i < 4; i++) for (const f of d.observe(req(i, { status: 404, path: `/p${i}` }))) rules.add(`${f.rule}:${f.subject}`);
    for (let i = 0; i < 3; i++) for (const f of d.observe(req(10 + i, { status: 413, clientIp: '198.51.100.8' }))) rules.add(`${f.rule}:${f.subject}`);
    for (let i = 0; i < 50; i++) for (const f of d.observe(req(100 + i, { clientIp: `192.0.2.${i}`, country: 'ZZ' }))) rules.add(`${f.rule}:${f.subject}`);
    for (const [i, c] of ['FR', 'JP', 'BR'].entries()) for (const f of d.observe(req(200 + i, { country: c, clientIp: `203.0.113.${i}` }))) rules.add(`${f.rule}:${f.subject}`);
    expect([...rules].sort()).toEqual(['leaked_key:kABCDEFG', 'net_burst:192.0.2.0/24', 'oversize_flood:198.51.100.8', 'path_probing:198.51.100.7']);
  });
});

/** An nginx access-log line (api/nginx/nginx.conf.template) of one request, and a batch of lines from `edge-1`. */
const line = (id: string, timeMs: number) => JSON.stringify({ t: timeMs / 1000, id, addr: '127.0.0.1', xff: '81.2.69.142', method: 'POST', path: '/v1/blur', status: 200, bytes_in: 10, bytes_out: 100, rt: 0.01, key: '', ua: 'test' });
const batch = (seq: number, lines: string[]) => Buffer.from(JSON.stringify({ v: 1, source: 'edge-1', seq, lines }));
/** Requests in the `api_requests` points of one window size. */
const requestsIn = (lineProtocol: string, window: string) =>
  [...lineProtocol.matchAll(new RegExp(`^api_requests,source=edge-1,window=${window},.* requests=(\\d+)i`, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0);

/** A processor with an empty customer table in `dir`, 10 s and 1 min windows. */
async function testProcessor(dir: string): Promise<ApiLogProcessor> {
  const customersFile = join(dir, 'customers.json');
  writeCustomerTable(customersFile, { keys: [] });
  return new ApiLogProcessor({
    geo: await GeoLookup.open(),
    customers: new CustomerTable(customersFile),
    trustedProxies: new TrustedProxies(['127.0.0.0/8']),
    windows: { sizesMs: [10_000, 60_000], allowedLatenessMs: 2000, idleTimeoutMs: 5000, maxOpenCells: 1000 },
    thresholds: DEFAULT_THRESHOLDS,
    blockMs: 60_000,
    maxBlocklistEntries: 100,
    maxRememberedIds: 10_000,
  });
}

describe('API-log clock sanity', () => {

  it('does not let a line dated 2100 move the source watermark: it is reported with its offset, the lines after it still count', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-apiclock-'));
    try {
      const processor = await testProcessor(dir);
      const now = Date.UTC(2026, 11, 3, 12, 0, 0);
      const before = Array.from({ length: 20 }, (_, i) => line(`a${i}`, now - 120_000 + i * 1000));
      const after = Array.from({ length: 100 }, (_, i) => line(`b${i}`, now - 100_000 + i * 1000));
      let out = '';
      const first = processor.handle('apilogs/edge-1', batch(0, [...before, line('bad', Date.UTC(2100, 0, 1))]), now);
      const second = processor.handle('apilogs/edge-1', batch(1, after), now);
      for (const result of [first, second]) if (result.ok) out += result.lines;
      out += processor.tick(now + 120_000);
      expect(processor.stats().windows.lateRequests).toBe(0);
      expect(requestsIn(out, '10s')).toBe(120);
      expect(requestsIn(out, '1m')).toBe(120);
      expect(first.ok && first.clockSkew).toMatchObject({ lines: 1 });
      expect(first.ok && first.clockSkew?.detail).toMatch(/1 of 21 lines .*\+2[0-9,]{9,} s/);
      expect(processor.stats().clockSkewedLines).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('API-log state across a restart', () => {
  it('counts a batch sent again after the restart once, and the open windows with the requests of both runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-apistate-'));
    try {
      const make = () => testProcessor(dir);
      const now = Date.UTC(2026, 11, 3, 12, 0, 5);
      const batchOf = (seq: number, ids: string[], t0: number) => batch(seq, ids.map((id, i) => line(id, t0 + i * 100)));
      const first = await make();
      const sent = batchOf(0, ['a', 'b', 'c'], now - 3000);
      first.handle('apilogs/edge-1', sent, now);
      const provisional = first.openWindowLines();
      expect(requestsIn(provisional, '10s')).toBe(3);
      const state = JSON.parse(JSON.stringify(first.saveState())) as ReturnType<ApiLogProcessor['saveState']>;

      const second = await make();
      expect(second.restoreState(state, now)).toBeGreaterThan(0);
      let out = '';
      for (const result of [second.handle('apilogs/edge-1', sent, now), second.handle('apilogs/edge-1', batchOf(1, ['d'], now - 1000), now)]) if (result.ok) out += result.lines;
      out += second.tick(now + 120_000, now + 120_000);
      expect(second.stats().duplicates).toBe(3);
      expect(requestsIn(out, '10s')).toBe(4);
      expect(requestsIn(out, '1m')).toBe(4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
