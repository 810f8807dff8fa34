import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NotificationOutbox } from './outbox.ts';

const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-outbox-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const HOUR = 3_600_000;
const item = (key: string, channel = 'hook') => ({ channel, key, rule: 'r', body: `{"id":"${key}"}` });

describe('notification outbox', () => {
  it('expires deliveries waiting too long, and forgets finished ones after keepDoneMs or beyond the bound', () => {
    const outbox = new NotificationOutbox({ file: join(dir, 'a.sqlite'), maxPending: 10, maxAgeMs: HOUR, keepDoneMs: 2 * HOUR });
    outbox.enqueue([item('old')], 0);
    outbox.enqueue([item('new'), item('new', 'mail')], 30 * 60_000);
    expect(outbox.expire(HOUR + 1)).toEqual(['hook']);
    expect(outbox.pending('hook', 10).map((r) => r.key)).toEqual(['new']);
    expect(outbox.pendingCount()).toBe(2);
    outbox.delivered(outbox.pending('hook', 10).map((r) => r.seq), HOUR + 2);
    // Delivered is remembered: the same change is not queued again ...
    expect(outbox.enqueue([item('new')], HOUR + 3).queued).toEqual([]);
    expect(outbox.lastDone('hook', 'delivered')).toBe(HOUR + 2);
    // ... until it is forgotten.
    outbox.prune(3 * HOUR + 3);
    expect(outbox.enqueue([item('new')], 3 * HOUR + 4).queued).toHaveLength(1);
    // At most maxPending finished rows are kept, the newest.
    for (let i = 0; i < 15; i++) outbox.enqueue([item(`k${i}`, 'other')], 4 * HOUR);
    outbox.delivered(outbox.pending('other', 20).map((r) => r.seq), 4 * HOUR);
    outbox.prune(4 * HOUR);
    expect(outbox.enqueue([item('k4', 'other')], 4 * HOUR).queued).toHaveLength(1);
    expect(outbox.enqueue([item('k5', 'other')], 4 * HOUR).queued).toHaveLength(0);
    outbox.close();
  });

  it('keeps digest times and raised health checks across a reopen, and refuses a second opener', () => {
    const file = join(dir, 'b.sqlite');
    let outbox = new NotificationOutbox({ file, maxPending: 10, maxAgeMs: HOUR, keepDoneMs: HOUR });
    outbox.enqueue([item('m1', 'mail')], 5);
    outbox.mailSent('mail', 'r', outbox.pending('mail', 10).map((r) => r.seq), 1234);
    outbox.setHealthCheck('influxdb', { sinceMs: 99, detail: 'down' });
    outbox.setHealthCheck('spool', { sinceMs: 1, detail: 'x' });
    outbox.setHealthCheck('spool', undefined);
    expect(() => new NotificationOutbox({ file, maxPending: 10, maxAgeMs: HOUR, keepDoneMs: HOUR })).toThrow(/notifications\.outbox\.file: cannot open/);
    outbox.close();
    outbox = new NotificationOutbox({ file, maxPending: 10, maxAgeMs: HOUR, keepDoneMs: HOUR });
    expect(outbox.lastMail('mail', 'r')).toBe(1234);
    expect(outbox.pendingCount('mail')).toBe(0);
    expect([...outbox.raisedHealthChecks()]).toEqual([['influxdb', { sinceMs: 99, detail: 'down' }]]);
    outbox.close();
  });
});
