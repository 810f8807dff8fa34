/**
 * The car's own diagnosis (`fleet/{shard}/{vehicle}/health`, contracts/vehicle-health.ts) as an
 * ingest stream: HealthProcessor (health/health-processor.ts) turns an event into `dtc`,
 * `vehicle_health` and `alerts` lines plus `dtc` / `mil` alerts; this stream stores them through
 * the spool, tells the observers (AlertEvent, HealthEvent) and publishes the alerts on MQTT.
 *
 * Guarantees:
 * - Bad payloads are dead letters (kind `health`) with the contract's reason; a redelivered event
 *   (neither newer by seq nor by event time: the agent's retained snapshot, a redelivery after an
 *   outage) stores nothing and is acknowledged at once.
 * - Exactly-once in effect: the DTC history is saved to its state file (HealthStateFile, beside
 *   the spool) only with events whose lines are durable, and the message is acknowledged only once
 *   that save is done (`ackAfter`). A crash before leaves the message to the broker, and the
 *   history on disk from before it: the redelivered event is applied again and writes the same
 *   points (same keys) with the same alert ids. Saves are grouped: all events that became durable
 *   by the next turn of the event loop share one write.
 * - Alerts are neither delayed nor hysteresis-filtered (health-alerts.ts); they go to MQTT
 *   `topics.alerts(vehicle)` from `durable()` through a bounded AlertOutbox (oldest dropped,
 *   counted) that waits while the broker is away and is flushed again on every tick.
 * - Bounded: the history keeps at most `maxVehicles` vehicles (least recently updated forgotten,
 *   counted) and `maxClearedPerVehicle` ended episodes per vehicle.
 * - The health filter is subscribed on every connect: a session persisted before the stream
 *   existed lacks it.
 */
import { errorMessage } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import type { ScrapeMetrics } from '../../common/metrics.ts';
import { parseVehicleTopic, topics } from '../../contracts/topics.ts';
import { AlertOutbox } from '../alerts/alert-outbox.ts';
import { describeDtc } from '../health/dtc-descriptions.ts';
import type { HealthHistoryOptions, VehicleHealthHistory } from '../health/dtc-history.ts';
import { HealthProcessor } from '../health/health-processor.ts';
import type { HealthStateFile } from '../health/health-state-file.ts';
import type { IngestEvent, ListedCode } from '../ingest-events.ts';
import type { IngestStream, StreamContext, StreamResult } from './ingest-stream.ts';

export interface VehicleHealthStreamOptions extends HealthHistoryOptions {
  /** Alerts kept while the broker is away (default 10,000). */
  maxUnpublishedAlerts?: number;
}

export interface VehicleHealthStats {
  health: {
    reports: number;
    duplicates: number;
    deadLetters: Record<string, number>;
    vehiclesMilOn: number;
    alerts: { raised: number; cleared: number };
    statePersistFailures: number;
    history: ReturnType<HealthProcessor['history']['stats']>;
    outbox: ReturnType<AlertOutbox['stats']>;
  };
}

export class VehicleHealthStream implements IngestStream {
  readonly name = 'health';
  private readonly processor: HealthProcessor;
  /** Each vehicle's history as of its last durable event: what the state file holds. */
  private readonly durableStates = new Map<string, VehicleHealthHistory>();
  private readonly maxVehicles: number;
  private readonly outbox: AlertOutbox;
  /** Acknowledgements waiting for the next save of the state file. */
  private waitingForSave: Array<() => void> = [];
  private saveScheduled: Promise<void> | undefined;
  private broker: StreamContext['broker'] = () => undefined;
  private counters = { reports: 0, duplicates: 0, raised: 0, cleared: 0, statePersistFailures: 0 };
  private readonly deadLetters: Record<string, number> = {};

  constructor(
    private readonly stateFile: HealthStateFile,
    private readonly log: Logger,
    options: VehicleHealthStreamOptions = {},
  ) {
    this.maxVehicles = options.maxVehicles ?? 200_000;
    const history = stateFile.read(options);
    this.processor = new HealthProcessor(history);
    for (const [vehicle, state] of Object.entries(history.toState().vehicles)) this.durableStates.set(vehicle, state);
    this.outbox = new AlertOutbox(options.maxUnpublishedAlerts ?? 10_000);
    if (this.durableStates.size > 0) log.info('vehicle health history loaded', { vehicles: this.durableStates.size, path: stateFile.path });
  }

  filters(shards: readonly number[]): string[] {
    return shards.map((s) => topics.shardFilter(s, 'health'));
  }

  accepts(topic: string): boolean {
    return topic.startsWith('fleet/') && topic.endsWith('/health');
  }

  handle(topic: string, payload: Buffer, ctx: StreamContext): StreamResult | undefined {
    const vehicle = parseVehicleTopic(topic)?.vehicleId ?? '';
    const outcome = this.processor.handle(vehicle, payload, Date.now());
    if (outcome.kind === 'dead-letter') {
      this.deadLetters[outcome.reason] = (this.deadLetters[outcome.reason] ?? 0) + 1;
      return { deadLetters: [{ reason: outcome.reason, detail: outcome.detail, payload }] };
    }
    if (outcome.kind === 'duplicate') {
      this.counters.duplicates += 1;
      return undefined;
    }
    this.counters.reports += 1;
    const { event, alerts } = outcome;
    // The vehicle's history after this event, as it must be saved once the lines are durable.
    const after = this.processor.history.vehicle(event.vehicle)!;
    const events: IngestEvent[] = ctx.eventsWanted() ? [...alerts.map((alert) => ({ type: 'alert' as const, alert })), healthEvent(event.vehicle, event.t, after)] : [];
    let saved!: () => void;
    const ackAfter = new Promise<void>((resolve) => (saved = resolve));
    return {
      records: [{ type: 'f', body: outcome.lines }],
      durable: () => {
        this.remember(event.vehicle, after);
        this.saveSoon(saved);
        for (const alert of alerts) {
          this.counters[alert.state] += 1;
          this.log.info(`health alert ${alert.state}`, { vehicle: alert.vehicle, alertId: alert.alertId, kind: alert.kind, why: alert.explanation?.text ?? '' });
          this.outbox.add(alert);
        }
        this.outbox.flush(ctx.broker());
      },
      events,
      ackAfter,
    };
  }

  start(ctx: StreamContext): void {
    this.broker = () => ctx.broker();
  }

  /** Retries alerts that waited for the broker. */
  tick(ctx: StreamContext): undefined {
    this.outbox.flush(ctx.broker());
    return undefined;
  }

  async flush(): Promise<void> {
    this.outbox.flush(this.broker());
    await this.saveScheduled;
  }

  metrics(m: ScrapeMetrics): void {
    const s = this.stats().health;
    m.counter('health_reports_total', 'Vehicle health events applied (stored)', s.reports)
      .counter('health_duplicates_total', 'Vehicle health events already applied (redelivery, retained snapshot): nothing stored', s.duplicates)
      .counter('health_dead_letters_total', 'Vehicle health messages refused, by reason', Object.entries(s.deadLetters).map(([reason, n]) => [{ reason }, n] as [Record<string, string>, number]))
      .gauge('health_vehicles_mil_on', 'Vehicles whose check-engine light (MIL) is on', s.vehiclesMilOn)
      .counter('health_alerts_total', 'DTC and MIL alert state changes, by state', [[{ state: 'raised' }, s.alerts.raised], [{ state: 'cleared' }, s.alerts.cleared]])
      .counter('health_alerts_published_total', 'DTC and MIL alerts acknowledged by the broker (QoS 1)', s.outbox.published)
      .counter('health_alerts_unpublished_dropped_total', 'DTC and MIL alerts dropped from the bounded queue waiting for the broker', s.outbox.dropped)
      .gauge('health_alerts_waiting', 'DTC and MIL alerts waiting for the broker', s.outbox.waiting)
      .counter('health_state_persist_failures_total', 'Failed writes of the vehicle health state file', s.statePersistFailures)
      .counter('health_vehicles_forgotten_total', 'Vehicles dropped from the DTC history at its bound', s.history.vehiclesForgotten);
  }

  stats(): VehicleHealthStats {
    let milOn = 0;
    for (const v of this.durableStates.values()) if (v.mil === true) milOn += 1;
    return {
      health: {
        reports: this.counters.reports,
        duplicates: this.counters.duplicates,
        deadLetters: { ...this.deadLetters },
        vehiclesMilOn: milOn,
        alerts: { raised: this.counters.raised, cleared: this.counters.cleared },
        statePersistFailures: this.counters.statePersistFailures,
        history: this.processor.history.stats(),
        outbox: this.outbox.stats(),
      },
    };
  }

  private remember(vehicle: string, state: VehicleHealthHistory): void {
    this.durableStates.delete(vehicle); // map order = least recently updated first, as the history keeps it
    this.durableStates.set(vehicle, state);
    while (this.durableStates.size > this.maxVehicles) this.durableStates.delete(this.durableStates.keys().next().value!);
  }

  /** Saves the durable histories on the next turn of the event loop, then lets the waiting acknowledgements go. */
  private saveSoon(acknowledge: () => void): void {
    this.waitingForSave.push(acknowledge);
    this.saveScheduled ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        const waiting = this.waitingForSave;
        this.waitingForSave = [];
        this.saveScheduled = undefined;
        try {
          this.stateFile.write({ version: 1, vehicles: Object.fromEntries(this.durableStates) });
        } catch (error) {
          // The lines are stored; only a crash before the next good save would replay into new ids.
          this.counters.statePersistFailures += 1;
          this.log.error('vehicle health state not saved', { path: this.stateFile.path, error: errorMessage(error) });
        }
        for (const ack of waiting) ack();
        resolve();
      }),
    );
  }
}

/** What the dashboard shows of a vehicle's diagnosis now. */
function healthEvent(vehicle: string, t: number, v: VehicleHealthHistory): IngestEvent {
  const codes: ListedCode[] = Object.values(v.active).map((e) => ({
    code: e.code,
    kind: e.kind,
    description: describeDtc(e.code).text,
    firstSeenMs: e.firstSeenMs,
    ...(e.freezeFrame ? { freezeFrame: { ...e.freezeFrame.signals } as Record<string, number> } : {}),
  }));
  return { type: 'health', vehicle, t, mil: v.mil, ...(v.milOnSinceMs !== undefined ? { milOnSinceMs: v.milOnSinceMs } : {}), codes };
}
