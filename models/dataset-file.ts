/**
 * A window dataset on disk: `<dir>/dataset.json` (contract, vehicles, source, column layout) and
 * `<dir>/columns.bin` (the typed-array columns back to back, little-endian). Loading checks the
 * sizes against the layout, so a truncated file is an error, not a silently shorter dataset.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../common/errors.ts';
import { datasetHash, type WindowDataset } from './window-dataset.ts';

const COLUMNS = ['x', 'vehicle', 't', 'severity', 'ttfS', 'label', 'learned', 'own'] as const;
type Column = (typeof COLUMNS)[number];
const CTORS = { x: Float32Array, vehicle: Uint32Array, t: Float64Array, severity: Float32Array, ttfS: Float64Array, label: Int8Array, learned: Uint8Array, own: Float32Array } as const;

export function writeDataset(dir: string, d: WindowDataset): string {
  mkdirSync(dir, { recursive: true });
  const layout: Array<{ column: Column; bytes: number }> = [];
  const parts: Buffer[] = [];
  for (const c of COLUMNS) {
    const a = d[c];
    if (a === undefined) continue; // optional column (`own`)
    // Pad each column to 8 bytes so every typed array can be viewed in place on load.
    const bytes = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    const pad = (8 - (bytes.length % 8)) % 8;
    parts.push(bytes, Buffer.alloc(pad));
    layout.push({ column: c, bytes: bytes.length });
  }
  writeFileSync(join(dir, 'columns.bin'), Buffer.concat(parts));
  const hash = datasetHash(d);
  const { x: _x, vehicle: _v, t: _t, severity: _s, ttfS: _f, label: _l, learned: _d, own: _o, ...meta } = d;
  writeFileSync(join(dir, 'dataset.json'), `${JSON.stringify({ schema: 'fleetpulse.window-dataset/2', hash, rows: d.label.length, layout, ...meta }, null, 1)}\n`);
  return hash;
}

export function readDataset(dir: string): WindowDataset {
  let meta: Record<string, unknown>;
  let bin: Buffer;
  try {
    meta = JSON.parse(readFileSync(join(dir, 'dataset.json'), 'utf8')) as Record<string, unknown>;
    bin = readFileSync(join(dir, 'columns.bin'));
  } catch (error) {
    throw new ConfigError('dataset', [{ field: 'dataset', message: `cannot read ${dir}: ${(error as Error).message} (make one with fleetpulse train dataset)` }]);
  }
  if (meta.schema !== 'fleetpulse.window-dataset/2') throw new ConfigError('dataset', [{ field: 'dataset', message: `${dir} is not a fleetpulse window dataset` }]);
  const layout = meta.layout as Array<{ column: Column; bytes: number }>;
  const aligned = new Uint8Array(bin.length);
  aligned.set(bin);
  const cols: Partial<Record<Column, unknown>> = {};
  let offset = 0;
  for (const { column, bytes } of layout) {
    const Ctor = CTORS[column];
    if (offset + bytes > aligned.length) throw new ConfigError('dataset', [{ field: 'dataset', message: `${dir}/columns.bin is truncated` }]);
    cols[column] = new Ctor(aligned.buffer, offset, bytes / Ctor.BYTES_PER_ELEMENT);
    offset += bytes + ((8 - (bytes % 8)) % 8);
  }
  const { schema: _s, hash: _h, rows: _r, layout: _l, ...rest } = meta;
  return { ...(rest as unknown as Omit<WindowDataset, Column>), ...(cols as Pick<WindowDataset, Column>) };
}
