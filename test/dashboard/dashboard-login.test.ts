/**
 * The dashboard beyond loopback, in headless Chromium (Debian's chromium through playwright-core):
 * bound to this machine's non-loopback interface address, it asks for a token before the page,
 * its APIs and its event stream; after a login with a token from the token file the page loads
 * and the event stream delivers. Without a token in the file it refuses to start, naming the
 * option; on loopback it stays open as before; failed attempts are limited without locking out a
 * valid token.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RequestAuthenticator } from '../../ingest/access/request-auth.ts';
import { FileTokenStore } from '../../ingest/access/token-store.ts';
import { startDashboard, type DashboardHost, type RunningDashboard } from '../../ingest/dashboard/dashboard-server.ts';
import type { IngestEventListener } from '../../ingest/ingest-events.ts';
import { freePort } from '../../common/net.ts';
import { FleetpulseError } from '../../common/errors.ts';
import { waitFor } from '../support/influx.ts';
import { chromiumInstalled, launchChromium, type TestBrowser } from './browser.ts';

/** The first IPv4 address of this machine that is not loopback (the test binds there). */
const EXTERNAL = Object.values(networkInterfaces())
  .flat()
  .find((i) => i && !i.internal && i.family === 'IPv4')?.address;

describe.skipIf(!chromiumInstalled() || !EXTERNAL)('dashboard login beyond loopback (skipped without chromium or a non-loopback IPv4 interface)', () => {
  let dir: string;
  let noInflux: string;
  let browser: TestBrowser;
  let dashboard: RunningDashboard;
  let token: string;
  const listeners: IngestEventListener[] = [];
  const host: DashboardHost = { addEventListener: (l) => listeners.push(l), addMetrics: () => undefined };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fleetpulse-login-'));
    noInflux = `http://127.0.0.1:${await freePort()}`;
    const store = new FileTokenStore(join(dir, 'tokens.json'));
    token = (await store.add({ name: 'wallboard', role: 'viewer' })).token;
    dashboard = await startDashboard(host, { host: EXTERNAL!, port: 0, influxUrl: noInflux, influxDatabase: 'x', access: new RequestAuthenticator(store) });
    for (const l of listeners) l({ type: 'samples', vehicle: 'car-login', samples: [{ t: Date.now(), RPM: 900, SPEED: 0 }] } as never);
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await dashboard?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to start beyond loopback without a token, naming the option', async () => {
    const empty = new RequestAuthenticator(new FileTokenStore(join(dir, 'none.json')));
    const error = await startDashboard(host, { host: EXTERNAL!, port: 0, influxUrl: noInflux, influxDatabase: 'x', access: empty }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FleetpulseError);
    expect((error as FleetpulseError).code).toBe('FP_ACCESS_NOT_CONFIGURED');
    expect((error as Error).message).toContain('--token-file');
    expect((error as Error).message).not.toContain('\n');
  });

  it('stays open on loopback, as before', async () => {
    const open = await startDashboard(host, { host: '127.0.0.1', port: 0, influxUrl: noInflux, influxDatabase: 'x', access: new RequestAuthenticator(new FileTokenStore(join(dir, 'none.json'))) });
    try {
      expect((await fetch(open.url)).status).toBe(200);
      expect((await fetch(`${open.url}api/snapshot`)).status).toBe(200);
    } finally {
      await open.close();
    }
  });

  it('answers 401 to the event stream and the APIs without a token, and serves them with one', async () => {
    expect(dashboard.url).toContain(EXTERNAL!);
    for (const path of ['events', 'api/snapshot', 'api/notifications', 'app.js']) {
      const response = await fetch(`${dashboard.url}${path}`);
      expect(response.status, path).toBe(401);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('FP_API_UNAUTHORIZED');
    }
    const snapshot = await fetch(`${dashboard.url}api/snapshot`, { headers: { authorization: `Bearer ${token}` } });
    expect(snapshot.status).toBe(200);
  });

  it('asks for login in the browser, refuses a wrong token, and shows the live page after a right one', async () => {
    const page = await browser.context.newPage();
    await page.goto(dashboard.url);
    expect(new URL(page.url()).pathname).toBe('/login');
    expect(await page.locator('#tiles').count()).toBe(0);
    await page.fill('#token', 'fpt_000000000000_wrongwrongwrongwrongwrongwrongwron');
    await page.click('button[type="submit"]');
    await page.locator('#message', { hasText: 'not valid' }).waitFor({ timeout: 10_000 });
    await page.fill('#token', token);
    await page.click('button[type="submit"]');
    await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
    expect(new URL(page.url()).pathname).toBe('/');
    // The event stream (EventSource sends the session cookie) delivered the snapshot with the fleet.
    const snapshots = () => page.evaluate(() => (globalThis as unknown as { __dashboard: { snapshots: number } }).__dashboard.snapshots);
    expect(await waitFor(async () => (await snapshots()) >= 1, 10_000, 100)).toBe(true);
    expect(await waitFor(async () => (await page.locator('#tiles .tile[data-vehicle="car-login"]').count()) === 1, 10_000, 100)).toBe(true);
    await page.close();
  });

  it('limits failed attempts from an address without locking out a valid token', async () => {
    // A dashboard of its own: the failures of the other cases do not count here.
    const limited = await startDashboard(host, { host: EXTERNAL!, port: 0, influxUrl: noInflux, influxDatabase: 'x', access: new RequestAuthenticator(new FileTokenStore(join(dir, 'tokens.json'))) });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await fetch(`${limited.url}api/snapshot`, { headers: { authorization: `Bearer fpt_${String(i).padStart(12, '0')}_${'x'.repeat(32)}` } })).status);
      expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
      expect(statuses.slice(10)).toEqual([429, 429]);
      expect((await fetch(`${limited.url}api/snapshot`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});
