/**
 * Email notifications to a real SMTP server process on loopback (smtp-server in a child process,
 * STARTTLS with a development CA's certificate, AUTH required): the alert mail, the digest, quiet
 * hours, and a refused login retried.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { idempotencyKey } from '../../ingest/notify/notification-change.ts';
import { Notifier } from '../../ingest/notify/notifier.ts';
import { waitFor } from '../support/influx.ts';
import { alertMessage, notifyConfig } from './alert-fixtures.ts';
import { startSmtpServerProcess, type SmtpServerProcess } from './smtp-server-process.ts';

const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-notify-mail-'));
let smtp: SmtpServerProcess;
beforeAll(async () => {
  smtp = await startSmtpServerProcess(dir);
});
afterAll(async () => {
  await smtp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const notifiers: Notifier[] = [];
afterEach(async () => {
  for (const n of notifiers.splice(0)) await n.close();
  smtp.mails.splice(0);
});

function mailNotifier(name: string, channel: Record<string, unknown>, now?: () => number, password = smtp.password): Notifier {
  const config = notifyConfig({
    rules: [
      { name: 'vehicles', kinds: ['alert'], channels: ['mail'] },
      { name: 'threats', kinds: ['api_threat'], channels: ['mail'] },
    ],
    channels: {
      mail: { type: 'email', smtp: { host: '127.0.0.1', port: smtp.port, user: smtp.user, password, caFile: smtp.caFile }, from: 'Fleet <fleet@example.com>', to: ['ops@example.com', 'oncall@example.com'], retryInitialS: 0.1, retryMaxS: 0.5, ...channel },
    },
    health: { checks: [] },
  });
  const notifier = new Notifier({ config, outboxFile: join(dir, `${name}.sqlite`), ...(now ? { now } : {}) });
  notifier.start();
  notifiers.push(notifier);
  return notifier;
}

const keyOf = (a: ReturnType<typeof alertMessage>) => idempotencyKey('alert', a.alertId, a.state, a.windowStartMs);
const idsOf = (mail: SmtpServerProcess['mails'][number]) => (mail.headers.get('x-fleetpulse-notification-ids') ?? '').split(' ').filter(Boolean);

describe('email notifications', () => {
  it('mails an alert over STARTTLS with a login: plain text and a small HTML body', async () => {
    const notifier = mailNotifier('single', {});
    const alert = alertMessage('car-a', 'raised', Date.parse('2026-12-01T08:00:00Z'));
    notifier.onEvent({ type: 'alert', alert });
    expect(await waitFor(() => notifier.pending() === 0 && smtp.mails.length === 1, 20_000, 20)).toBe(true);
    const [mail] = smtp.mails;
    expect(mail).toMatchObject({ from: 'fleet@example.com', to: ['ops@example.com', 'oncall@example.com'], secure: true, user: smtp.user });
    expect(mail!.headers.get('subject')).toBe('[fleetpulse] RAISED engine anomaly on car-a: fuel trim 9 % above this car\'s normal at warm idle');
    expect(idsOf(mail!)).toEqual([keyOf(alert)]);
    expect(mail!.headers.get('content-type')).toMatch(/^multipart\/alternative/);
    expect(mail!.raw).toMatch(/Content-Type: text\/plain/);
    expect(mail!.raw).toMatch(/Content-Type: text\/html/);
    expect(mail!.raw).toMatch(/2026-12-01 08:00:31 UTC {2}RAISED engine anomaly on car-a/);
    expect(notifier.status().channels[0]).toMatchObject({ delivered: 1, mails: { single: 1, digest: 0 } });
  });

  it('digest: at most one mail per rule per interval, listing every change since; another rule is not held up', async () => {
    const digestMinutes = 0.05; // 3 s
    const notifier = mailNotifier('digest', { digestMinutes });
    const t0 = Date.parse('2026-12-01T09:00:00Z');
    const first = alertMessage('car-a', 'raised', t0);
    notifier.onEvent({ type: 'alert', alert: first });
    expect(await waitFor(() => smtp.mails.length === 1, 20_000, 20)).toBe(true);
    const later = [alertMessage('car-b', 'raised', t0 + 60_000), alertMessage('car-a', 'cleared', t0, t0 + 120_000)];
    for (const alert of later) notifier.onEvent({ type: 'alert', alert });
    notifier.onEvent({ type: 'threat', source: 'edge-1', rule: 'login-burst', kind: 'failed_logins', subject: '203.0.113.9', count: 40, threshold: 20, windowMs: 60_000, firstMs: t0, lastMs: t0 + 50_000, blockUntilMs: t0 + 3_600_000 });
    expect(await waitFor(() => notifier.pending() === 0 && smtp.mails.length === 3, 20_000, 20)).toBe(true);

    const [alertMail, threatMail, digest] = smtp.mails;
    expect(idsOf(alertMail!)).toEqual([keyOf(first)]);
    expect(threatMail!.headers.get('subject')).toMatch(/^\[fleetpulse\] RAISED API client 203\.0\.113\.9 blocked/);
    expect(idsOf(digest!)).toEqual(later.map(keyOf));
    expect(digest!.headers.get('subject')).toBe('[fleetpulse] 2 changes (rule vehicles): 1 raised, 1 cleared');
    expect(digest!.raw).toMatch(/RAISED engine anomaly on car-b/);
    expect(digest!.raw).toMatch(/CLEARED engine anomaly cleared on car-a/);
    // The digest went no sooner than the interval after the rule's previous mail (recorded after that mail was accepted).
    expect(digest!.atMs - alertMail!.atMs).toBeGreaterThanOrEqual(digestMinutes * 60_000);
    expect(notifier.status().channels[0]!.mails).toEqual({ single: 2, digest: 1 });
  });

  it('holds mails in quiet hours (in the channel\'s time zone) and sends what waited as one digest when they end', async () => {
    let clock = Date.parse('2026-01-15T22:30:00Z'); // 23:30 in Berlin
    const notifier = mailNotifier('quiet', { quietHours: { start: '22:00', end: '07:00', timeZone: 'Europe/Berlin' } }, () => clock);
    const alerts = [alertMessage('car-a', 'raised', clock - 60_000), alertMessage('car-b', 'raised', clock - 30_000)];
    for (const alert of alerts) notifier.onEvent({ type: 'alert', alert });
    expect(await waitFor(() => notifier.status().channels[0]!.activity === 'quiet_hours', 10_000, 20)).toBe(true);
    expect(notifier.status().channels[0]).toMatchObject({ pending: 2, nextAttemptMs: Date.parse('2026-01-16T06:00:00Z') });
    expect(smtp.mails).toHaveLength(0);

    clock = Date.parse('2026-01-16T06:00:30Z'); // 07:00:30 in Berlin
    notifier.wake();
    expect(await waitFor(() => notifier.pending() === 0 && smtp.mails.length === 1, 20_000, 20)).toBe(true);
    expect(idsOf(smtp.mails[0]!)).toEqual(alerts.map(keyOf));
    // Times in the mail are the channel's local time.
    expect(smtp.mails[0]!.raw).toMatch(/2026-01-15 23:29:31 Europe\/Berlin/);
  });

  it('retries a refused login, keeping the mail in the outbox', async () => {
    const notifier = mailNotifier('refused', {}, undefined, 'not-the-password');
    notifier.onEvent({ type: 'alert', alert: alertMessage('car-z', 'raised', 5000) });
    expect(await waitFor(() => notifier.status().channels[0]!.failures >= 2, 20_000, 20)).toBe(true);
    expect(notifier.status().channels[0]).toMatchObject({ pending: 1, delivered: 0 });
    expect(notifier.status().channels[0]!.lastError).toMatch(/Invalid username or password/);
    expect(smtp.mails).toHaveLength(0);
  });
});
