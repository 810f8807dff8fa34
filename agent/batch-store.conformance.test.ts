/** The BatchStore suite (batch-store.conformance.ts) on every store: memory and SQLite on disk. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeBatchStore } from './batch-store.conformance.ts';
import { MemoryBatchStore } from './memory-batch-store.ts';
import { SqliteBatchStore } from './sqlite-batch-store.ts';
import type { BatchStore, RecordBatch, Timed } from './batch-store.ts';

describeBatchStore('MemoryBatchStore', {
  open: <R extends Timed>({ batches, like }: { batches: number; like: RecordBatch<R> }) => new MemoryBatchStore<R>(batches * like.samples.length),
});

const dirs: string[] = [];
const files = new WeakMap<object, { file: string; maxBytes: number }>();
const openSqlite = <R extends Timed>(file: string, maxBytes: number): SqliteBatchStore<R> => {
  const store = new SqliteBatchStore<R>({ file, vehicleId: 'car-1', maxBytes });
  files.set(store, { file, maxBytes });
  return store;
};
describeBatchStore('SqliteBatchStore', {
  open<R extends Timed>({ batches, like }: { batches: number; like: RecordBatch<R> }): BatchStore<R> {
    const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-store-conformance-'));
    dirs.push(dir);
    // The bytes one such batch counts against the bound, as this store counts them.
    const probe = openSqlite<R>(join(dir, 'probe.sqlite'), 1 << 20);
    probe.append(like);
    const bytes = probe.next(-1)!.bytes;
    probe.close();
    return openSqlite<R>(join(dir, 'buffer.sqlite'), batches * bytes);
  },
  reopen<R extends Timed>(store: BatchStore<R>): BatchStore<R> {
    const { file, maxBytes } = files.get(store)!;
    store.close();
    return openSqlite<R>(file, maxBytes);
  },
  dispose() {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  },
});
