/**
 * The seam between ingest's service and what it ingests. A stream turns messages of its topics
 * into what should be stored and told; the service (ingest-service.ts) does the storing and the
 * telling, in an order that gives every stream the same guarantees:
 *
 *   message ─▶ first stream that `accepts(topic)` ─▶ handle() ─▶ StreamResult
 *     StreamResult ─▶ dead letters (spooled, or kept in memory, never blocking)
 *                  ─▶ records appended to the spool in call order ─▶ appended()
 *                  ─▶ once every record is durable: durable(), then events to the listeners
 *                  ─▶ PUBACK once the records (and `ackAfter`) are durable / settled
 *
 * A stream returns what it wants done instead of calling back into the service (aedes'
 * lib/handlers/ are the model): it never sees the spool, the broker client or the listeners, so
 * the service's guarantees hold for every stream alike, and a new stream (the DTC stream is the
 * next) is added by passing it in `IngestOptions.streams`, without touching the service.
 *
 * Guarantees a stream gets (docs/architecture.md, "Adding an ingest stream"):
 * - `handle` runs on ingest's thread, one message at a time, in the order the broker delivers
 *   them; a throw becomes an `internal_error` dead letter of that message (it is acknowledged).
 * - The message is acknowledged only after every record of its result is durable in the spool
 *   (and `ackAfter` has resolved): a crash before loses nothing the broker does not redeliver.
 * - Records of all streams reach the spool, and InfluxDB, in the order they were returned. When
 *   the spool is full or its disk refuses writes, acknowledgements wait (back-pressure on the
 *   broker), the reading clock stands still, and later records queue behind the held one.
 * - `events` reach `IngestService.addEventListener` observers only once the records are durable,
 *   so an observer never shows what a restart would forget (ingest-events.ts).
 * - Restart: `replay` sees every record the last run left in the spool, before any message.
 */
import type { ScrapeMetrics } from '../../common/metrics.ts';
import type { DeadLetterReason } from '../../contracts/telemetry.ts';
import type { SpoolRecord } from '../spool/disk-spool.ts';
import type { IngestEvent } from '../ingest-events.ts';

/** `clock_skew`: event times not plausible for when they arrived (windows/clock-sanity.ts). */
export type IngestDeadLetterReason = DeadLetterReason | 'internal_error' | 'clock_skew';

/**
 * One spool record: InfluxDB line protocol (every line ending in `\n`). `t` records are telemetry
 * the telemetry stream replays into its windows; every other stream writes `f` (derived) records.
 * `vehicle` and `closedUpTo` are the telemetry stream's replay bookkeeping (spool header fields).
 */
export interface SpoolWrite {
  type: 't' | 'f';
  body: string;
  vehicle?: string;
  closedUpTo?: number;
}

/** Why a message (or part of it) is refused; stored in `dead_letters` with the stream's name as `kind`. */
export interface StreamDeadLetter {
  reason: IngestDeadLetterReason;
  detail: string;
  /** What is kept of the refused input (up to 4 KiB): the payload, or the refused part of it. */
  payload: Uint8Array;
}

/** What a stream wants done with one message (or a tick, a replayed record, a stop). */
export interface StreamResult {
  /** Stored before the records; a dead-lettered message is acknowledged once its records are. */
  deadLetters?: readonly StreamDeadLetter[];
  /** Appended to the spool in this order, behind everything returned before. */
  records?: readonly SpoolWrite[];
  /**
   * Runs right after the records are appended, or queued behind a held append, and before the
   * next message is handled: e.g. closed windows go to their listeners here.
   */
  appended?(): void;
  /** Runs once every record above is durable (never, if the spool closes first): e.g. the archive takes the samples. */
  durable?(): void;
  /** Handed to the event listeners once every record above is durable, after `durable()`. */
  events?: readonly IngestEvent[];
  /** The acknowledgement also waits for this; a rejection leaves the message for the broker to redeliver. */
  ackAfter?: Promise<void>;
}

/** A broker connection as a stream may use it itself (e.g. the retained API blocklist). */
export interface BrokerLink {
  readonly connected: boolean;
  publish(topic: string, payload: string | Buffer, options: { qos: 0 | 1; retain?: boolean }, callback?: (error?: Error) => void): boolean;
}

/** What the service tells a stream about the moment it is called in. */
export interface StreamContext {
  /** The worker's shards (`--shards`). */
  readonly shards: readonly number[];
  /**
   * Processing time for idle timeouts: wall-clock ms that stand still while acknowledgements are
   * held (windows/reading-clock.ts). Event time never uses it.
   */
  readingNow(): number;
  /**
   * The spool segment the next record lands in, or precedes it: a stream that must keep its
   * records in the spool (windows not yet closed, work not yet done) holds this segment through
   * `retentionFloor`.
   */
  spoolSegment(): number;
  /** False while no event listener is added: a stream may skip building events then. */
  eventsWanted(): boolean;
  /** The broker connection, from `start` on. */
  broker(): BrokerLink | undefined;
}

/** Where replay reads: the spool the last run left (iterate as often as needed). */
export interface ReplaySource {
  records(): Iterable<SpoolRecord>;
}

/**
 * One kind of input of ingest. Every member but `name` is optional: a stream without topics (the
 * archive) takes part through its lifecycle, metrics and retention floor only.
 */
export interface IngestStream {
  /** Names the stream in logs and is the `kind` tag of its dead letters. */
  readonly name: string;
  /**
   * Topic filters to subscribe, asked at every CONNACK. `newSession` is true when the broker kept
   * no session for this worker. Return a filter on every connect unless it was part of the
   * session from the worker's first start: a session persisted before the stream existed lacks it.
   */
  filters?(shards: readonly number[], newSession: boolean): readonly string[];
  /** True for the topics `handle` takes; asked in stream order, the first stream that accepts gets the message. */
  accepts?(topic: string): boolean;
  /** One message of an accepted topic; undefined = nothing to store (acknowledged at once). */
  handle?(topic: string, payload: Buffer, ctx: StreamContext): StreamResult | undefined;
  /**
   * Restart, before `start` and before any message: the records the last run left in the spool,
   * oldest first. Each result yielded is stored before the generator resumes, so a stream
   * rebuilding state from a long spool never holds more than one record's worth.
   */
  replay?(spool: ReplaySource, ctx: StreamContext): Iterable<StreamResult>;
  /** Periodic (at most every second): e.g. windows of quiet sources closed by processing time. */
  tick?(ctx: StreamContext): StreamResult | undefined;
  /**
   * Lowest spool segment this stream still needs (Infinity: none). Segments from there on are
   * kept, and replayed after a crash; only a full spool frees them early (counted).
   */
  retentionFloor?(): number;
  /** Once, after replay, when the broker connection exists but before the first message. */
  start?(ctx: StreamContext): void;
  /** Resolves once work this stream queued (asynchronous listeners) is done; awaited by `flush` and `stop`. */
  flush?(): Promise<void>;
  /**
   * Clean stop, after the broker connection ended: what to store before the spool closes (not
   * stored when the spool cannot append then: the stream must keep what it needs elsewhere).
   */
  stop?(ctx: StreamContext): StreamResult | undefined;
  /** Writes the stream's metrics at every scrape of `/metrics` (names relative to `fleetpulse_ingest_`). */
  metrics?(m: ScrapeMetrics): void;
  /** Fields merged into `IngestService.stats()`. */
  stats?(): object;
}
