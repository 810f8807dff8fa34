import { describe, expect, it } from 'vitest';
import { notificationSchema, signNotification, verifyNotificationSignature } from './notification.ts';

const secret = 'a-receiver-secret-of-32-characters';
const body = JSON.stringify({ schema: 'fleetpulse.notification/1', id: 'abc', kind: 'test', state: 'raised', subject: 's', summary: 'x', changedAtMs: 1, rule: 'r', future: 'ignored' });

describe('notification signature', () => {
  const now = Date.parse('2026-12-03T10:00:00Z');
  const header = signNotification(secret, body, now / 1000);

  it('verifies the exact body with the secret within the tolerance', () => {
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifyNotificationSignature({ secret, header, body, nowMs: now + 299_000 })).toEqual({ ok: true, timestampS: now / 1000 });
    expect(verifyNotificationSignature({ secret, header, body: Buffer.from(body), nowMs: now })).toMatchObject({ ok: true });
  });

  it('refuses another body, another secret, an old timestamp (replay) and a missing or malformed header', () => {
    expect(verifyNotificationSignature({ secret, header, body: body.replace('"abc"', '"abd"'), nowMs: now })).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifyNotificationSignature({ secret: `${secret}x`, header, body, nowMs: now })).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifyNotificationSignature({ secret, header, body, nowMs: now + 301_000 })).toEqual({ ok: false, reason: 'stale' });
    // The timestamp is signed: moving it forward breaks the signature.
    expect(verifyNotificationSignature({ secret, header: header.replace(/t=\d+/, `t=${now / 1000 + 200}`), body, nowMs: now + 200_000 })).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifyNotificationSignature({ secret, header: undefined, body, nowMs: now })).toEqual({ ok: false, reason: 'missing' });
    expect(verifyNotificationSignature({ secret, header: 'v1=abc', body, nowMs: now })).toEqual({ ok: false, reason: 'malformed' });
  });

  it('reads a body with fields it does not know, and refuses another schema version', () => {
    expect(notificationSchema.safeParse(JSON.parse(body)).success).toBe(true);
    expect(notificationSchema.safeParse({ ...JSON.parse(body), schema: 'fleetpulse.notification/2' }).success).toBe(false);
  });
});
