/**
 * One vehicle's MQTT connection, kept up for as long as the agent runs.
 *
 * - Every attempt is a fresh mqtt.js client with its own reconnect disabled: the retry delay is
 *   ours, exponential with full jitter (common/backoff.ts), so a fleet that lost the same broker
 *   does not come back in lockstep. The delay resets after a successful CONNACK.
 * - A fresh client per connection also means no publish is retried by mqtt.js behind our back:
 *   the caller owns retries (from its buffer). When a connection ends, the callbacks of its
 *   unacknowledged publishes fire with an error and `onDown` fires once.
 * - The last will (`will()`, evaluated per attempt) is registered with every CONNECT.
 * - TLS when the URL is mqtts:// or wss://, with an optional CA and client certificate.
 * Never throws for network conditions; they are logged and counted.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { Backoff } from '../common/backoff.ts';
import { errorMessage } from '../common/errors.ts';
import { type Logger, silentLogger } from '../common/logger.ts';

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

export interface VehicleConnectionOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  tls?: ConnectionTls;
  keepaliveS: number;
  connectTimeoutMs?: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  will?: () => LastWill;
  /** The connection is up (CONNACK received); `client` is valid until `onDown`. */
  onUp: (client: MqttClient) => void;
  onDown: () => void;
  /** Every new client, right after it is created (before its CONNECT): for extra handlers such as subscriptions. */
  onClient?: (client: MqttClient) => void;
  logger?: Logger;
  random?: () => number;
}

export interface ConnectionCounters {
  /** Successful CONNACKs. */
  connects: number;
  /** Established connections that ended without us asking. */
  drops: number;
  /** Attempts that never reached CONNACK. */
  connectFailures: number;
}

export class VehicleConnection {
  readonly counters: ConnectionCounters = { connects: 0, drops: 0, connectFailures: 0 };
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private current: MqttClient | undefined;
  private up = false;
  private stopped = true;
  private retryTimer: NodeJS.Timeout | undefined;
  private lastError = '';

  constructor(private readonly options: VehicleConnectionOptions) {
    this.log = options.logger ?? silentLogger;
    this.backoff = new Backoff({ initialMs: options.reconnectMinMs, maxMs: options.reconnectMaxMs, ...(options.random ? { random: options.random } : {}) });
  }

  /** The connected client, or undefined while down. */
  get client(): MqttClient | undefined {
    return this.up ? this.current : undefined;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt();
  }

  /**
   * Ends the connection. `beforeEnd` runs while still connected (e.g. to publish a clean
   * offline status, which replaces the last will); it is given at most `timeoutMs`.
   */
  async stop(beforeEnd?: (client: MqttClient) => Promise<void>, timeoutMs = 2000): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.current;
    this.current = undefined;
    if (!client) return;
    if (this.up && beforeEnd) {
      await Promise.race([beforeEnd(client).catch(() => undefined), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    }
    this.up = false;
    // A graceful DISCONNECT (no will) when the broker answers; never wait on a dead link for long.
    const ended = await Promise.race([client.endAsync(false).then(() => true, () => true), new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref())]);
    if (!ended) client.end(true);
  }

  private attempt(): void {
    if (this.stopped) return;
    const o = this.options;
    const will = o.will?.();
    const clientOptions: IClientOptions = {
      clientId: o.clientId,
      clean: true,
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
    o.onClient?.(client);
    let wasUp = false;
    let ended = false;
    client.on('connect', () => {
      if (client !== this.current) return;
      wasUp = true;
      this.up = true;
      this.counters.connects += 1;
      this.backoff.reset();
      this.lastError = '';
      this.log.info('connected to broker', { url: o.url, connects: this.counters.connects });
      o.onUp(client);
    });
    client.on('error', (error) => {
      // Log a repeated error once, not on every retry of a long outage.
      const message = errorMessage(error);
      if (message !== this.lastError) this.log.warn('broker connection error', { error: message });
      this.lastError = message;
    });
    client.on('close', () => {
      if (ended) return;
      ended = true;
      if (client === this.current) this.current = undefined;
      if (wasUp) {
        this.up = false;
        if (!this.stopped) {
          this.counters.drops += 1;
          this.log.warn('broker connection lost', { drops: this.counters.drops });
        }
        o.onDown();
      } else {
        this.counters.connectFailures += 1;
      }
      // The client is done; make sure it releases its socket and fails its pending callbacks.
      client.end(true);
      if (this.stopped) return;
      const delay = Math.max(50, this.backoff.next());
      this.log.debug('reconnecting', { inMs: delay, attempt: this.backoff.attempts });
      this.retryTimer = setTimeout(() => this.attempt(), delay);
    });
  }
}
