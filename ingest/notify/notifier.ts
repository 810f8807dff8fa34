/**
 * Notifications attached to ingest: state changes (vehicle alerts of any kind, API threats,
 * ingest health) matched against the configured rules and delivered through their channels.
 *
 *   ingest events (alert, threat) ─┐
 *   health() every checkIntervalS ─┴▶ RuleMatcher ─▶ outbox (SQLite, one row per channel × change)
 *                                                     └▶ ChannelWorker per channel ─▶ webhook / SMTP
 *
 * Guarantees:
 * - A matched change is in the outbox (committed) before the event listener returns; from there
 *   a receiver outage or an ingest crash loses nothing (outbox.ts), and every attempt carries the
 *   change's idempotency key (notification-change.ts). Ingest hands events over only once the data
 *   behind them is spooled (ingest-events.ts).
 * - The listener never throws into ingest. An outbox that cannot be written (disk full) keeps the
 *   changes in memory (at most 1,000, oldest dropped, counted) and tries again every second.
 * - Bounded: the outbox (maxPending, policy: drop the oldest waiting, counted), per-channel rate
 *   limits, one send in flight per channel.
 * - Counted in ingest's /metrics (`fleetpulse_ingest_notify_*`), shown on the live dashboard
 *   (`status()`).
 */
import { join, resolve } from 'node:path';
import { Backoff } from '../../common/backoff.ts';
import { errorMessage } from '../../common/errors.ts';
import { type Logger, silentLogger } from '../../common/logger.ts';
import type { MetricsSource, ScrapeMetrics } from '../../common/metrics.ts';
import type { IngestEvent, IngestEventListener } from '../ingest-events.ts';
import { ChannelWorker, type ChannelStats, type DeliveryPlan } from './channel-worker.ts';
import type { ChannelSender } from './delivery-outcome.ts';
import { HealthWatch } from './health-watch.ts';
import { alertChange, healthChange, threatChange, toNotification, type NotificationChange } from './notification-change.ts';
import type { EmailChannelConfig, NotifyConfig } from './notify-config.ts';
import { NotificationOutbox, type DropReason, type NewDelivery, type OutboxRow } from './outbox.ts';
import { inQuietHours, quietHoursEnd } from './quiet-hours.ts';
import { RateLimit } from './rate-limit.ts';
import { RuleMatcher } from './rule-matcher.ts';
import { createChannelSender } from './test-notification.ts';

/** What the notifier needs of ingest (IngestService has it). */
export interface NotifyHost {
  addEventListener(listener: IngestEventListener): void;
  addMetrics(source: MetricsSource): void;
  health(): Record<string, unknown>;
}

export interface NotifierOptions {
  config: NotifyConfig;
  /** The outbox file (NotifyConfig.outbox.file resolved by the caller, see `outboxFileOf`). */
  outboxFile: string;
  /** FULL fsyncs every outbox commit (for --spool-fsync always). */
  synchronous?: 'FULL' | 'NORMAL';
  logger?: Logger;
  /** Clock of quiet hours, digests and records (tests move it). */
  now?: () => number;
  /** Replaces a channel's sender (tests). */
  senders?: Record<string, ChannelSender>;
}

export interface NotificationStatus {
  channels: Array<ChannelStats & { pending: number }>;
  /** Waiting deliveries over all channels and their bound. */
  pending: number;
  maxPending: number;
  /** Ingest health checks raised now. */
  healthRaised: string[];
}

const MAX_UNSTORED = 1000;

/** Where a worker's outbox lives by default. */
export function outboxFileOf(config: NotifyConfig, paths: { dataDir: string; influxDatabase: string; clientId: string }): string {
  return config.outbox.file ? resolve(config.outbox.file) : join(resolve(paths.dataDir), 'ingest-notify', paths.influxDatabase, `${paths.clientId}.sqlite`);
}

export class Notifier {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly outbox: NotificationOutbox;
  private readonly matcher: RuleMatcher;
  private readonly workers = new Map<string, ChannelWorker>();
  private readonly senders = new Map<string, ChannelSender>();
  private readonly health: HealthWatch;
  private readonly unstored: NotificationChange[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;
  private prunedAtMs = -Infinity;
  private counters = { changes: new Map<string, number>(), unmatched: 0, duplicates: 0, queued: new Map<string, number>(), unstoredDropped: 0, storeFailures: 0 };

  constructor(private readonly options: NotifierOptions) {
    const { config } = options;
    this.log = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
    this.outbox = new NotificationOutbox({
      file: options.outboxFile,
      maxPending: config.outbox.maxPending,
      maxAgeMs: config.outbox.maxAgeHours * 3_600_000,
      keepDoneMs: config.outbox.keepDeliveredHours * 3_600_000,
      ...(options.synchronous ? { synchronous: options.synchronous } : {}),
    });
    this.matcher = new RuleMatcher(config);
    this.health = new HealthWatch(config.health.checks, config.health.graceS * 1000, this.outbox.raisedHealthChecks());
    for (const channel of config.channels.values()) {
      const sender = options.senders?.[channel.name] ?? createChannelSender(channel, config, this.now);
      this.senders.set(channel.name, sender);
      this.workers.set(
        channel.name,
        new ChannelWorker({
          sender,
          outbox: this.outbox,
          rate: new RateLimit(channel.maxPerMinute, Math.max(1, Math.ceil(channel.maxPerMinute / 6)), this.now()),
          backoff: new Backoff({ initialMs: channel.retryInitialS * 1000, maxMs: channel.retryMaxS * 1000 }),
          plan: channel.type === 'webhook' ? (rows) => ({ send: rows.slice(0, 1) }) : (rows, nowMs) => this.planMail(channel, rows, nowMs),
          lookahead: channel.type === 'webhook' ? 1 : 1000,
          now: this.now,
          log: this.log,
        }),
      );
    }
  }

  /** Attaches to ingest (events, metrics) and starts delivering and watching health. */
  static attach(host: NotifyHost, options: NotifierOptions): Notifier {
    const notifier = new Notifier(options);
    host.addEventListener((event) => notifier.onEvent(event));
    host.addMetrics((m) => notifier.writeMetrics(m));
    notifier.start(() => host.health());
    return notifier;
  }

  /** Starts the channel workers, and the health watch when `health` is given. */
  start(health?: () => Record<string, unknown>): void {
    for (const worker of this.workers.values()) worker.start();
    const { config } = this.options;
    if (health && config.health.checks.length > 0) {
      const timer = setInterval(() => this.checkHealth(health()), config.health.checkIntervalS * 1000);
      timer.unref();
      this.timers.push(timer);
    }
    // Housekeeping: expiry, the ledger's bound, changes the outbox could not take.
    const housekeeping = setInterval(() => this.housekeeping(), 1000);
    housekeeping.unref();
    this.timers.push(housekeeping);
    this.housekeeping();
  }

  /** The ingest event listener: alerts and threats become changes; everything else is ignored. */
  onEvent(event: IngestEvent): void {
    if (event.type === 'alert') this.notify(alertChange(event.alert));
    else if (event.type === 'threat') this.notify(threatChange(event));
  }

  /** Feeds one reading of ingest's health(); changes of the checks are notified. */
  checkHealth(health: Record<string, unknown>): void {
    if (this.closed) return;
    for (const t of this.health.observe(health, this.now())) {
      try {
        this.outbox.setHealthCheck(t.check, t.state === 'raised' ? { sinceMs: t.sinceMs, detail: t.detail } : undefined);
      } catch (error) {
        this.log.error('health check state not stored', { check: t.check, error: errorMessage(error) });
      }
      this.log.warn(`ingest health ${t.check} ${t.state}`, { detail: t.detail });
      this.notify(healthChange(t.check, t.state, t.sinceMs, t.detail, this.now()));
    }
  }

  /** Queues `change` for the channels of every rule it matches (once per channel: the first rule names it). */
  notify(change: NotificationChange): void {
    if (this.closed) return;
    const category = change.kind.split(':', 1)[0]!;
    this.counters.changes.set(category, (this.counters.changes.get(category) ?? 0) + 1);
    const rules = this.matcher.match(change);
    if (rules.length === 0) {
      this.counters.unmatched += 1;
      return;
    }
    const items: NewDelivery[] = [];
    const seen = new Set<string>();
    for (const rule of rules) {
      const body = JSON.stringify(toNotification(change, rule.name));
      for (const channel of rule.channels) {
        if (seen.has(channel)) continue;
        seen.add(channel);
        items.push({ channel, key: change.id, rule: rule.name, body });
      }
    }
    this.store(change, items);
  }

  status(): NotificationStatus {
    const channels = [...this.workers.values()].map((w) => ({ ...w.stats, dropped: { ...w.stats.dropped }, mails: { ...w.stats.mails }, pending: this.closed ? 0 : this.outbox.pendingCount(w.stats.name) }));
    return { channels, pending: this.closed ? 0 : this.outbox.pendingCount(), maxPending: this.options.config.outbox.maxPending, healthRaised: this.health.raised() };
  }

  /** Waiting deliveries of one channel (all channels without a name). */
  pending(channel?: string): number {
    return this.outbox.pendingCount(channel);
  }

  /** Re-plans every channel now (tests that move the clock). */
  wake(): void {
    for (const worker of this.workers.values()) worker.wake();
  }

  /** Stops delivering (a send in flight gets `graceMs`), then closes the outbox. What waits stays for the next start. */
  async close(graceMs = 5000): Promise<void> {
    if (this.closed) return;
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    await Promise.all([...this.workers.values()].map((w) => w.stop(graceMs)));
    this.closed = true;
    if (this.unstored.length > 0) this.log.warn('notifications not stored at stop (the outbox could not be written)', { changes: this.unstored.length });
    for (const sender of this.senders.values()) await sender.close().catch(() => undefined);
    this.outbox.close();
  }

  private store(change: NotificationChange, items: NewDelivery[]): void {
    let result: ReturnType<NotificationOutbox['enqueue']>;
    try {
      result = this.outbox.enqueue(items, this.now());
    } catch (error) {
      this.counters.storeFailures += 1;
      this.log.error('notification not stored in the outbox; kept in memory and retried', { key: change.id, error: errorMessage(error) });
      this.unstored.push(change);
      if (this.unstored.length > MAX_UNSTORED) {
        this.unstored.shift();
        this.counters.unstoredDropped += 1;
      }
      return;
    }
    if (result.queued.length < items.length) this.counters.duplicates += items.length - result.queued.length;
    for (const item of result.queued) {
      this.counters.queued.set(item.channel, (this.counters.queued.get(item.channel) ?? 0) + 1);
      this.workers.get(item.channel)?.wake();
    }
    this.countDropped(result.dropped);
  }

  private countDropped(dropped: ReadonlyArray<{ channel: string; reason: DropReason }>): void {
    for (const { channel, reason } of dropped) {
      const stats = this.workers.get(channel)?.stats;
      if (stats) stats.dropped[reason] += 1;
    }
    if (dropped.length > 0) this.log.warn('notifications dropped', { outboxFull: dropped.filter((d) => d.reason === 'outbox_full').length, expired: dropped.filter((d) => d.reason === 'expired').length });
  }

  private housekeeping(): void {
    if (this.closed) return;
    try {
      const now = this.now();
      this.countDropped(this.outbox.expire(now).map((channel) => ({ channel, reason: 'expired' as const })));
      // The ledger only needs trimming now and then; its bound is a number of rows, not a deadline.
      if (now - this.prunedAtMs >= 60_000) {
        this.outbox.prune(now);
        this.prunedAtMs = now;
      }
      for (const change of this.unstored.splice(0)) this.notify(change);
    } catch (error) {
      this.log.error('notification outbox housekeeping failed', { error: errorMessage(error) });
    }
  }

  /**
   * Email: the changes of the rule whose mail may go first. A rule's mail waits for the end of the
   * channel's quiet hours and for its digest interval since its last mail; it lists every change
   * of the rule waiting by then (up to maxChangesPerMail).
   */
  private planMail(channel: EmailChannelConfig, rows: OutboxRow[], nowMs: number): DeliveryPlan {
    const quietUntil = channel.quietHours && inQuietHours(channel.quietHours, nowMs) ? quietHoursEnd(channel.quietHours, nowMs) : nowMs;
    const byRule = new Map<string, OutboxRow[]>();
    for (const row of rows) byRule.set(row.rule, [...(byRule.get(row.rule) ?? []), row]);
    let soonest = Infinity;
    for (const [rule, group] of byRule) {
      const last = channel.digestMinutes > 0 ? this.outbox.lastMail(channel.name, rule) : undefined;
      const due = Math.max(quietUntil, last === undefined ? nowMs : last + channel.digestMinutes * 60_000);
      if (due <= nowMs) return { send: group.slice(0, channel.maxChangesPerMail), mailOfRule: rule };
      soonest = Math.min(soonest, due);
    }
    return { waitUntilMs: soonest, reason: quietUntil > nowMs ? 'quiet_hours' : 'digest' };
  }

  writeMetrics(m: ScrapeMetrics): void {
    if (this.closed) return;
    const channels = [...this.workers.values()].map((w) => w.stats);
    const perChannel = (value: (s: ChannelStats) => number) => channels.map((s) => [{ channel: s.name }, value(s)] as const);
    m.counter('notify_changes_total', 'State changes seen by notifications, by category (alert, api_threat, ingest_health)', [...this.counters.changes].map(([category, n]) => [{ category }, n] as const))
      .counter('notify_unmatched_total', 'State changes no notification rule matched', this.counters.unmatched)
      .counter('notify_duplicates_total', 'Deliveries not queued because the same change was already in the outbox (reported again, or by two rules)', this.counters.duplicates)
      .counter('notify_queued_total', 'Deliveries queued in the outbox, by channel', channels.map((s) => [{ channel: s.name }, this.counters.queued.get(s.name) ?? 0] as const))
      .counter('notify_delivered_total', 'Notifications delivered, by channel', perChannel((s) => s.delivered))
      .counter('notify_delivery_failures_total', 'Delivery attempts that failed and are retried, by channel', perChannel((s) => s.failures))
      .counter('notify_rejected_total', 'Notifications the receiver refused for good (not retried), by channel', perChannel((s) => s.rejected))
      .counter('notify_dropped_total', 'Deliveries dropped, by channel and reason (outbox_full: the oldest waiting at the bound; expired: still failing after maxAgeHours)', channels.flatMap((s) => [[{ channel: s.name, reason: 'outbox_full' }, s.dropped.outbox_full], [{ channel: s.name, reason: 'expired' }, s.dropped.expired]] as const))
      .counter('notify_rate_limited_total', 'Times a channel waited for its rate limit, by channel', perChannel((s) => s.rateLimited))
      .counter('notify_mails_total', 'Mails sent, by channel and mode (single change or digest)', channels.filter((s) => s.type === 'email').flatMap((s) => [[{ channel: s.name, mode: 'single' }, s.mails.single], [{ channel: s.name, mode: 'digest' }, s.mails.digest]] as const))
      .counter('notify_store_failures_total', 'Changes the outbox could not store at once (kept in memory, retried)', this.counters.storeFailures)
      .counter('notify_unstored_dropped_total', 'Changes dropped from the in-memory queue waiting for the outbox', this.counters.unstoredDropped)
      .gauge('notify_outbox_pending', 'Deliveries waiting in the outbox', this.outbox.pendingCount())
      .gauge('notify_outbox_max_pending', 'Bound of the outbox (waiting deliveries)', this.options.config.outbox.maxPending)
      .gauge('notify_health_raised', 'Ingest health checks raised now', this.health.raised().length);
  }
}

