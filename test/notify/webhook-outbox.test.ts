/**
 * The webhook channel and the outbox on real parts: a node:http receiver on loopback and the
 * SQLite outbox on disk; the notifier in this process (the SIGKILL of a whole ingest is in
 * notify-e2e.test.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ServiceMetrics } from '../../common/metrics.ts';
import { idempotencyKey } from '../../ingest/notify/notification-change.ts';
import { Notifier } from '../../ingest/notify/notifier.ts';
import { waitFor } from '../support/influx.ts';
import { alertMessage, HOOK_SECRET, notifyConfig } from './alert-fixtures.ts';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-notify-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

function config(url: string, extra: { channel?: Record<string, unknown>; outbox?: Record<string, unknown>; rules?: unknown[]; health?: Record<string, unknown> } = {}) {
  return notifyConfig({
    rules: extra.rules ?? [{ name: 'all', kinds: ['*'], channels: ['hook'] }],
    channels: { hook: { type: 'webhook', url, secret: HOOK_SECRET, retryInitialS: 0.05, retryMaxS: 0.3, ...extra.channel } },
    outbox: extra.outbox ?? {},
    health: extra.health ?? { checks: [] },
  });
}

function startNotifier(file: string, cfg: ReturnType<typeof config>, health?: () => Record<string, unknown>): Notifier {
  const notifier = new Notifier({ config: cfg, outboxFile: file });
  notifier.start(health);
  open.push(notifier);
  return notifier;
}

async function receiver(options: Parameters<typeof startWebhookReceiver>[1] = {}): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver(HOOK_SECRET, options);
  open.push(r);
  return r;
}

async function metricsOf(notifier: Notifier): Promise<string> {
  const metrics = new ServiceMetrics('fleetpulse_ingest');
  metrics.addSource((m) => notifier.writeMetrics(m));
  return metrics.text();
}

describe('webhook notifications through the outbox', () => {
  it('delivers every change once, in order, after an outage and a restart of the notifier; a change reported again is not sent again', async () => {
    const hook = await receiver({ down: true });
    const file = join(dir, 'outage.sqlite');
    const t0 = Date.parse('2026-12-01T08:00:00Z');
    const aRaised = alertMessage('car-a', 'raised', t0);
    const bRaised = alertMessage('car-b', 'raised', t0 + 30_000);
    const aCleared = alertMessage('car-a', 'cleared', t0, t0 + 300_000);

    let notifier = startNotifier(file, config(hook.url));
    notifier.onEvent({ type: 'alert', alert: aRaised });
    notifier.onEvent({ type: 'alert', alert: bRaised });
    expect(await waitFor(() => hook.refusedConnections() >= 3, 10_000, 20)).toBe(true);
    expect(notifier.status().channels[0]).toMatchObject({ activity: 'retrying', delivered: 0, pending: 2 });
    await notifier.close();
    open.splice(open.indexOf(notifier), 1);

    notifier = startNotifier(file, config(hook.url));
    notifier.onEvent({ type: 'alert', alert: aRaised }); // reported again (e.g. after a replay)
    notifier.onEvent({ type: 'alert', alert: aCleared });
    expect(notifier.pending()).toBe(3);
    hook.setDown(false);
    expect(await waitFor(() => notifier.pending() === 0, 10_000, 20)).toBe(true);
    notifier.onEvent({ type: 'alert', alert: bRaised }); // and once more after it was delivered
    const metrics = await metricsOf(notifier);

    const keys = [aRaised, bRaised, aCleared].map((a) => idempotencyKey('alert', a.alertId, a.state, a.windowStartMs));
    expect(hook.accepted().map((r) => r.key)).toEqual(keys);
    expect(hook.received.map((r) => r.status)).toEqual([204, 204, 204]);
    for (const r of hook.received) {
      expect(r.signature.ok).toBe(true);
      expect(r.notification.id).toBe(r.key);
    }
    expect(hook.received.map((r) => `${r.notification.vehicle} ${r.notification.state} ${r.notification.kind}`)).toEqual(['car-a raised alert:engine_anomaly', 'car-b raised alert:engine_anomaly', 'car-a cleared alert:engine_anomaly']);
    // The first two were attempted before the restart: the attempt count lives in the outbox.
    expect(hook.received[0]!.attempt).toBeGreaterThan(1);
    expect(hook.received[2]!.attempt).toBe(1);
    expect(metrics).toMatch(/fleetpulse_ingest_notify_duplicates_total 2/);
    expect(metrics).toMatch(/fleetpulse_ingest_notify_delivered_total\{channel="hook"\} 3/);
    expect(metrics).toMatch(/fleetpulse_ingest_notify_outbox_pending 0/);
    expect(notifier.status().channels[0]).toMatchObject({ delivered: 3, activity: 'idle' });
  });

  it('does not retry what the receiver refuses for good (400), and goes on with the next', async () => {
    const refusedVehicle = 'car-bad';
    const hook = await receiver({ answer: (n) => (n.vehicle === refusedVehicle ? 400 : 200) });
    const notifier = startNotifier(join(dir, 'refused.sqlite'), config(hook.url));
    notifier.onEvent({ type: 'alert', alert: alertMessage(refusedVehicle, 'raised', 1000) });
    notifier.onEvent({ type: 'alert', alert: alertMessage('car-ok', 'raised', 2000) });
    expect(await waitFor(() => notifier.pending() === 0, 10_000, 20)).toBe(true);
    expect(hook.received.map((r) => `${r.notification.vehicle} ${r.status}`)).toEqual(['car-bad 400', 'car-ok 200']);
    expect(notifier.status().channels[0]).toMatchObject({ delivered: 1, rejected: 1, failures: 0, lastError: 'HTTP 400' });
    expect(await metricsOf(notifier)).toMatch(/fleetpulse_ingest_notify_rejected_total\{channel="hook"\} 1/);
  });

  it('keeps at most maxPending waiting: the oldest go first, counted', async () => {
    const hook = await receiver({ down: true });
    const notifier = startNotifier(join(dir, 'bound.sqlite'), config(hook.url, { outbox: { maxPending: 10 } }));
    for (let i = 0; i < 13; i++) notifier.onEvent({ type: 'alert', alert: alertMessage(`car-${i}`, 'raised', i * 1000) });
    expect(notifier.pending()).toBe(10);
    expect(notifier.status().channels[0]!.dropped).toEqual({ outbox_full: 3, expired: 0 });
    expect(await metricsOf(notifier)).toMatch(/fleetpulse_ingest_notify_dropped_total\{channel="hook",reason="outbox_full"\} 3/);
    hook.setDown(false);
    expect(await waitFor(() => notifier.pending() === 0, 10_000, 20)).toBe(true);
    expect(hook.accepted().map((r) => r.notification.vehicle)).toEqual(Array.from({ length: 10 }, (_, i) => `car-${i + 3}`));
  });

  it('holds a channel to its rate: what is over waits in the outbox, nothing is lost', async () => {
    const hook = await receiver();
    // 60 a minute: a burst of 10, then one a second.
    const notifier = startNotifier(join(dir, 'rate.sqlite'), config(hook.url, { channel: { maxPerMinute: 60 } }));
    for (let i = 0; i < 12; i++) notifier.onEvent({ type: 'alert', alert: alertMessage(`car-${i}`, 'raised', i) });
    expect(await waitFor(() => notifier.pending() === 0, 20_000, 50)).toBe(true);
    expect(hook.accepted()).toHaveLength(12);
    expect(notifier.status().channels[0]!.rateLimited).toBeGreaterThanOrEqual(1);
  });

  it('notifies ingest health: raised once however long it fails, also across a restart, then cleared', async () => {
    const hook = await receiver();
    const file = join(dir, 'health.sqlite');
    let health: Record<string, unknown> = { status: 'degraded', influx: 'failing: connect ECONNREFUSED 127.0.0.1:8086', spoolBlocked: false, mqttConnected: true };
    const cfg = config(hook.url, { health: { checks: ['influxdb', 'spool', 'broker'], checkIntervalS: 0.05, graceS: 0 }, rules: [{ name: 'ops', kinds: ['ingest_health'], channels: ['hook'] }] });
    let notifier = startNotifier(file, cfg, () => health);
    expect(await waitFor(() => hook.accepted().length === 1, 10_000, 20)).toBe(true);
    expect(notifier.status().healthRaised).toEqual(['influxdb']);
    await notifier.close();
    open.splice(open.indexOf(notifier), 1);
    notifier = startNotifier(file, cfg, () => health);
    expect(notifier.status().healthRaised).toEqual(['influxdb']);
    health = { ...health, status: 'ok', influx: 'ok' };
    expect(await waitFor(() => hook.accepted().length >= 2, 10_000, 20)).toBe(true);
    expect(await waitFor(() => notifier.pending() === 0, 10_000, 20)).toBe(true);
    expect(hook.accepted()).toHaveLength(2);
    const [raised, cleared] = hook.accepted().map((r) => r.notification);
    expect([raised!.kind, raised!.state, raised!.summary]).toEqual(['ingest_health:influxdb', 'raised', 'ingest: InfluxDB failing: connect ECONNREFUSED 127.0.0.1:8086']);
    expect([cleared!.kind, cleared!.state]).toEqual(['ingest_health:influxdb', 'cleared']);
    expect(cleared!.id).not.toBe(raised!.id);
  });
});
