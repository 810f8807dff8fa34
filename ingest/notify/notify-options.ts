/**
 * The `fleetpulse ingest` side of notifications: its option (`notifications`, merged into the
 * option table), validation at start, and the factory that attaches a Notifier to ingest.
 */
import type { Logger } from '../../common/logger.ts';
import { notifyConfigOrThrow, notifyOptions, type NotifyConfig } from './notify-config.ts';
import { Notifier, outboxFileOf, type NotifyHost } from './notifier.ts';

export { notifyOptions };

export interface NotifyIngestConfig {
  notifications: Record<string, unknown> | undefined;
  dataDir: string;
  influxDatabase: string;
  clientId: string;
  spoolFsync?: string;
}

/** Validates `notifications` (a ConfigError naming each bad field); undefined when it is not configured. */
export function validateNotifications(context: string, config: Pick<NotifyIngestConfig, 'notifications'>, env: NodeJS.ProcessEnv = process.env): NotifyConfig | undefined {
  return config.notifications === undefined ? undefined : notifyConfigOrThrow(context, config.notifications, env);
}

/** Attaches notifications to ingest (before `ingest.start()`, so changes from the start on are seen). */
export function attachNotifications(ingest: NotifyHost, notify: NotifyConfig, config: NotifyIngestConfig, logger: Logger): Notifier {
  const outboxFile = outboxFileOf(notify, config);
  const notifier = Notifier.attach(ingest, { config: notify, outboxFile, synchronous: config.spoolFsync === 'always' ? 'FULL' : 'NORMAL', logger });
  logger.info('notifications', {
    rules: notify.rules.map((r) => r.name),
    channels: [...notify.channels.values()].map((c) => `${c.name} (${c.type})`),
    outbox: outboxFile,
    waiting: notifier.pending(),
  });
  return notifier;
}
