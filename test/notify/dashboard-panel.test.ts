/**
 * The live dashboard's notifications panel in headless Chromium: hidden without channels; with a
 * webhook channel whose receiver is down it shows the channel retrying and the error, then the
 * delivery once the receiver is back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type DashboardHost, type RunningDashboard } from '../../ingest/dashboard/dashboard-server.ts';
import { Notifier } from '../../ingest/notify/notifier.ts';
import { chromiumInstalled, launchChromium, type TestBrowser } from '../dashboard/browser.ts';
import { waitFor } from '../support/influx.ts';
import { alertMessage, HOOK_SECRET, notifyConfig } from './alert-fixtures.ts';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

// No InfluxDB here: the page's backfill fails fast and it shows live data only.
const NO_INFLUX = 'http://127.0.0.1:1';
const host: DashboardHost = { addEventListener: () => undefined, addMetrics: () => undefined };

describe.skipIf(!chromiumInstalled())('notifications panel', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-notify-panel-'));
  let browser: TestBrowser;
  let hook: WebhookReceiver;
  let notifier: Notifier;
  const dashboards: RunningDashboard[] = [];
  beforeAll(async () => {
    [browser, hook] = await Promise.all([launchChromium(), startWebhookReceiver(HOOK_SECRET, { down: true })]);
    notifier = new Notifier({
      config: notifyConfig({ rules: [{ name: 'all', channels: ['ops-hook'] }], channels: { 'ops-hook': { type: 'webhook', url: hook.url, secret: HOOK_SECRET, retryInitialS: 0.2, retryMaxS: 0.5 } }, health: { checks: [] } }),
      outboxFile: join(dir, 'outbox.sqlite'),
    });
    notifier.start();
  });
  afterAll(async () => {
    for (const d of dashboards) await d.close();
    await notifier?.close();
    await Promise.all([browser?.close(), hook?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('stays hidden without notification channels', async () => {
    const dashboard = await startDashboard(host, { host: '127.0.0.1', port: 0, influxUrl: NO_INFLUX, influxDatabase: 'x' });
    dashboards.push(dashboard);
    const page = await browser.context.newPage();
    await page.goto(dashboard.url);
    expect(await (await fetch(`${dashboard.url}api/notifications`)).json()).toEqual({ channels: [] });
    const polls = () => page.evaluate(() => (globalThis as unknown as { __dashboard: { notifyPolls: number } }).__dashboard.notifyPolls);
    expect(await waitFor(async () => (await polls()) >= 1, 10_000, 50)).toBe(true);
    expect(await page.locator('#notify-panel').isHidden()).toBe(true);
    await page.close();
  });

  it('shows a channel retrying with its error, then its delivery', async () => {
    const dashboard = await startDashboard(host, { host: '127.0.0.1', port: 0, influxUrl: NO_INFLUX, influxDatabase: 'x', notifications: notifier });
    dashboards.push(dashboard);
    notifier.onEvent({ type: 'alert', alert: alertMessage('car-a', 'raised', 1000) });
    expect(await waitFor(() => notifier.status().channels[0]!.failures >= 1, 10_000, 20)).toBe(true);
    const page = await browser.context.newPage();
    await page.goto(dashboard.url);
    const row = page.locator('#notify tbody tr[data-channel="ops-hook"]');
    expect(await waitFor(async () => (await row.count()) === 1, 10_000, 100)).toBe(true);
    expect(await page.locator('#notify-panel').isVisible()).toBe(true);
    expect(await row.getAttribute('data-activity')).toBe('retrying');
    expect(await page.locator('#notify-error').textContent()).toMatch(/^last failure: ops-hook, \d+ s ago: fetch failed/);
    expect(await page.locator('#notify-pending').textContent()).toBe('1 waiting (bound 10000)');

    hook.setDown(false);
    // The page polls every 5 s.
    expect(await waitFor(async () => (await row.getAttribute('data-activity')) === 'idle', 20_000, 200)).toBe(true);
    const cells = await row.locator('td').allTextContents();
    expect(cells.slice(2)).toEqual([expect.stringMatching(/^\d+ s ago$/), '1', expect.stringMatching(/^[1-9]\d*$/), '0']);
    await page.close();
  });
});
