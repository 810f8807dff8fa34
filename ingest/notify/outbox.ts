/**
 * The notification outbox: every delivery (one change to one channel) on disk before anything is
 * sent, so neither a receiver outage nor an ingest crash loses one, and a retry sends the same
 * body with the same key. SQLite (better-sqlite3), one file per ingest worker.
 *
 * Guarantees:
 * - `enqueue` returns once SQLite has committed (WAL, `synchronous=NORMAL`: a process crash, a
 *   SIGKILL included, loses nothing committed; FULL fsyncs every commit, for `--spool-fsync always`).
 *   All deliveries of one change commit together.
 * - One row per (channel, key): a change reported again (after a restart, or matched by two rules)
 *   is not queued twice, also after it was delivered, for `keepDoneMs` (the ledger).
 * - Bounded: at most `maxPending` waiting deliveries over all channels; at the bound the oldest
 *   waiting one is dropped (status `dropped`, reason `outbox_full`, counted by the caller). A
 *   delivery still waiting after `maxAgeMs` is dropped (`expired`). Finished rows are deleted after
 *   `keepDoneMs`, and beyond `maxPending` of them the oldest go first.
 * - `locking_mode=EXCLUSIVE`: a second worker on the same file fails at start (common/worker-database.ts).
 * - Also holds the little state that must survive a restart with the deliveries: when each
 *   rule's last mail went (digests) and which ingest health checks are raised.
 */
import type Database from 'better-sqlite3';
import { openWorkerDatabase } from '../../common/worker-database.ts';

export interface OutboxRow {
  seq: number;
  channel: string;
  key: string;
  rule: string;
  /** The notification JSON, exactly as sent every time. */
  body: string;
  createdMs: number;
  attempts: number;
}

export interface NewDelivery {
  channel: string;
  key: string;
  rule: string;
  body: string;
}

export type DropReason = 'outbox_full' | 'expired';

export interface OutboxOptions {
  file: string;
  maxPending: number;
  maxAgeMs: number;
  keepDoneMs: number;
  synchronous?: 'FULL' | 'NORMAL';
}

export class NotificationOutbox {
  private readonly db: Database.Database;
  private readonly sql;
  private pendingTotal: number;
  private readonly enqueueTx: (items: readonly NewDelivery[], nowMs: number) => { queued: NewDelivery[]; dropped: Array<{ channel: string; reason: DropReason }> };

  constructor(private readonly options: OutboxOptions) {
    this.db = openWorkerDatabase({
      file: options.file,
      ...(options.synchronous ? { synchronous: options.synchronous } : {}),
      field: 'notifications.outbox.file',
      what: 'notifications',
      schema: `
        CREATE TABLE IF NOT EXISTS deliveries (
          seq INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, key TEXT NOT NULL, rule TEXT NOT NULL, body TEXT NOT NULL,
          created_ms INTEGER NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, done_ms INTEGER,
          UNIQUE (channel, key));
        CREATE INDEX IF NOT EXISTS deliveries_waiting ON deliveries (status, channel, seq);
        CREATE INDEX IF NOT EXISTS deliveries_done ON deliveries (done_ms);
        CREATE TABLE IF NOT EXISTS mail_state (channel TEXT NOT NULL, rule TEXT NOT NULL, last_mail_ms INTEGER NOT NULL, PRIMARY KEY (channel, rule));
        CREATE TABLE IF NOT EXISTS health_state (check_name TEXT PRIMARY KEY, since_ms INTEGER NOT NULL, detail TEXT NOT NULL);`,
    });
    this.sql = {
      insert: this.db.prepare<[string, string, string, string, number]>("INSERT OR IGNORE INTO deliveries (channel, key, rule, body, created_ms, status) VALUES (?, ?, ?, ?, ?, 'pending')"),
      oldestPending: this.db.prepare<[], { seq: number; channel: string }>("SELECT seq, channel FROM deliveries WHERE status = 'pending' ORDER BY seq LIMIT 1"),
      finish: this.db.prepare<[string, string | null, number, number]>("UPDATE deliveries SET status = ?, last_error = ?, done_ms = ? WHERE seq = ? AND status = 'pending'"),
      pending: this.db.prepare<[string, number], { seq: number; channel: string; key: string; rule: string; body: string; createdMs: number; attempts: number }>(
        "SELECT seq, channel, key, rule, body, created_ms AS createdMs, attempts FROM deliveries WHERE status = 'pending' AND channel = ? ORDER BY seq LIMIT ?",
      ),
      countPending: this.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM deliveries WHERE status = 'pending'"),
      countChannel: this.db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM deliveries WHERE status = 'pending' AND channel = ?"),
      attempt: this.db.prepare<[string, number]>('UPDATE deliveries SET attempts = attempts + 1, last_error = ? WHERE seq = ?'),
      expired: this.db.prepare<[number], { seq: number; channel: string }>("SELECT seq, channel FROM deliveries WHERE status = 'pending' AND created_ms < ?"),
      pruneOld: this.db.prepare<[number]>("DELETE FROM deliveries WHERE status != 'pending' AND done_ms < ?"),
      pruneMany: this.db.prepare<[number]>("DELETE FROM deliveries WHERE seq IN (SELECT seq FROM deliveries WHERE status != 'pending' ORDER BY seq DESC LIMIT -1 OFFSET ?)"),
      lastDone: this.db.prepare<[string, string], { at: number | null }>('SELECT max(done_ms) AS at FROM deliveries WHERE channel = ? AND status = ?'),
      getMail: this.db.prepare<[string, string], { at: number }>('SELECT last_mail_ms AS at FROM mail_state WHERE channel = ? AND rule = ?'),
      setMail: this.db.prepare<[string, string, number]>('INSERT INTO mail_state (channel, rule, last_mail_ms) VALUES (?, ?, ?) ON CONFLICT (channel, rule) DO UPDATE SET last_mail_ms = excluded.last_mail_ms'),
      health: this.db.prepare<[], { check: string; sinceMs: number; detail: string }>('SELECT check_name AS "check", since_ms AS sinceMs, detail FROM health_state'),
      setHealth: this.db.prepare<[string, number, string]>('INSERT INTO health_state (check_name, since_ms, detail) VALUES (?, ?, ?) ON CONFLICT (check_name) DO UPDATE SET since_ms = excluded.since_ms, detail = excluded.detail'),
      clearHealth: this.db.prepare<[string]>('DELETE FROM health_state WHERE check_name = ?'),
    };
    this.pendingTotal = this.sql.countPending.get()!.n;
    this.enqueueTx = this.db.transaction((items: readonly NewDelivery[], nowMs: number) => {
      const queued: NewDelivery[] = [];
      const dropped: Array<{ channel: string; reason: DropReason }> = [];
      for (const item of items) {
        if (this.sql.insert.run(item.channel, item.key, item.rule, item.body, nowMs).changes === 0) continue;
        queued.push(item);
        this.pendingTotal += 1;
        while (this.pendingTotal > this.options.maxPending) {
          const oldest = this.sql.oldestPending.get()!;
          this.sql.finish.run('dropped', 'outbox_full', nowMs, oldest.seq);
          this.pendingTotal -= 1;
          dropped.push({ channel: oldest.channel, reason: 'outbox_full' });
        }
      }
      return { queued, dropped };
    });
  }

  /** Queues the deliveries of one change in one transaction; those already known (same channel and key) are skipped. */
  enqueue(items: readonly NewDelivery[], nowMs: number): { queued: NewDelivery[]; dropped: Array<{ channel: string; reason: DropReason }> } {
    return this.enqueueTx(items, nowMs);
  }

  /** The oldest waiting deliveries of a channel, in the order they were queued. */
  pending(channel: string, limit: number): OutboxRow[] {
    return this.sql.pending.all(channel, limit);
  }

  pendingCount(channel?: string): number {
    return channel === undefined ? this.pendingTotal : this.sql.countChannel.get(channel)!.n;
  }

  /** A failed attempt: counted on the row, the row keeps waiting. */
  recordAttempt(seq: number, error: string): void {
    this.sql.attempt.run(error, seq);
  }

  delivered(seqs: readonly number[], nowMs: number): void {
    this.finishAll(seqs, 'delivered', null, nowMs);
  }

  /** The receiver refused it for good (e.g. HTTP 400): not retried, remembered. */
  rejected(seq: number, error: string, nowMs: number): void {
    this.finishAll([seq], 'rejected', error, nowMs);
  }

  /** Drops waiting deliveries older than maxAgeMs; returns their channels (one entry each). */
  expire(nowMs: number): string[] {
    const rows = this.sql.expired.all(nowMs - this.options.maxAgeMs);
    this.finishAll(rows.map((r) => r.seq), 'dropped', 'expired', nowMs);
    return rows.map((r) => r.channel);
  }

  /** Forgets finished deliveries past keepDoneMs, and the oldest beyond maxPending of them. */
  prune(nowMs: number): void {
    this.sql.pruneOld.run(nowMs - this.options.keepDoneMs);
    this.sql.pruneMany.run(this.options.maxPending);
  }

  /** When the channel last delivered (or refused, status `rejected`) something, if it is still in the ledger. */
  lastDone(channel: string, status: 'delivered' | 'rejected'): number | undefined {
    return this.sql.lastDone.get(channel, status)?.at ?? undefined;
  }

  lastMail(channel: string, rule: string): number | undefined {
    return this.sql.getMail.get(channel, rule)?.at;
  }

  /** Marks the rows delivered and notes the mail's time, together (a digest interval survives a restart). */
  mailSent(channel: string, rule: string, seqs: readonly number[], nowMs: number): void {
    this.db.transaction(() => {
      this.finishAll(seqs, 'delivered', null, nowMs);
      this.sql.setMail.run(channel, rule, nowMs);
    })();
  }

  raisedHealthChecks(): Map<string, { sinceMs: number; detail: string }> {
    return new Map(this.sql.health.all().map((r) => [r.check, { sinceMs: r.sinceMs, detail: r.detail }]));
  }

  /** Records a health check as raised (with when it began failing) or, with `undefined`, cleared. */
  setHealthCheck(check: string, raised: { sinceMs: number; detail: string } | undefined): void {
    if (raised) this.sql.setHealth.run(check, raised.sinceMs, raised.detail);
    else this.sql.clearHealth.run(check);
  }

  /** Runs `fn` in one transaction (e.g. a health change and its deliveries). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private finishAll(seqs: readonly number[], status: 'delivered' | 'rejected' | 'dropped', error: string | null, nowMs: number): void {
    if (seqs.length === 0) return;
    this.db.transaction(() => {
      for (const seq of seqs) if (this.sql.finish.run(status, error, nowMs, seq).changes > 0) this.pendingTotal -= 1;
    })();
  }
}
