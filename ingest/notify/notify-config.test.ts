import { describe, expect, it } from 'vitest';
import { parseNotifyConfig } from './notify-config.ts';

const SECRET = 'webhook-secret-0123456789';
const valid = {
  rules: [{ name: 'ops', kinds: ['alert', 'ingest_health'], vehicles: ['@north', 'van-*'], channels: ['hook', 'mail'] }],
  channels: {
    hook: { type: 'webhook', url: 'https://hooks.example.com/fleet', secretEnv: 'HOOK_SECRET' },
    mail: { type: 'email', smtp: { host: 'smtp.example.com', user: 'fleet', passwordEnv: 'SMTP_PASSWORD' }, from: 'Fleet <fleet@example.com>', to: ['ops@example.com'], digestMinutes: 15, quietHours: { start: '22:00', end: '07:00', timeZone: 'Europe/Berlin' } },
  },
  groups: { north: ['truck-1*'] },
};
const env = { HOOK_SECRET: SECRET, SMTP_PASSWORD: 'smtp-password' };
const fields = (value: unknown, e: NodeJS.ProcessEnv = env) => {
  const result = parseNotifyConfig(value, e);
  return result.ok ? [] : result.issues.map((i) => `${i.field}: ${i.message}`);
};

describe('notifications configuration', () => {
  it('accepts a full configuration, fills defaults and resolves secrets from the environment', () => {
    const result = parseNotifyConfig(valid, env);
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    const hook = result.config.channels.get('hook');
    expect(hook).toMatchObject({ type: 'webhook', secret: SECRET, timeoutS: 10, maxPerMinute: 60, retryInitialS: 1, retryMaxS: 300 });
    expect(result.config.channels.get('mail')).toMatchObject({ smtp: { port: 587, secure: false, starttls: 'required', password: 'smtp-password', rejectUnauthorized: true }, digestMinutes: 15 });
    expect(result.config.outbox).toEqual({ maxPending: 10_000, maxAgeHours: 24, keepDeliveredHours: 72 });
    expect(result.config.health).toEqual({ checks: ['influxdb', 'spool', 'broker'], checkIntervalS: 15, graceS: 60 });
    expect(result.config.rules[0]!.states).toEqual(['raised', 'cleared']);
  });

  it('names the field of every problem', () => {
    expect(fields({ ...valid, channels: { ...valid.channels, hook: { ...valid.channels.hook, url: 'ftp://x' } } })).toEqual(['notifications.channels.hook.url: must be an http or https URL']);
    expect(fields({ ...valid, rules: [{ ...valid.rules[0], channels: ['hook', 'pager'] }] })).toEqual(["notifications.rules[0].channels: no channel 'pager' (channels: hook, mail)"]);
    expect(fields({ ...valid, rules: [{ ...valid.rules[0], kinds: ['alerts:x'] }] })[0]).toMatch(/^notifications\.rules\[0\]\.kinds\[0\]: must start with one of alert, api_threat, ingest_health/);
    expect(fields({ ...valid, rules: [{ ...valid.rules[0], vehicles: ['@south'] }] })).toEqual(["notifications.rules[0].vehicles: no group 'south' in notifications.groups"]);
    expect(fields({ ...valid, rules: [valid.rules[0], valid.rules[0]] })).toEqual(["notifications.rules[1].name: 'ops' is used by an earlier rule"]);
    const quiet = { ...valid.channels.mail, quietHours: { start: '22:00', end: '7:00', timeZone: 'Mars/Olympus' } };
    expect(fields({ ...valid, channels: { ...valid.channels, mail: quiet } })).toEqual([
      'notifications.channels.mail.quietHours.end: must be HH:MM (24 h)',
      'notifications.channels.mail.quietHours.timeZone: must be an IANA time zone such as Europe/Berlin or UTC',
    ]);
    expect(fields({ ...valid, channels: { ...valid.channels, hook: { ...valid.channels.hook, retries: 3 } } })[0]).toMatch(/^notifications\.channels\.hook: Unrecognized key/);
    expect(fields({ ...valid, channels: { ...valid.channels, pager: { type: 'sms' } } })[0]).toMatch(/^notifications\.channels\.pager(\.type)?: /);
    expect(fields({ ...valid, outbox: { maxPending: 0 } })[0]).toMatch(/^notifications\.outbox\.maxPending: /);
  });

  it('requires a webhook secret of 16 characters, from the file or a set environment variable, and never echoes it', () => {
    expect(fields(valid, { SMTP_PASSWORD: 'p' })).toEqual(['notifications.channels.hook.secretEnv: environment variable HOOK_SECRET is not set']);
    const inline = { ...valid, channels: { ...valid.channels, hook: { type: 'webhook', url: 'https://h.example.com/', secret: 'short-secret' } } };
    const issues = fields(inline);
    expect(issues).toEqual(['notifications.channels.hook.secret: must be at least 16 characters']);
    expect(issues.join('\n')).not.toContain('short-secret');
    const none = { ...valid, channels: { ...valid.channels, hook: { type: 'webhook', url: 'https://h.example.com/' } } };
    expect(fields(none)).toEqual(['notifications.channels.hook.secret: is required (or name an environment variable with secretEnv)']);
    const both = { ...valid, channels: { ...valid.channels, hook: { ...valid.channels.hook, secret: SECRET } } };
    expect(fields(both)).toEqual(['notifications.channels.hook.secretEnv: give either secret or secretEnv, not both']);
  });
});
