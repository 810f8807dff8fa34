/**
 * Watches one vehicle's telemetry topic on a broker and records every decoded batch in arrival
 * order (resends included), for tests that check what reached the broker.
 */
import mqtt from 'mqtt';
import { decodeTelemetry, type TelemetryBatch } from '../../contracts/telemetry.ts';
import { topics } from '../../contracts/topics.ts';

export interface TelemetryWatcher {
  /** Sequence numbers in arrival order. */
  readonly seqs: number[];
  readonly batches: TelemetryBatch[];
  close(): Promise<void>;
}

/** Resolves once subscribed (QoS 1), so nothing published afterwards is missed. */
export async function watchTelemetry(url: string, vehicle: string, clientId = `watch-${vehicle}`): Promise<TelemetryWatcher> {
  const client = await mqtt.connectAsync(url, { clientId });
  const watcher: TelemetryWatcher = { seqs: [], batches: [], close: () => client.endAsync(true) };
  client.on('message', (_topic, payload) => {
    const decoded = decodeTelemetry(payload, vehicle);
    if (!decoded.ok) return;
    watcher.seqs.push(decoded.batch.seq);
    watcher.batches.push(decoded.batch);
  });
  await client.subscribeAsync(topics.telemetry(vehicle), { qos: 1 });
  return watcher;
}
