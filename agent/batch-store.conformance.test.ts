/** The BatchStore suite (batch-store.conformance.ts) on every store: memory and SQLite on disk. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeBatchStore } from './batch-store.conformance.ts';
import { MemoryBatchStore } from './memory-batch-store.ts';
import { SqliteBatchStore } from './sqlite-batch-store.ts';
import type { BatchStore } from './batch-store.ts';

describeBatchStore('MemoryBatchStore', {
  open: ({ batches, like }) => new MemoryBatchStore(batches * like.samples.length),
});

const dirs: string[] = [];
const files = new WeakMap<BatchStore, { file: string; maxBytes: number }>();
const openSqlite = (file: string, maxBytes: number): SqliteBatchStore => {
  const store = new SqliteBatchStore({ file, vehicleId: 'car-1', maxBytes });
  files.set(store, { file, maxBytes });
  return store;
};
describeBatchStore('SqliteBatchStore', {
  open({ batches, like }) {
    const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-store-conformance-'));
    dirs.push(dir);
    // The bytes one such batch counts against the bound, as this store counts them.
    const probe = openSqlite(join(dir, 'probe.sqlite'), 1 << 20);
    probe.append(like);
    const bytes = probe.next(-1)!.bytes;
    probe.close();
    return openSqlite(join(dir, 'buffer.sqlite'), batches * bytes);
  },
  reopen(store) {
    const { file, maxBytes } = files.get(store)!;
    store.close();
    return openSqlite(file, maxBytes);
  },
  dispose() {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  },
});
