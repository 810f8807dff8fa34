/**
 * The agent's vehicle health channel: readings of the car's diagnosis (from the source) become
 * health events (contracts/vehicle-health.ts) on `topics.health(vehicle)`, QoS 1, retained.
 *
 * Guarantees at this seam — the same as telemetry's (agent/agent.ts):
 * - An event is made when the diagnosis differs from the previous event's (`sameDiagnosis`), and
 *   for the first reading of a run (`reason: 'snapshot'`). Readings that say nothing new make no
 *   event; their counters ride along with the next one.
 * - An event is validated against the wire contract, stored in its BatchStore (disk: committed
 *   and fsynced, one event per batch) and only then published; it leaves the store only on the
 *   broker's PUBACK. Unacknowledged events go again, oldest first, on the next connection or
 *   after a restart. A store that cannot take an event loses it, counted and logged.
 * - `seq` continues the store's sequence across restarts and `t` strictly increases with it (a
 *   reading not later than the previous event is stamped 1 ms after it), so (vehicle, seq) and
 *   (vehicle, t) each identify an event and a reader can drop the copies a redelivery makes.
 * - Every publish is retained, so the broker's retained copy is the newest event sent. On every
 *   connection with nothing left to send, the newest event of this run is published again as it
 *   was (same seq): a broker that lost its retained messages gets the current state back, and a
 *   reader that saw it already drops the copy.
 * - At most `maxInflight` events are on the wire at once; the store's bound and drop-oldest policy
 *   hold beyond that (counted in the store's `droppedBatches`).
 */
import type { MqttClient } from 'mqtt';
import { type Logger, silentLogger } from '../common/logger.ts';
import { topics } from '../contracts/topics.ts';
import { describeIssues } from '../contracts/telemetry.ts';
import { encodeVehicleHealth, sameDiagnosis, VEHICLE_HEALTH_SCHEMA, type VehicleHealthEvent, vehicleHealthEventSchema } from '../contracts/vehicle-health.ts';
import type { BatchStore } from './batch-store.ts';
import type { HealthReading } from './telemetry-source.ts';

export interface HealthPublisherOptions {
  vehicleId: string;
  store: BatchStore<VehicleHealthEvent>;
  /** Events published and not yet acknowledged, at most (default 4). */
  maxInflight?: number;
  logger?: Logger;
}

export interface HealthPublisherStats {
  healthReadings: number;
  /** Events made (a diagnosis that changed, or the first of a run). */
  healthEvents: number;
  healthEventsPublished: number;
  healthEventsAcked: number;
  /** The newest event published again on a connection (the retained snapshot). */
  healthSnapshotsRepublished: number;
  /** Readings the wire contract refused (a source's bug): logged, not sent. */
  healthInvalid: number;
  /** Events the store could not take: lost. */
  healthStoreFailures: number;
  healthQueued: number;
  healthDropped: number;
}

export class HealthPublisher {
  private readonly log: Logger;
  private readonly topic: string;
  private readonly maxInflight: number;
  private last: VehicleHealthEvent | undefined;
  private lastT: number | undefined;
  private client: MqttClient | undefined;
  private epoch = 0;
  private cursor = -1;
  private readonly inflight = new Set<number>();
  private closed = false;
  private counters = { healthReadings: 0, healthEvents: 0, healthEventsPublished: 0, healthEventsAcked: 0, healthSnapshotsRepublished: 0, healthInvalid: 0, healthStoreFailures: 0 };

  constructor(private readonly options: HealthPublisherOptions) {
    this.log = (options.logger ?? silentLogger).child('health');
    this.topic = topics.health(options.vehicleId);
    this.maxInflight = options.maxInflight ?? 4;
    this.lastT = options.store.lastEventTime;
  }

  /** The newest event made in this run. */
  get latest(): VehicleHealthEvent | undefined {
    return this.last;
  }

  /** Events waiting for their PUBACK. */
  get queued(): number {
    return this.options.store.stats().queuedBatches;
  }

  /** A reading of the car's diagnosis; returns the event it made, if any. */
  offer(reading: HealthReading): VehicleHealthEvent | undefined {
    if (this.closed) return undefined;
    this.counters.healthReadings += 1;
    if (this.last && sameDiagnosis(this.last, reading.state)) return undefined;
    const store = this.options.store;
    const candidate: VehicleHealthEvent = {
      schema: VEHICLE_HEALTH_SCHEMA,
      vehicle: this.options.vehicleId,
      seq: store.nextSeq,
      t: this.lastT === undefined ? reading.t : Math.max(reading.t, this.lastT + 1),
      reason: this.last ? 'change' : 'snapshot',
      ...reading.state,
    };
    const checked = vehicleHealthEventSchema.safeParse(candidate);
    if (!checked.success) {
      this.counters.healthInvalid += 1;
      this.log.error('health reading refused by the wire contract: not sent', { detail: describeIssues(checked.error), seq: candidate.seq });
      return undefined;
    }
    try {
      const dropped = store.append({ v: 1, vehicle: this.options.vehicleId, seq: candidate.seq, samples: [candidate] }, this.inflight);
      if (dropped.batches > 0) this.log.warn('health buffer full: dropped oldest events', { events: dropped.batches, firstSeq: dropped.seqs[0] });
    } catch (error) {
      this.counters.healthStoreFailures += 1;
      this.log.error('health buffer could not store an event: it is lost', { seq: candidate.seq, error });
      return undefined;
    }
    this.counters.healthEvents += 1;
    this.last = candidate;
    this.lastT = candidate.t;
    this.log.info('vehicle health changed', {
      seq: candidate.seq,
      reason: candidate.reason,
      mil: candidate.mil,
      confirmed: candidate.confirmed,
      pending: candidate.pending,
      permanent: candidate.permanent,
      freezeFrameDtc: candidate.freezeFrame?.dtc ?? null,
    });
    this.pump();
    return candidate;
  }

  /** The connection is up: resend what is stored, or repeat the newest event as the retained snapshot. */
  connected(client: MqttClient): void {
    this.epoch += 1;
    this.client = client;
    this.inflight.clear();
    this.cursor = -1;
    if (this.last && this.options.store.maxStoredSeq() < 0) {
      this.counters.healthSnapshotsRepublished += 1;
      client.publish(this.topic, encodeVehicleHealth(this.last), { qos: 1, retain: true }, () => undefined);
    }
    this.pump();
  }

  disconnected(): void {
    this.epoch += 1;
    this.client = undefined;
    this.inflight.clear();
  }

  stats(): HealthPublisherStats {
    const s = this.options.store.stats();
    return { ...this.counters, healthQueued: s.queuedBatches, healthDropped: s.droppedBatches };
  }

  /** Stops publishing and closes the store (a disk store keeps what is unacknowledged). */
  close(): void {
    this.closed = true;
    this.client = undefined;
    this.options.store.close();
  }

  private pump(): void {
    const client = this.client;
    while (client && !this.closed && this.inflight.size < this.maxInflight) {
      const entry = this.options.store.next(this.cursor);
      if (!entry) return;
      this.cursor = entry.seq;
      const event = entry.batch.samples[0];
      if (!event) continue;
      const epoch = this.epoch;
      this.inflight.add(entry.seq);
      this.counters.healthEventsPublished += 1;
      client.publish(this.topic, encodeVehicleHealth(event), { qos: 1, retain: true }, (error) => {
        if (this.closed) return;
        // A PUBACK is an acknowledgement whichever connection it came on.
        if (!error && this.options.store.acknowledge(entry.seq) !== undefined) this.counters.healthEventsAcked += 1;
        if (epoch !== this.epoch) return;
        this.inflight.delete(entry.seq);
        this.pump();
      });
    }
  }
}
