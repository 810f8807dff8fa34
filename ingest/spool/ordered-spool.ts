/**
 * The spool as every ingest stream shares it (IngestService owns one): records in the order they
 * were returned, and dead letters that never hold anything up.
 *
 * Guarantees:
 * - `append` is synchronous (undefined) while the spool appends. Once one append waits — the spool
 *   at its bound, or its disk refusing writes (disk-spool.ts) — later appends queue behind it, so
 *   the spool keeps the order of events; the returned promise resolves once the record is
 *   durable. While appends wait, the reading clock is held (windows/reading-clock.ts).
 * - A dead letter stands for a message with no data to keep, so its message is acknowledged at
 *   once: while appends wait, its line is kept in memory (UnstoredDeadLetters, bounded, oldest
 *   dropped and counted) and spooled when the spool appends again. At a stop on a spool that
 *   still cannot append, what is kept is counted as lost.
 */
import { UnstoredDeadLetters } from './unstored-dead-letters.ts';
import type { DiskSpool, SpoolRecordType } from './disk-spool.ts';

export class OrderedSpool {
  private last: Promise<void> | undefined;
  private readonly unstored = new UnstoredDeadLetters(10_000);
  /** Dead letters appended while the spool was not appending, queued behind the held record. */
  private waitingDeadLetters = 0;
  private deadLettersLeftAtStop = 0;
  private stopping = false;

  constructor(
    private readonly spool: DiskSpool,
    /** Held while appends wait (windows/reading-clock.ts). */
    private readonly readingClock: { hold(): void; release(): void },
  ) {}

  /** The last append still waiting, if any: appends are held while it is there. */
  get tail(): Promise<void> | undefined {
    return this.last;
  }

  /** Appends in call order; a promise only while appends wait (see the module comment). */
  append(type: SpoolRecordType, body: string, vehicle?: string, closedUpTo?: number): Promise<void> | undefined {
    if (!this.last) {
      const waiting = this.spool.append(type, body, vehicle, closedUpTo);
      if (!waiting) return undefined;
      this.last = waiting;
      this.readingClock.hold();
    } else {
      this.last = this.last.then(() => this.spool.append(type, body, vehicle, closedUpTo));
    }
    const mine = this.last;
    const settle = (): void => {
      if (this.last !== mine) return;
      this.last = undefined;
      this.readingClock.release();
      if (this.unstored.size > 0 && !this.stopping) this.storeUnstored();
    };
    void mine.then(settle, settle);
    return mine;
  }

  /** Spools a dead letter (a line), or keeps it in memory while appends wait. */
  deadLetter(line: string): void {
    if (this.last) this.unstored.add(line);
    else this.appendDeadLetter(line);
  }

  /** Dead letters in memory now (kept, or queued behind a held append). */
  get deadLettersUnstored(): number {
    return this.unstored.size + this.waitingDeadLetters;
  }

  /** Dead letters never stored: dropped at the in-memory bound or left at a stop. */
  get deadLettersLost(): number {
    return this.unstored.dropped + this.deadLettersLeftAtStop;
  }

  /** From now on kept dead letters wait for `settleDeadLetters` (a stop has begun). */
  beginStop(): void {
    this.stopping = true;
  }

  /** At a stop, once held appends had their chance: spools the kept dead letters, or counts them lost. */
  settleDeadLetters(): void {
    if (this.unstored.size === 0) return;
    if (this.last) this.deadLettersLeftAtStop += this.unstored.take().length;
    else this.storeUnstored();
  }

  private storeUnstored(): void {
    for (const line of this.unstored.take()) this.appendDeadLetter(line);
  }

  private appendDeadLetter(line: string): void {
    const pending = this.append('d', line);
    if (!pending) return;
    // Waiting for the spool, in memory like the unstored ones; rejected only when the spool closes
    // before it could append (a stop on a full disk).
    this.waitingDeadLetters += 1;
    pending.then(
      () => (this.waitingDeadLetters -= 1),
      () => {
        this.waitingDeadLetters -= 1;
        this.deadLettersLeftAtStop += 1;
      },
    );
  }
}
