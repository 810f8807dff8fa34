/**
 * Ingest's broker session: one persistent session (`clean: false`, the worker's client id) over
 * common/mqtt-connection.ts — a fresh mqtt.js client per attempt, retried with backoff after any
 * failure, a refused CONNACK included — whose clients acknowledge a message only once it is handled.
 *
 * Guarantees:
 * - PUBACK after durable: mqtt.js sends the PUBACK only after `handleMessage` calls back, and reads
 *   the next packet only then (Aedes speaks MQTT 3.1.1, so v5's customHandleAcks is not available).
 *   The callback comes as soon as `handle` returns undefined, or once its promise resolves; a
 *   rejected promise leaves the message unacknowledged, for the broker to redeliver after a
 *   reconnect. While a promise is pending the session is kept alive (held-ack-keepalive.ts).
 * - Every message received counts as a sign of life (see below), so reading a long backlog never
 *   times the keep-alive out.
 * - Once `accepting()` is false (a stop has begun) messages are left unacknowledged.
 * - `filters(newSession)` are subscribed after every CONNACK, in one SUBSCRIBE.
 */
import type { MqttClient } from 'mqtt';
import { errorMessage } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { MqttConnection } from '../common/mqtt-connection.ts';
import { keepSessionWhileHeld } from './held-ack-keepalive.ts';

export interface BrokerSessionOptions {
  url: string;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  keepaliveS: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  logger: Logger;
  /** For the `subscribed` log line. */
  shards: readonly number[];
  /** Filters to subscribe after a CONNACK; `newSession`: the broker kept nothing for this client id. */
  filters(newSession: boolean): string[];
  /** The session is up (CONNACK accepted) / went down. */
  onUp?(): void;
  onDown?(): void;
  /** One message; a promise holds its PUBACK until it settles (see the module comment). */
  handle(topic: string, payload: Buffer): Promise<void> | undefined;
  accepting(): boolean;
}

/** The session's connection, not yet started (`start()` it once whoever publishes on it is attached). */
export function brokerSession(o: BrokerSessionOptions): MqttConnection {
  const log = o.logger;
  const livenessEveryMs = (o.keepaliveS * 1000) / 4;
  const installHandleMessage = (client: MqttClient): void => {
    let lastLiveness = 0;
    client.handleMessage = (packet, callback) => {
      if (packet.cmd !== 'publish') return callback();
      // A message from the broker proves the connection alive. mqtt.js counts only acknowledgements and
      // PINGRESP as such, so while ingest reads through a backlog its PINGRESP waits behind thousands of
      // queued messages, the keep-alive times out and the session reconnects: everything in flight is
      // sent again, and the broker's offline queue fills meanwhile (seen at 100,000 vehicles).
      // Rescheduling replaces a timer, so at most every quarter keep-alive, not per message.
      const now = Date.now();
      if (now - lastLiveness >= livenessEveryMs) {
        lastLiveness = now;
        client.reschedulePing(true);
      }
      // Stopping: leave it unacknowledged for the broker to redeliver.
      if (!o.accepting()) return;
      let pending: Promise<void> | undefined;
      try {
        pending = o.handle(packet.topic, packet.payload as Buffer);
      } catch (error) {
        log.error('unexpected error handling a message', { topic: packet.topic, error: errorMessage(error) });
      }
      if (!pending) return callback();
      const release = keepSessionWhileHeld(client, o.keepaliveS * 1000);
      pending.then(
        () => {
          release();
          callback();
        },
        (error: unknown) => {
          release();
          // Not acknowledged: the broker redelivers it after a reconnect.
          log.error('message not spooled; not acknowledging it', { topic: packet.topic, error: errorMessage(error) });
        },
      );
    };
  };
  return new MqttConnection({
    url: o.url,
    clientId: o.clientId,
    clean: false,
    keepaliveS: o.keepaliveS,
    reconnectMinMs: o.reconnectMinMs,
    reconnectMaxMs: o.reconnectMaxMs,
    username: o.username,
    password: o.password,
    logger: log,
    onClient: installHandleMessage,
    onDown: () => o.onDown?.(),
    onUp: (client, connack) => {
      o.onUp?.();
      const filters = o.filters(!connack.sessionPresent);
      if (filters.length === 0) return;
      client.subscribe(Object.fromEntries(filters.map((filter) => [filter, { qos: 1 as const }])), (error) => {
        if (error) log.error('subscribe failed', { error: errorMessage(error) });
        else log.info('subscribed', { shards: describeShards(o.shards), filters: filters.length });
      });
    },
  });
}

function describeShards(shards: readonly number[]): string {
  if (shards.length === 0) return 'none';
  const first = shards[0]!;
  const last = shards[shards.length - 1]!;
  return shards.length === last - first + 1 ? `${first}-${last}` : shards.join(',');
}
