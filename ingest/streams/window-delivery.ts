/**
 * Hands closed windows to the telemetry stream's listeners (model scoring) and keeps their
 * feature records in the spool until each listener is done with them.
 *
 * Guarantees:
 * - Every listener gets every window, in closing order per vehicle, right after the window's
 *   feature record is appended. A throwing listener is logged; the others still get the window.
 * - Holds: while a listener's promise for a window is pending, the spool segment of its feature
 *   record is held (`retentionFloor`), so a crash cannot lose the window's features.
 * - Restart (`redeliverUnfinished`): listeners that say what they finished (`completedWindows`)
 *   are handed every spooled window they had not, from its feature record (`samples` empty),
 *   before replayed telemetry closes new windows. Counted (`redelivered`).
 */
import { errorMessage } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import type { VehicleTopicKind } from '../../contracts/topics.ts';
import { FEATURE_NAMES, FEATURE_SET_ID, type FeatureVector } from '../../models/features.ts';
import { parseFeatureLines } from '../influxdb/line-protocol.ts';
import type { ReplaySource } from './ingest-stream.ts';
import { windowKey, type FeatureWindow, type WindowListener } from './window-listener.ts';

export class WindowDelivery {
  private readonly listeners: WindowListener[] = [];
  /** Spool segments holding feature records of windows a listener is not done with: segment → windows. */
  private readonly holds = new Map<number, number>();
  private redeliveredCount = 0;

  constructor(private readonly log: Logger) {}

  add(listener: WindowListener): void {
    this.listeners.push(listener);
  }

  /** Command kinds of every listener (subscribed on every connect: a session persisted before a listener existed lacks them). */
  commandKinds(): VehicleTopicKind[] {
    return [...new Set(this.listeners.flatMap((l) => l.commandKinds ?? []))];
  }

  /** The listener that takes vehicle commands of `kind`, if any. */
  commandListener(kind: VehicleTopicKind): WindowListener | undefined {
    return this.listeners.find((l) => l.commandKinds?.includes(kind));
  }

  /** Gives `window` to every listener; its feature record is in `segment` or a later one. */
  deliver(window: FeatureWindow, segment: number): void {
    for (const listener of this.listeners) this.deliverTo(listener, window, segment);
  }

  /** Restart, before telemetry is replayed: every spooled window a listener had not finished, in spool order. */
  redeliverUnfinished(spool: ReplaySource): void {
    const listeners = this.listeners.filter((l) => l.completedWindows);
    if (listeners.length === 0) return;
    // One pass over the spool: what each listener finished, and the feature records to check against it.
    const completed = listeners.map(() => new Set<string>());
    const featureRecords: Array<{ body: string; segment: number }> = [];
    for (const record of spool.records()) {
      if (record.type !== 'f') continue;
      if (record.vehicle) featureRecords.push({ body: record.body, segment: record.segment });
      else listeners.forEach((listener, i) => listener.completedWindows!(record.body, completed[i]!));
    }
    for (const record of featureRecords) {
      for (const point of parseFeatureLines(record.body)) {
        // Every window with samples has its running time (features v2); other lines are not windows.
        if (point.features.running_s === undefined) continue;
        const features: FeatureVector = { ...point.features };
        for (const name of FEATURE_NAMES) if (!(name in features)) features[name] = NaN; // non-finite features are not written
        const window: FeatureWindow = { vehicle: point.vehicle, startMs: point.windowStartMs, endMs: point.windowEndMs, features, featureSetId: FEATURE_SET_ID, samples: [] };
        const key = windowKey(point.vehicle, point.windowStartMs);
        listeners.forEach((listener, i) => {
          if (completed[i]!.has(key)) return;
          this.redeliveredCount += 1;
          this.deliverTo(listener, window, record.segment);
        });
      }
    }
    if (this.redeliveredCount > 0) this.log.info('windows closed before the restart handed to scoring again', { windows: this.redeliveredCount });
  }

  /** Lowest segment held for a listener; Infinity when none. */
  retentionFloor(): number {
    let lowest = Infinity;
    for (const segment of this.holds.keys()) if (segment < lowest) lowest = segment;
    return lowest;
  }

  /** Windows whose feature records are held now. */
  held(): number {
    let windows = 0;
    for (const n of this.holds.values()) windows += n;
    return windows;
  }

  get redelivered(): number {
    return this.redeliveredCount;
  }

  /** Awaits every listener's `flush`, all of them even when one fails; rejects with the first failure. */
  async flush(): Promise<void> {
    let failure: { error: unknown } | undefined;
    for (const listener of this.listeners) {
      try {
        await listener.flush?.();
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
  }

  private deliverTo(listener: WindowListener, window: FeatureWindow, segment: number): void {
    let done: Promise<void> | void | undefined;
    try {
      done = listener.onWindow(window);
    } catch (error) {
      this.log.error('window listener failed', { error: errorMessage(error) });
      return;
    }
    if (!done) return;
    this.holds.set(segment, (this.holds.get(segment) ?? 0) + 1);
    const release = (): void => {
      const left = (this.holds.get(segment) ?? 1) - 1;
      if (left > 0) this.holds.set(segment, left);
      else this.holds.delete(segment);
    };
    done.then(release, release);
  }
}
