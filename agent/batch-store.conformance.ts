/**
 * The BatchStore contract (batch-store.ts) as one suite, run against every implementation by
 * batch-store.conformance.test.ts — as Telegraf runs one buffer suite on its memory and disk
 * buffers. What only one store does (the disk store's lock, damaged files, a full disk) stays in
 * that store's own tests.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TelemetryBatch } from '../contracts/telemetry.ts';
import { VEHICLE_HEALTH_SCHEMA, type VehicleHealthEvent } from '../contracts/vehicle-health.ts';
import type { BatchStore, RecordBatch, Timed } from './batch-store.ts';

export interface BatchStoreUnderTest {
  /**
   * A new, empty store that holds exactly `batches` batches the size of `like` and drops beyond
   * that, counted in its own unit (samples, bytes).
   */
  open<R extends Timed>(holds: { batches: number; like: RecordBatch<R> }): BatchStore<R>;
  /** Closes `store` and opens the same store again; absent for a store that keeps nothing across a restart. */
  reopen?<R extends Timed>(store: BatchStore<R>): BatchStore<R>;
  /** Removes what `open` made (files); called after each test, once its stores are closed. */
  dispose?(): void;
}

const T0 = 1_763_900_000_000;
// Enough for two batches to be above the disk store's smallest bound (1 KiB).
const SAMPLES = 20;

/** Batches of equal size in every unit: SAMPLES samples, the same digits in every value. */
export function conformanceBatch(seq: number, samples = SAMPLES): TelemetryBatch {
  return { v: 1, vehicle: 'car-1', seq, samples: Array.from({ length: samples }, (_, i) => ({ t: T0 + seq * 1000 + i, RPM: 810 + i, SPEED: 50 })) };
}

/** A store of vehicle health events keeps one event per batch (agent/health-publisher.ts). */
export function conformanceHealthBatch(seq: number): RecordBatch<VehicleHealthEvent> {
  const event: VehicleHealthEvent = {
    schema: VEHICLE_HEALTH_SCHEMA, vehicle: 'car-1', seq, t: T0 + seq * 60_000, reason: seq === 0 ? 'snapshot' : 'change', source: 'obd',
    mil: seq % 2 === 1, dtcCount: seq % 2, readiness: { ignition: 'spark', monitors: { MISFIRE: { supported: true, complete: true } } },
    confirmed: seq % 2 === 1 ? ['P0301'] : [], pending: ['P0301'], permanent: null,
    freezeFrame: seq % 2 === 1 ? { dtc: 'P0301', frame: 0, signals: { RPM: 812.25, COOLANT_TEMP: 88 } } : null,
    vin: 'FPEEMU2700S087109', counters: { distanceWithMilKm: seq },
  };
  return { v: 1, vehicle: 'car-1', seq, samples: [event] };
}

function seqsIn<R extends Timed>(store: BatchStore<R>): number[] {
  const seqs: number[] = [];
  for (let e = store.next(-1); e; e = store.next(e.seq)) seqs.push(e.seq);
  return seqs;
}

export function describeBatchStore(name: string, under: BatchStoreUnderTest): void {
  describe(`BatchStore conformance: ${name}`, () => {
    const open: Array<BatchStore<Timed>> = [];
    const make = (batches = 100): BatchStore => {
      const store = under.open({ batches, like: conformanceBatch(0) });
      open.push(store);
      return store;
    };
    afterEach(() => {
      for (const store of open.splice(0)) store.close();
      under.dispose?.();
    });

    it('starts empty', () => {
      const store = make();
      expect(store.nextSeq).toBe(0);
      expect(store.lastEventTime).toBeUndefined();
      expect(store.maxStoredSeq()).toBe(-1);
      expect(store.next(-1)).toBeUndefined();
      expect(store.stats()).toMatchObject({ queuedBatches: 0, queuedSamples: 0, queuedBytes: 0, droppedBatches: 0, droppedSamples: 0 });
    });

    it('hands batches back oldest first, as appended, within (afterSeq, upToSeq]', () => {
      const store = make();
      for (const seq of [0, 1, 2, 5]) store.append(conformanceBatch(seq));
      expect(store.next(-1)).toMatchObject({ seq: 0, samples: SAMPLES, batch: conformanceBatch(0) });
      expect(store.next(-1)!.bytes).toBeGreaterThan(0);
      expect(store.next(2)?.batch).toEqual(conformanceBatch(5));
      expect(store.next(0, 1)?.seq).toBe(1);
      expect(store.next(1, 1)).toBeUndefined();
      expect(store.next(-1, -1)).toBeUndefined();
      expect(store.next(5)).toBeUndefined();
      expect(seqsIn(store)).toEqual([0, 1, 2, 5]);
      expect(store.maxStoredSeq()).toBe(5);
    });

    it('lets a batch go only on its acknowledgement, answering its sample count once', () => {
      const store = make();
      for (let seq = 0; seq < 4; seq++) store.append(conformanceBatch(seq));
      expect(store.acknowledge(1)).toBe(SAMPLES);
      expect(store.acknowledge(1)).toBeUndefined();
      expect(store.acknowledge(99)).toBeUndefined();
      expect(seqsIn(store)).toEqual([0, 2, 3]);
      expect(store.stats()).toMatchObject({ queuedBatches: 3, queuedSamples: 3 * SAMPLES, droppedBatches: 0 });
      for (const seq of [0, 2, 3]) store.acknowledge(seq);
      expect(store.stats()).toMatchObject({ queuedBatches: 0, queuedSamples: 0, queuedBytes: 0 });
      expect(store.maxStoredSeq()).toBe(-1);
      // Emptied by acknowledgements, the store still continues the sequence.
      expect(store.nextSeq).toBe(4);
    });

    it('continues the sequence past gaps, and refuses a seq below it or an empty batch (RangeError)', () => {
      const store = make();
      store.append(conformanceBatch(0));
      store.append(conformanceBatch(7));
      expect(store.nextSeq).toBe(8);
      expect(() => store.append(conformanceBatch(3))).toThrow(RangeError);
      expect(() => store.append({ ...conformanceBatch(8), samples: [] })).toThrow(RangeError);
      expect(seqsIn(store)).toEqual([0, 7]);
    });

    it('knows the event time of the newest sample appended, also after it was acknowledged', () => {
      const store = make();
      store.append(conformanceBatch(0));
      store.append(conformanceBatch(1));
      store.acknowledge(1);
      expect(store.lastEventTime).toBe(conformanceBatch(1).samples[SAMPLES - 1]!.t);
    });

    it('drops the oldest batches not on the wire at its bound, reports and counts them', () => {
      const store = make(3);
      for (let seq = 0; seq < 3; seq++) expect(store.append(conformanceBatch(seq)).batches).toBe(0);
      // 0 is on the wire: 1 goes instead.
      expect(store.append(conformanceBatch(3), new Set([0]))).toEqual({ batches: 1, samples: SAMPLES, seqs: [1] });
      expect(store.append(conformanceBatch(4), new Set([0]))).toEqual({ batches: 1, samples: SAMPLES, seqs: [2] });
      expect(store.append(conformanceBatch(5))).toEqual({ batches: 1, samples: SAMPLES, seqs: [0] });
      expect(seqsIn(store)).toEqual([3, 4, 5]);
      expect(store.stats()).toMatchObject({ queuedBatches: 3, queuedSamples: 3 * SAMPLES, droppedBatches: 3, droppedSamples: 3 * SAMPLES });
    });

    it('keeps the batch being appended even when it alone is above the bound', () => {
      const store = make(2);
      store.append(conformanceBatch(0));
      const report = store.append(conformanceBatch(1, 3 * SAMPLES));
      expect(report).toEqual({ batches: 1, samples: SAMPLES, seqs: [0] });
      expect(seqsIn(store)).toEqual([1]);
    });

    it('keeps records of another kind (vehicle health events, one per batch) exactly, and drops them by the same rule', () => {
      const store = under.open({ batches: 3, like: conformanceHealthBatch(1) });
      open.push(store);
      for (let seq = 0; seq < 3; seq++) store.append(conformanceHealthBatch(seq));
      expect(store.next(0)?.batch).toEqual(conformanceHealthBatch(1));
      expect(store.lastEventTime).toBe(conformanceHealthBatch(2).samples[0]!.t);
      expect(store.append(conformanceHealthBatch(3), new Set([0])).seqs).toEqual([1]);
      expect(seqsIn(store)).toEqual([0, 2, 3]);
      const reopenStore = under.reopen;
      if (!reopenStore) return;
      open.splice(open.indexOf(store), 1);
      const again = reopenStore(store);
      open.push(again);
      expect(again.next(2)?.batch).toEqual(conformanceHealthBatch(3));
      expect(again.nextSeq).toBe(4);
    });

    it('states its bound in its own unit, and what it holds', () => {
      const store = make(4);
      store.append(conformanceBatch(0));
      const stats = store.stats();
      expect(stats.boundUnit).toBe(store.kind === 'disk' ? 'bytes' : 'samples');
      expect(stats.bound).toBeGreaterThan(0);
      expect(stats).toMatchObject({ queuedBatches: 1, queuedSamples: SAMPLES, queuedBytes: store.next(-1)!.bytes });
    });

    // Only stores that keep batches across a restart (the disk store).
    const reopen = under.reopen;
    if (reopen) {
      it('keeps unacknowledged batches, the sequence, the newest event time and the drop counts across a restart', () => {
        const store = make(3);
        for (let seq = 0; seq < 5; seq++) store.append(conformanceBatch(seq));
        store.acknowledge(3);
        open.splice(open.indexOf(store), 1);
        const again = reopen(store);
        open.push(again);
        expect(seqsIn(again)).toEqual([2, 4]);
        expect(again.next(-1)?.batch).toEqual(conformanceBatch(2));
        expect(again.nextSeq).toBe(5);
        expect(again.lastEventTime).toBe(conformanceBatch(4).samples[SAMPLES - 1]!.t);
        expect(again.stats()).toMatchObject({ queuedBatches: 2, queuedSamples: 2 * SAMPLES, droppedBatches: 2, droppedSamples: 2 * SAMPLES });
        expect(() => again.append(conformanceBatch(4))).toThrow(RangeError);
      });
    }
  });
}
