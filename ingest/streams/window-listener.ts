/**
 * The outward seam of the telemetry stream: closed windows with their features, for consumers
 * such as model scoring (`IngestService.addWindowListener`).
 */
import type { Sample } from '../../contracts/telemetry.ts';
import type { VehicleTopicKind } from '../../contracts/topics.ts';
import type { FeatureVector } from '../../models/features.ts';

/** A closed window with its features, as handed to listeners. */
export interface FeatureWindow {
  vehicle: string;
  startMs: number;
  endMs: number;
  features: FeatureVector;
  featureSetId: string;
  samples: readonly Sample[];
}

/**
 * Receives every window once its features are in the spool, in closing order per vehicle.
 * Called synchronously on the message path: do the expensive part (inference) batched and
 * asynchronously, with a bound of its own.
 */
export interface WindowListener {
  /**
   * A returned promise asks ingest to keep the window's feature record in the spool until it
   * settles; after a crash, windows whose work was not done are handed over again (see
   * `completedWindows`). `samples` is empty for windows handed over again after a restart.
   */
  onWindow(window: FeatureWindow): Promise<void> | void | undefined;
  /**
   * Replay: called with the body of every derived record in the spool; adds `windowKey`s of the
   * windows this listener had finished with. A listener with this method is handed every spooled
   * window not in the set again, before the replayed telemetry closes new windows.
   */
  completedWindows?(derivedRecordBody: string, into: Set<string>): void;
  /** Resolves once work queued from earlier windows is done; awaited by `flush` and by `stop` before the spool closes. */
  flush?(): Promise<void>;
  /**
   * Vehicle topics of these kinds (e.g. `baseline-reset`) on this worker's shards are subscribed
   * (on every connect) and handed to `onVehicleCommand`; the message is acknowledged once its
   * promise settles (a rejection leaves it for the broker to redeliver).
   */
  readonly commandKinds?: readonly VehicleTopicKind[];
  onVehicleCommand?(vehicle: string, kind: VehicleTopicKind, payload: Buffer): Promise<void> | undefined;
}

/** Identifies a window across a restart: vehicle and start time. */
export function windowKey(vehicle: string, windowStartMs: number): string {
  return `${vehicle}\u0000${windowStartMs}`;
}
