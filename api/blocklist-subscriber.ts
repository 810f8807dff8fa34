/**
 * Keeps the privacy API's blocklist in step with the retained `topics.apiBlocklist()`, over the
 * shared reconnecting connection (common/mqtt-connection.ts).
 *
 * - A refused CONNACK (a rotated password, the broker's failed-login lockout) is retried with
 *   backoff and jitter like any other failure. (It used mqtt.js' own reconnect before, which stops
 *   for good after a refusal: the API then enforced a stale blocklist until restarted.)
 * - Subscribed afresh on every connect (a clean session); the broker then sends the retained list,
 *   so whatever was published while the API was away is applied as soon as it is back.
 * - While not connected the last blocklist received stays in force (its entries still expire by
 *   `untilMs`), and `health()` says why it is not connected, for /healthz.
 * Never throws for network conditions.
 */
import { errorMessage } from '../common/errors.ts';
import { silentLogger } from '../common/logger.ts';
import { type ConnectionCounters, MqttConnection, type MqttConnectionOptions } from '../common/mqtt-connection.ts';
import { topics } from '../contracts/topics.ts';
import type { Blocklist } from './blocklist.ts';

/** The broker and identity (role logship); keep-alive 30 s and reconnect backoff 0.5 s … 5 s (as the log shipper on the same edge host) unless given. */
export type BlocklistSubscriberOptions = Pick<MqttConnectionOptions, 'url' | 'clientId' | 'username' | 'password'> &
  Partial<Pick<MqttConnectionOptions, 'keepaliveS' | 'reconnectMinMs' | 'reconnectMaxMs' | 'logger'>>;

/** The blocklist's source as /healthz shows it. */
export interface BlocklistSourceHealth {
  mqttConnected: boolean;
  /** `connected`, or why not: `refused (not authorized), retrying in 4 s`. */
  mqtt: string;
  connection: ConnectionCounters;
}

export class BlocklistSubscriber {
  private readonly connection: MqttConnection;

  constructor(blocklist: Blocklist, options: BlocklistSubscriberOptions) {
    const log = options.logger ?? silentLogger;
    this.connection = new MqttConnection({
      ...options,
      keepaliveS: options.keepaliveS ?? 30,
      reconnectMinMs: options.reconnectMinMs ?? 500,
      reconnectMaxMs: options.reconnectMaxMs ?? 5000,
      logger: log,
      onClient: (client) => {
        client.on('message', (topic, payload) => {
          if (topic !== topics.apiBlocklist()) return;
          if (blocklist.applyPayload(payload)) log.info('blocklist updated', { entries: blocklist.stats().entries });
          else log.warn('invalid blocklist payload ignored', { bytes: payload.length });
        });
      },
      onUp: (client) => {
        client.subscribe(topics.apiBlocklist(), { qos: 1 }, (error) => {
          if (error) log.warn('blocklist subscribe failed', { error: errorMessage(error) });
        });
      },
    });
  }

  start(): void {
    this.connection.start();
  }

  health(): BlocklistSourceHealth {
    return { mqttConnected: this.connection.connected, mqtt: this.connection.describe(), connection: { ...this.connection.counters } };
  }

  stop(): Promise<void> {
    return this.connection.stop();
  }
}
