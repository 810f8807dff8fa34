/**
 * One long-running MQTT connection, kept up for as long as its owner runs: the agent, ingest,
 * the log shipper and the privacy API's blocklist subscriber all connect through it.
 *
 * - **Every attempt is a fresh mqtt.js client with mqtt.js' own reconnect off.** mqtt.js stops
 *   reconnecting for good after a refused CONNACK: its CONNACK handler sets `reconnectSuppressed`,
 *   which only a manual `connect()` clears (`reconnectOnConnackError` is off by default; mqttjs/MQTT.js
 *   issue #1947). A rotated password or the broker's failed-login lockout thus left ingest and the
 *   shipper disconnected until restarted. Here a refusal is just another failed attempt: retried.
 * - The retry delay is ours: exponential with full jitter (common/backoff.ts) from `reconnectMinMs` up
 *   to `reconnectMaxMs`, reset by a successful CONNACK, so clients that lost the same broker do not
 *   come back in lockstep.
 * - `status()` / `describe()` say why it is not connected (`refused (not authorized), retrying in
 *   4 s`), for health endpoints. A repeated error is logged once, not on every attempt.
 * - A persistent session (`clean: false`) survives the change of client: the broker keeps the
 *   subscriptions and queues QoS 1 messages under the client id. Per-client set-up (a `handleMessage`
 *   override, message handlers) goes in `onClient`, which runs for every client before its CONNECT.
 * - No publish is retried by mqtt.js behind the caller's back: `publish` is refused while down, and
 *   the callback of a publish still unacknowledged when its connection ends fires with an error. The
 *   caller owns retries (from its buffer).
 * - The last will (`will()`, evaluated per attempt) is registered with every CONNECT.
 * - TLS when the URL is mqtts:// or wss://, with an optional CA and client certificate.
 * Never throws for network conditions; they are logged, counted and visible in `status()`.
 */
import mqtt, { type IClientOptions, type IClientPublishOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import { Backoff } from './backoff.ts';
import { codedError, errorMessage } from './errors.ts';
import { type Logger, silentLogger } from './logger.ts';

export interface ConnectionTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export interface LastWill {
  topic: string;
  payload: Buffer;
  retain: boolean;
  qos: 0 | 1;
}

export interface MqttConnectionOptions {
  url: string;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  tls?: ConnectionTls | undefined;
  /** false: a persistent session, resumed by every new client (default true). */
  clean?: boolean;
  keepaliveS: number;
  connectTimeoutMs?: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  will?: () => LastWill;
  /** Every new client, right after it is created (before its CONNECT): for handlers such as subscriptions. */
  onClient?: (client: MqttClient) => void;
  /** The connection is up (CONNACK accepted); `client` is valid until `onDown`. */
  onUp?: (client: MqttClient, connack: IConnackPacket) => void;
  /** An established connection ended (not called for attempts that never got up). */
  onDown?: () => void;
  logger?: Logger;
  random?: () => number;
}

export interface ConnectionCounters {
  /** Accepted CONNACKs. */
  connects: number;
  /** Established connections that ended without us asking. */
  drops: number;
  /** Attempts that never reached an accepted CONNACK (refusals included). */
  connectFailures: number;
  /** Attempts the broker refused with a CONNACK return code. */
  refusals: number;
}

/** Why the last attempt or connection ended. */
export interface ConnectionFailure {
  /** refused: CONNACK with an error code; unreachable: no CONNACK (network, timeout); lost: an established connection ended. */
  kind: 'refused' | 'unreachable' | 'lost';
  detail: string;
  /** The CONNACK return code of a refusal. */
  code?: number;
  atMs: number;
}

export interface ConnectionStatus {
  state: 'stopped' | 'connecting' | 'connected' | 'waiting';
  /** Unset once connected. */
  lastFailure?: ConnectionFailure;
  /** When the next attempt starts (state `waiting`). */
  retryAtMs?: number;
}

export type PublishCallback = (error?: Error) => void;

export class MqttConnection {
  readonly counters: ConnectionCounters = { connects: 0, drops: 0, connectFailures: 0, refusals: 0 };
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private current: MqttClient | undefined;
  private up = false;
  private stopped = true;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryAtMs: number | undefined;
  private lastFailure: ConnectionFailure | undefined;
  private lastLogged = '';
  /** Callbacks of publishes not yet acknowledged on the current client, failed when it ends. */
  private pending = new Set<PublishCallback>();

  constructor(private readonly options: MqttConnectionOptions) {
    this.log = options.logger ?? silentLogger;
    this.backoff = new Backoff({ initialMs: options.reconnectMinMs, maxMs: options.reconnectMaxMs, ...(options.random ? { random: options.random } : {}) });
  }

  /** The connected client, or undefined while down. */
  get client(): MqttClient | undefined {
    return this.up ? this.current : undefined;
  }

  get connected(): boolean {
    return this.up;
  }

  status(): ConnectionStatus {
    const state = this.stopped ? 'stopped' : this.up ? 'connected' : this.retryTimer ? 'waiting' : 'connecting';
    return {
      state,
      ...(this.lastFailure && !this.up ? { lastFailure: { ...this.lastFailure } } : {}),
      ...(state === 'waiting' && this.retryAtMs !== undefined ? { retryAtMs: this.retryAtMs } : {}),
    };
  }

  /** One line for a health endpoint: `connected`, `refused (not authorized), retrying in 4 s`, … */
  describe(nowMs = Date.now()): string {
    return describeStatus(this.status(), nowMs);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt();
  }

  /**
   * Publishes on the current connection. Returns false while down, without calling `callback`
   * (retry later). Otherwise `callback` fires exactly once: when the broker acknowledged it (QoS 1),
   * or with an error when this connection ends first.
   */
  publish(topic: string, payload: string | Buffer, options: IClientPublishOptions, callback: PublishCallback = () => undefined): boolean {
    const client = this.client;
    if (!client) return false;
    const pending = this.pending;
    let done = false;
    const once: PublishCallback = (error) => {
      if (done) return;
      done = true;
      pending.delete(once);
      callback(error);
    };
    pending.add(once);
    client.publish(topic, payload, options, (error) => once(error ?? undefined));
    return true;
  }

  /**
   * Ends the connection. `beforeEnd` runs while still connected (e.g. to publish a clean offline
   * status, which replaces the last will); it is given at most `timeoutMs`. `force` ends it without
   * waiting for outstanding acknowledgements (a client holding a PUBACK reads nothing, so none come).
   */
  async stop(beforeEnd?: (client: MqttClient) => Promise<void>, timeoutMs = 2000, force = false): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const client = this.current;
    this.current = undefined;
    if (!client) return;
    if (this.up && beforeEnd) {
      await Promise.race([beforeEnd(client).catch(() => undefined), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    }
    this.up = false;
    if (force) {
      client.end(true);
      this.failPending(this.pending, 'stopped');
      return;
    }
    // A graceful DISCONNECT (no will) when the broker answers; never wait on a dead link for long.
    const ended = await Promise.race([client.endAsync(false).then(() => true, () => true), new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref())]);
    if (!ended) client.end(true);
    this.failPending(this.pending, 'stopped');
  }

  private attempt(): void {
    this.retryTimer = undefined;
    this.retryAtMs = undefined;
    if (this.stopped) return;
    const o = this.options;
    const will = o.will?.();
    const clientOptions: IClientOptions = {
      clientId: o.clientId,
      clean: o.clean ?? true,
      reconnectPeriod: 0,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      keepalive: o.keepaliveS,
      // mqtt-packet otherwise pre-builds a Buffer for each of the 65,536 packet ids on the first
      // write: 6 MB of heap that a 5 Hz agent on a Pi never needs (measured with a heap snapshot).
      writeCache: false,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(will ? { will: { topic: will.topic, payload: will.payload, retain: will.retain, qos: will.qos } } : {}),
      ...(o.tls?.ca ? { ca: o.tls.ca } : {}),
      ...(o.tls?.cert ? { cert: o.tls.cert } : {}),
      ...(o.tls?.key ? { key: o.tls.key } : {}),
    };
    const client = mqtt.connect(o.url, clientOptions);
    this.current = client;
    const pending = (this.pending = new Set());
    o.onClient?.(client);
    let wasUp = false;
    let ended = false;
    let failure: Omit<ConnectionFailure, 'atMs'> | undefined;
    client.on('connect', (connack) => {
      if (client !== this.current) return;
      wasUp = true;
      this.up = true;
      this.counters.connects += 1;
      this.backoff.reset();
      this.lastFailure = undefined;
      this.lastLogged = '';
      this.log.info('connected to broker', { url: o.url, connects: this.counters.connects, sessionPresent: connack.sessionPresent });
      o.onUp?.(client, connack);
    });
    client.on('error', (error) => {
      failure = classify(error, wasUp);
      // Log a repeated error once, not on every retry of a long outage.
      const message = failure.kind === 'refused' ? `refused (${failure.detail})` : errorMessage(error);
      if (message === this.lastLogged) return;
      this.lastLogged = message;
      if (failure.kind === 'refused') this.log.warn('broker refused the connection; retrying with backoff', { reason: failure.detail, code: failure.code });
      else this.log.warn('broker connection error', { error: message });
    });
    client.on('close', () => {
      if (ended) return;
      ended = true;
      if (client === this.current) this.current = undefined;
      if (wasUp) {
        this.up = false;
        if (!this.stopped) {
          this.counters.drops += 1;
          this.lastFailure = { kind: 'lost', detail: failure?.detail ?? 'closed by the broker or the network', atMs: Date.now() };
          this.log.warn('broker connection lost', { drops: this.counters.drops });
        }
        o.onDown?.();
      } else if (!this.stopped) {
        this.counters.connectFailures += 1;
        if (failure?.kind === 'refused') this.counters.refusals += 1;
        this.lastFailure = { kind: 'unreachable', detail: 'connection closed before CONNACK', ...failure, atMs: Date.now() };
      }
      // The client is done: release its socket, and fail what it will never acknowledge.
      client.end(true);
      this.failPending(pending, 'closed');
      if (this.stopped) return;
      const delay = Math.max(50, this.backoff.next());
      this.log.debug('reconnecting', { inMs: delay, attempt: this.backoff.attempts });
      this.retryAtMs = Date.now() + delay;
      this.retryTimer = setTimeout(() => this.attempt(), delay);
    });
  }

  private failPending(pending: Set<PublishCallback>, why: 'stopped' | 'closed'): void {
    if (pending.size === 0) return;
    const error = codedError('FP_PUBLISH_NOT_ACKNOWLEDGED', why);
    for (const callback of [...pending]) callback(error);
  }
}

/** A refused CONNACK carries its return code; mqtt.js words it `Connection refused: Not authorized`. */
function classify(error: unknown, wasUp: boolean): Omit<ConnectionFailure, 'atMs'> {
  const message = errorMessage(error);
  const code = (error as { code?: unknown }).code;
  const refused = /^Connection refused: (.*)$/.exec(message);
  if (!wasUp && refused && typeof code === 'number') return { kind: 'refused', detail: refused[1]!.toLowerCase(), code };
  return { kind: wasUp ? 'lost' : 'unreachable', detail: message };
}

export function describeStatus(status: ConnectionStatus, nowMs = Date.now()): string {
  if (status.state === 'connected' || status.state === 'stopped') return status.state;
  const f = status.lastFailure;
  if (!f) return 'connecting';
  const why = f.kind === 'lost' ? `connection lost (${f.detail})` : `${f.kind} (${f.detail})`;
  if (status.state === 'connecting' || status.retryAtMs === undefined) return `${why}, retrying now`;
  return `${why}, retrying in ${Math.max(1, Math.ceil((status.retryAtMs - nowMs) / 1000))} s`;
}
