import { describe, expect, it } from 'vitest';
import type { TelemetryBatch } from '../contracts/telemetry.ts';
import { Outbox } from './outbox.ts';

const batch = (seq: number, samples: number): TelemetryBatch => ({
  v: 1,
  vehicle: 'v',
  seq,
  samples: Array.from({ length: samples }, (_, i) => ({ t: 1_763_900_000_000 + seq * 1000 + i, RPM: 800 })),
});

describe('Outbox', () => {
  it('hands out batches oldest first and forgets them on acknowledgement', () => {
    const box = new Outbox(100);
    box.add(batch(0, 3));
    box.add(batch(1, 3));
    expect(box.takeNext()?.seq).toBe(0);
    expect(box.takeNext()?.seq).toBe(1);
    expect(box.takeNext()).toBeUndefined();
    expect(box.inflight).toBe(2);
    expect(box.acknowledge(0)?.seq).toBe(0);
    expect(box.acknowledge(0)).toBeUndefined();
    expect(box.stats()).toMatchObject({ queuedBatches: 1, queuedSamples: 3 });
  });

  it('re-sends a released batch before newer ones', () => {
    const box = new Outbox(100);
    box.add(batch(0, 1));
    box.add(batch(1, 1));
    box.takeNext();
    box.release(0);
    expect(box.takeNext()?.seq).toBe(0);
  });

  it('drops the oldest unsent batches at its bound and counts them', () => {
    const box = new Outbox(10);
    for (let seq = 0; seq < 5; seq++) box.add(batch(seq, 4));
    // 5 × 4 = 20 samples for a bound of 10: the three oldest went.
    expect(box.stats()).toEqual({ queuedBatches: 2, queuedSamples: 8, droppedBatches: 3, droppedSamples: 12 });
    expect(box.takeNext()?.seq).toBe(3);
  });

  it('never drops a batch that is on the wire', () => {
    const box = new Outbox(5);
    box.add(batch(0, 4));
    box.takeNext();
    const dropped = box.add(batch(1, 4));
    expect(dropped).toEqual([]);
    expect(box.stats().queuedSamples).toBe(8);
    box.add(batch(2, 1));
    // seq 1 was the oldest unsent batch.
    expect(box.stats()).toMatchObject({ droppedBatches: 1, droppedSamples: 4, queuedSamples: 5 });
  });
});
