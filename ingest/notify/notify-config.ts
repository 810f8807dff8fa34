/**
 * The `notifications` configuration of ingest: rules (what, about which vehicles, which state
 * changes) routed to channels (webhooks, email), plus the outbox and ingest-health settings.
 * Given as a JSON object in the config file's `ingest` section (or FLEETPULSE_INGEST_NOTIFICATIONS).
 *
 * Validated once at start (zod): every problem is reported with the field it is about, e.g.
 * `notifications.channels.ops-hook.url: must be an http or https URL`, never with the value
 * (secrets live here). Secrets may be named by environment variable (`secretEnv`, `passwordEnv`)
 * instead of written in the file; a variable that is not set is a configuration error too.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { OptionSpec } from '../../common/config.ts';
import { ConfigError, type ConfigIssue, errorMessage } from '../../common/errors.ts';
import { NOTIFICATION_CATEGORIES } from '../../contracts/notification.ts';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const NAME_HINT = 'must be 1-64 letters, digits, _ . or - (starting with a letter or digit)';
const CLOCK = /^([01]\d|2[0-3]):[0-5]\d$/;
const ADDRESS = /^([^<>@\s][^<>@]*<[^\s@<>]+@[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+)$/;

const httpUrl = z.string().refine((s) => {
  try {
    return ['http:', 'https:'].includes(new URL(s).protocol);
  } catch {
    return false;
  }
}, 'must be an http or https URL');

/** `*` and `?` wildcards; `alert` alone means every alert kind. */
const kindPattern = z.string().refine((p) => {
  const category = p.split(':', 1)[0]!;
  return category === '*' || (NOTIFICATION_CATEGORIES as readonly string[]).includes(category) || (category.includes('*') && !p.includes(':'));
}, `must start with one of ${NOTIFICATION_CATEGORIES.filter((c) => c !== 'test').join(', ')} or be *, e.g. alert:engine_anomaly, alert:*, api_threat, ingest_health:influxdb`);

const timeZone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone such as Europe/Berlin or UTC');

const retry = {
  /** First retry delay; each further one doubles up to retryMaxS (full jitter, common/backoff.ts). */
  retryInitialS: z.number().positive().max(3600).default(1),
  retryMaxS: z.number().positive().max(86_400).default(300),
};

const webhookSchema = z.strictObject({
  type: z.literal('webhook'),
  url: httpUrl,
  /** HMAC-SHA256 key of the signature header; at least 16 characters. */
  secret: z.string().min(16, 'must be at least 16 characters').optional(),
  secretEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').optional(),
  /** Extra request headers, e.g. an Authorization the receiver wants. */
  headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'must be a header name'), z.string()).default({}),
  timeoutS: z.number().positive().max(300).default(10),
  /** Deliveries per minute at most (a burst of up to a sixth of it, at least 1); the rest waits in the outbox. */
  maxPerMinute: z.number().int().min(1).max(60_000).default(60),
  ...retry,
});

const smtpSchema = z.strictObject({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65_535).default(587),
  /** TLS from the first byte (SMTPS, usually port 465); otherwise plain, upgraded by STARTTLS. */
  secure: z.boolean().default(false),
  /** required: refuse a server without STARTTLS; opportunistic: upgrade when offered; off: never. */
  starttls: z.enum(['required', 'opportunistic', 'off']).default('required'),
  user: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  passwordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').optional(),
  /** PEM file of the CA that signed the server's certificate (a private CA); the system's CAs otherwise. */
  caFile: z.string().min(1).optional(),
  rejectUnauthorized: z.boolean().default(true),
  timeoutS: z.number().positive().max(600).default(30),
});

const quietHoursSchema = z.strictObject({
  start: z.string().regex(CLOCK, 'must be HH:MM (24 h)'),
  end: z.string().regex(CLOCK, 'must be HH:MM (24 h)'),
  timeZone,
});

const emailSchema = z.strictObject({
  type: z.literal('email'),
  smtp: smtpSchema,
  from: z.string().regex(ADDRESS, 'must be an address, e.g. fleet@example.com or "Fleet <fleet@example.com>"'),
  to: z.array(z.string().regex(ADDRESS, 'must be an address')).min(1, 'must name at least one address'),
  subjectPrefix: z.string().max(64).default('[fleetpulse]'),
  /** At most one mail per this many minutes per rule; what changes meanwhile goes in the next mail (a digest). 0 = a mail as soon as something changes. */
  digestMinutes: z.number().min(0).max(1440).default(0),
  /** Mails wait while it is quiet there; what waited goes out as one digest per rule when quiet hours end. */
  quietHours: quietHoursSchema.optional(),
  maxPerMinute: z.number().int().min(1).max(6000).default(10),
  /** Changes listed in one mail at most; more go in the next mail. */
  maxChangesPerMail: z.number().int().min(1).max(1000).default(50),
  ...retry,
});

const ruleSchema = z.strictObject({
  name: z.string().regex(NAME, NAME_HINT),
  /** What: `*`, `alert` (every vehicle alert kind), `alert:engine_anomaly`, `alert:dtc*`, `api_threat`, `ingest_health`, `ingest_health:influxdb` … */
  kinds: z.array(kindPattern).min(1, 'must list at least one kind').default(['*']),
  /** Vehicles whose alerts match (globs, or @group); absent = every vehicle. Threats and ingest health have no vehicle and pass. */
  vehicles: z.array(z.string().min(1)).min(1, 'must list at least one vehicle, glob or @group').optional(),
  states: z.array(z.enum(['raised', 'cleared'])).min(1, 'must list raised and/or cleared').default(['raised', 'cleared']),
  channels: z.array(z.string()).min(1, 'must name at least one channel'),
});

const outboxSchema = z.strictObject({
  /** SQLite file (default <dataDir>/ingest-notify/<influxDatabase>/<clientId>.sqlite). */
  file: z.string().min(1).optional(),
  /** Deliveries waiting at most, over all channels; at the bound the oldest waiting one is dropped (counted). */
  maxPending: z.number().int().min(10).max(10_000_000).default(10_000),
  /** A delivery still failing after this long is dropped (counted). */
  maxAgeHours: z.number().positive().max(24 * 365).default(24),
  /** Finished deliveries are remembered this long, so the same change is never sent twice. */
  keepDeliveredHours: z.number().positive().max(24 * 365).default(72),
});

const healthSchema = z.strictObject({
  checks: z.array(z.enum(['influxdb', 'spool', 'broker'])).default(['influxdb', 'spool', 'broker']),
  checkIntervalS: z.number().positive().max(3600).default(15),
  /** A check must fail (or recover) for this long before it is raised (or cleared). */
  graceS: z.number().min(0).max(86_400).default(60),
});

const notificationsSchema = z.strictObject({
  rules: z.array(ruleSchema).default([]),
  channels: z.record(z.string().regex(NAME, NAME_HINT), z.discriminatedUnion('type', [webhookSchema, emailSchema], { error: 'must have type webhook or email' })).default({}),
  /** Named vehicle lists for rules (`@name`): ids or globs. */
  groups: z.record(z.string().regex(NAME, NAME_HINT), z.array(z.string().min(1)).min(1)).default({}),
  outbox: outboxSchema.prefault({}),
  health: healthSchema.prefault({}),
  /** Linked from mails (e.g. the live dashboard's URL). */
  dashboardUrl: httpUrl.optional(),
});

type RawNotifications = z.infer<typeof notificationsSchema>;
export type WebhookChannelConfig = Omit<z.infer<typeof webhookSchema>, 'secretEnv' | 'secret'> & { name: string; secret: string };
export type EmailChannelConfig = Omit<z.infer<typeof emailSchema>, 'smtp'> & { name: string; smtp: Omit<z.infer<typeof smtpSchema>, 'passwordEnv' | 'caFile'> & { ca?: string } };
export type ChannelConfig = WebhookChannelConfig | EmailChannelConfig;
export type RuleConfig = z.infer<typeof ruleSchema>;
export type QuietHours = z.infer<typeof quietHoursSchema>;

export interface NotifyConfig {
  rules: RuleConfig[];
  channels: Map<string, ChannelConfig>;
  groups: Record<string, string[]>;
  outbox: z.infer<typeof outboxSchema>;
  health: z.infer<typeof healthSchema>;
  dashboardUrl?: string;
}

/** The ingest option (merged into its option table): a JSON object; absent = no notifications. */
export const notifyOptions = {
  notifications: {
    description: 'Notification rules and channels (webhook, email), a JSON object; see docs/operations.md. Absent = off',
    default: undefined,
    required: false,
    placeholder: '<json>',
    schema: z.record(z.string(), z.unknown(), { error: 'must be a JSON object (see docs/operations.md)' }),
    fromText: (raw: string): unknown => {
      try {
        return JSON.parse(raw);
      } catch {
        return raw;
      }
    },
    isBoolean: false,
  } satisfies OptionSpec<Record<string, unknown> | undefined>,
};

/** Dotted path of a zod issue under `notifications` (array items as [i]). */
function fieldOf(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === 'number' ? `${out}[${key}]` : `${out}.${String(key)}`), 'notifications');
}

/**
 * Validates the `notifications` value: the configuration, or the issues (each naming its field)
 * as a value. `env` resolves `secretEnv` / `passwordEnv`.
 */
export function parseNotifyConfig(value: unknown, env: NodeJS.ProcessEnv = process.env): { ok: true; config: NotifyConfig } | { ok: false; issues: ConfigIssue[] } {
  const parsed = notificationsSchema.safeParse(value);
  if (!parsed.success) return { ok: false, issues: parsed.error.issues.map((i) => ({ field: fieldOf(i.path), message: i.message })) };
  const raw: RawNotifications = parsed.data;
  const issues: ConfigIssue[] = [];
  const channels = new Map<string, ChannelConfig>();
  for (const [name, channel] of Object.entries(raw.channels)) {
    const field = `notifications.channels.${name}`;
    if (channel.type === 'webhook') {
      const { secretEnv, secret, ...rest } = channel;
      const resolved = secretOf(secret, secretEnv, env, `${field}.secret`, `${field}.secretEnv`, issues, true);
      if (resolved !== undefined && resolved.length < 16) issues.push({ field: `${field}.secretEnv`, message: `${secretEnv} must hold at least 16 characters` });
      channels.set(name, { ...rest, name, secret: resolved ?? '' });
    } else {
      const { passwordEnv, password, caFile, ...smtp } = channel.smtp;
      const resolved = secretOf(password, passwordEnv, env, `${field}.smtp.password`, `${field}.smtp.passwordEnv`, issues, false);
      if (resolved !== undefined && smtp.user === undefined) issues.push({ field: `${field}.smtp.user`, message: 'is required with a password' });
      let ca: string | undefined;
      if (caFile) {
        try {
          ca = readFileSync(caFile, 'utf8');
        } catch (error) {
          issues.push({ field: `${field}.smtp.caFile`, message: `cannot read ${caFile}: ${errorMessage(error)}` });
        }
      }
      if (smtp.secure && smtp.port === 587) {
        issues.push({ field: `${field}.smtp.secure`, message: 'port 587 speaks STARTTLS, not TLS from the first byte: leave secure false (or use port 465)' });
      }
      channels.set(name, { ...channel, name, smtp: { ...smtp, ...(resolved !== undefined ? { password: resolved } : {}), ...(ca !== undefined ? { ca } : {}) } });
    }
  }
  const names = new Set<string>();
  raw.rules.forEach((rule, i) => {
    const field = `notifications.rules[${i}]`;
    if (names.has(rule.name)) issues.push({ field: `${field}.name`, message: `'${rule.name}' is used by an earlier rule` });
    names.add(rule.name);
    for (const channel of rule.channels) {
      if (!channels.has(channel)) issues.push({ field: `${field}.channels`, message: `no channel '${channel}' (channels: ${[...channels.keys()].join(', ') || 'none'})` });
    }
    for (const vehicle of rule.vehicles ?? []) {
      if (vehicle.startsWith('@') && !(vehicle.slice(1) in raw.groups)) issues.push({ field: `${field}.vehicles`, message: `no group '${vehicle.slice(1)}' in notifications.groups` });
    }
  });
  if (issues.length > 0) return { ok: false, issues };
  return {
    ok: true,
    config: { rules: raw.rules, channels, groups: raw.groups, outbox: raw.outbox, health: raw.health, ...(raw.dashboardUrl ? { dashboardUrl: raw.dashboardUrl } : {}) },
  };
}

/** Like parseNotifyConfig, but a ConfigError (exit code 2, one line per field) for a service's start. */
export function notifyConfigOrThrow(context: string, value: unknown, env: NodeJS.ProcessEnv = process.env): NotifyConfig {
  const result = parseNotifyConfig(value, env);
  if (!result.ok) throw new ConfigError(context, result.issues);
  return result.config;
}

function secretOf(value: string | undefined, envName: string | undefined, env: NodeJS.ProcessEnv, valueField: string, envField: string, issues: ConfigIssue[], required: boolean): string | undefined {
  if (value !== undefined && envName !== undefined) {
    issues.push({ field: envField, message: `give either ${valueField.split('.').pop()} or ${envField.split('.').pop()}, not both` });
    return undefined;
  }
  if (envName !== undefined) {
    const fromEnv = env[envName];
    if (fromEnv === undefined || fromEnv === '') issues.push({ field: envField, message: `environment variable ${envName} is not set` });
    return fromEnv || undefined;
  }
  if (value === undefined && required) issues.push({ field: valueField, message: `is required (or name an environment variable with ${envField.split('.').pop()})` });
  return value;
}
