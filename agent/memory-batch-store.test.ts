import { describe, expect, it } from 'vitest';
import type { TelemetryBatch } from '../contracts/telemetry.ts';
import { MemoryBatchStore } from './memory-batch-store.ts';

const batch = (seq: number, samples: number): TelemetryBatch => ({
  v: 1,
  vehicle: 'v',
  seq,
  samples: Array.from({ length: samples }, (_, i) => ({ t: 1_763_900_000_000 + seq * 1000 + i, RPM: 800 })),
});

describe('MemoryBatchStore', () => {
  it('hands out batches oldest first and forgets them on acknowledgement', () => {
    const box = new MemoryBatchStore(100);
    box.append(batch(0, 3));
    box.append(batch(1, 3));
    expect(box.next(-1)?.seq).toBe(0);
    expect(box.next(0)?.seq).toBe(1);
    expect(box.next(1)).toBeUndefined();
    expect(box.next(-1, -1)).toBeUndefined();
    expect(box.acknowledge(0)).toBe(3);
    expect(box.acknowledge(0)).toBeUndefined();
    expect(box.stats()).toMatchObject({ queuedBatches: 1, queuedSamples: 3 });
    expect(box.nextSeq).toBe(2);
  });

  it('drops the oldest batches not on the wire beyond the bound, and counts them', () => {
    const box = new MemoryBatchStore(10);
    for (let seq = 0; seq < 5; seq++) box.append(batch(seq, 4), new Set([0]));
    expect(box.stats()).toMatchObject({ queuedBatches: 2, queuedSamples: 8, droppedBatches: 3, droppedSamples: 12 });
    expect(box.next(-1)?.seq).toBe(0);
    expect(box.next(0)?.seq).toBe(4);
  });

  it('keeps a batch larger than the bound rather than dropping what was just built', () => {
    const box = new MemoryBatchStore(5);
    box.append(batch(0, 4));
    const report = box.append(batch(1, 8));
    expect(report).toEqual({ batches: 1, samples: 4, seqs: [0] });
    expect(box.stats()).toMatchObject({ queuedSamples: 8, droppedBatches: 1, droppedSamples: 4 });
  });
});
