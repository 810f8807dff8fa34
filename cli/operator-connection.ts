/**
 * The broker connection of an operator command (`config set`, `baseline reset`): a clean session
 * with a unique client id, no reconnects, and the broker's refusal of a publish made an error.
 * MQTT 3.1.1 has no negative PUBACK: a broker that denies a publish closes the connection, so
 * `publish` races the publish against that close.
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { errorMessage, FleetpulseError } from '../common/errors.ts';

export interface OperatorCredentials {
  mqttUrl: string;
  username?: string | undefined;
  password?: string | undefined;
}

export interface OperatorConnection {
  client: MqttClient;
  /** Publishes QoS 1; rejects when the broker closes the connection instead (the identity lacks the role). */
  publish(topic: string, payload: Buffer, options?: { retain?: boolean }): Promise<void>;
  close(): Promise<void>;
}

/** `purpose` names the client id (`<purpose>-<random>`) and what the refusal message says was refused. */
export async function connectOperator(c: OperatorCredentials, purpose: { id: string; what: string }): Promise<OperatorConnection> {
  const suffix = `${purpose.id}-${randomBytes(4).toString('hex')}`;
  const client = await mqtt
    .connectAsync(c.mqttUrl, {
      clientId: c.username ? `${c.username}:${suffix}` : suffix,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      ...(c.username ? { username: c.username } : {}),
      ...(c.password ? { password: c.password } : {}),
    })
    .catch((error: unknown) => {
      throw new FleetpulseError('FP_PROCESS_FAILED', `cannot connect to ${c.mqttUrl}: ${errorMessage(error)}`, { cause: error });
    });
  const refused = new Promise<never>((_, reject) =>
    client.once('close', () => reject(new FleetpulseError('FP_PROCESS_FAILED', `the broker closed the connection instead of accepting the ${purpose.what}: is ${c.username ?? '(anonymous)'} a device with role operator?`))),
  );
  refused.catch(() => undefined); // only a publish in flight cares
  return {
    client,
    async publish(topic, payload, options = {}) {
      await Promise.race([client.publishAsync(topic, payload, { qos: 1, retain: options.retain ?? false }), refused]);
    },
    async close() {
      // endAsync never settles on a connection the broker already closed.
      if (client.connected) await client.endAsync();
      else client.end(true);
    },
  };
}
