import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../common/errors.ts';
import type { TelemetryBatch } from '../contracts/telemetry.ts';
import { SqliteBatchStore } from './sqlite-batch-store.ts';
import { thrownBy } from '../test/support/errors.ts';

const T0 = 1_763_900_000_000;
const batch = (seq: number, samples: number, vehicle = 'car-1'): TelemetryBatch => ({
  v: 1,
  vehicle,
  seq,
  samples: Array.from({ length: samples }, (_, i) => ({ t: T0 + seq * 1000 + i, RPM: 800 + i, SPEED: seq % 200 })),
});

const dirs: string[] = [];
const stores: SqliteBatchStore[] = [];
function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-buffer-'));
  dirs.push(dir);
  return join(dir, 'buffer.sqlite');
}
function open(file: string, maxBytes = 1024 * 1024, vehicleId = 'car-1'): SqliteBatchStore {
  const store = new SqliteBatchStore({ file, vehicleId, maxBytes });
  stores.push(store);
  return store;
}
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

// What every BatchStore does is checked by batch-store.conformance.test.ts; here what only the disk store does.
describe('SqliteBatchStore', () => {
  it('refuses a file of another vehicle and a file another process holds', () => {
    const file = tempFile();
    open(file).append(batch(0, 1));
    // Still open by the first store: locked.
    expect(thrownBy(() => new SqliteBatchStore({ file, vehicleId: 'car-1', maxBytes: 1 << 20 }))).toMatchObject({ code: 'FP_CONFIG_INVALID', issues: [{ field: 'bufferFile' }] });
    stores.splice(0).forEach((s) => s.close());
    const error = (() => {
      try {
        new SqliteBatchStore({ file, vehicleId: 'car-2', maxBytes: 1 << 20 });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(String((error as Error).message)).toMatch(/bufferFile: .* car-1, not car-2/);
  });

  it('moves a damaged file aside and starts a new buffer', () => {
    const file = tempFile();
    writeFileSync(file, Buffer.alloc(8192, 0x5a));
    const store = open(file);
    expect(store.stats().queuedBatches).toBe(0);
    store.append(batch(0, 1));
    expect(store.next(-1)?.seq).toBe(0);
  });

  it('a process killed with SIGKILL while appending and acknowledging leaves a consistent database with every committed batch', async () => {
    const file = tempFile();
    const script = join(file, '..', 'writer.ts');
    // The writer reports each commit only after append()/acknowledge() returned.
    writeFileSync(
      script,
      `import { SqliteBatchStore } from ${JSON.stringify(join(import.meta.dirname, 'sqlite-batch-store.ts'))};
const store = new SqliteBatchStore({ file: ${JSON.stringify(file)}, vehicleId: 'car-1', maxBytes: 64 * 1024 * 1024 });
for (let seq = 0; ; seq++) {
  const samples = Array.from({ length: 50 }, (_, i) => ({ t: ${T0} + seq * 1000 + i, RPM: 800 + i, SPEED: 10 }));
  store.append({ v: 1, vehicle: 'car-1', seq, samples });
  process.stdout.write('A' + seq + '\\n');
  if (seq % 3 === 0) { store.acknowledge(seq); process.stdout.write('K' + seq + '\\n'); }
}
`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise((r) => child.on('exit', r));
    const deadline = Date.now() + 30_000;
    while ((out.match(/\n/g)?.length ?? 0) < 600 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGKILL');
    await exited;
    const lines = out.split('\n').filter((l) => /^[AK]\d+$/.test(l));
    const appended = new Set(lines.filter((l) => l[0] === 'A').map((l) => Number(l.slice(1))));
    const acked = new Set(lines.filter((l) => l[0] === 'K').map((l) => Number(l.slice(1))));
    expect(appended.size).toBeGreaterThanOrEqual(400);

    const raw = new Database(file, { readonly: true });
    expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
    raw.close();
    const store = open(file, 64 * 1024 * 1024);
    const stored = new Map<number, TelemetryBatch>();
    for (let e = store.next(-1); e; e = store.next(e.seq)) stored.set(e.seq, e.batch);
    for (const seq of appended) {
      if (acked.has(seq)) expect(stored.has(seq), `acknowledged ${seq} came back`).toBe(false);
      else expect(stored.get(seq)?.samples.length, `committed batch ${seq}`).toBe(50);
    }
    // At most the one batch being written when the kill came is there without a report.
    const unreported = [...stored.keys()].filter((seq) => !appended.has(seq));
    expect(unreported.length).toBeLessThanOrEqual(1);
    expect(store.nextSeq).toBeGreaterThanOrEqual(Math.max(...appended) + 1);
    // Stored batches are whole and ordered.
    let previous = -1;
    for (const [seq, b] of stored) {
      expect(seq).toBeGreaterThan(previous);
      previous = seq;
      expect(b.samples.map((s) => s.t)).toEqual(batch(seq, 50).samples.map((s) => s.t));
    }
  });
});
