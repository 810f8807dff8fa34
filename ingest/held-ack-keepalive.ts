/**
 * Keeps the broker session alive while ingest holds back an acknowledgement (the spool cannot
 * append: disk full, or the spool at its bound).
 *
 * While a message waits for its PUBACK, mqtt.js reads nothing more from the socket — that is the
 * back-pressure — so the broker's PINGRESP would wait behind the queued messages, mqtt.js would
 * time the keep-alive out after 1.5 periods and reconnect (the broker then sends everything in
 * flight again), and the broker, which needs a packet from us every period, would drop us too.
 * So while a message is held: a PINGREQ every half keep-alive (the broker sees us alive), and the
 * client's own wait for the answer reset each time (we know why the answer cannot be read).
 *
 * What this cannot keep up: a broker that stops writing to us for longer than its own drain
 * timeout disconnects us as a slow consumer; mqtt.js reconnects and the persistent session
 * redelivers what was not acknowledged (the held message too, acknowledged once it is spooled).
 */
import type { MqttClient } from 'mqtt';

/** Starts the pings; call the returned function when the acknowledgement goes out. */
export function keepSessionWhileHeld(client: MqttClient, keepaliveMs: number): () => void {
  const timer = setInterval(() => {
    if (!client.connected) return;
    client.sendPing();
    client.reschedulePing(true);
  }, keepaliveMs / 2);
  return () => clearInterval(timer);
}
