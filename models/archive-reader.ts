/**
 * Reads the raw telemetry archive (ingest/archive/, layout in contracts/archive-layout.ts) back as each
 * vehicle's samples in event-time order: the `--from-archive` source of the trainer.
 *
 * Guarantees:
 * - Output is ordered by (vehicle, t) over all files of the date range, with every (vehicle, t)
 *   once (the archive is at-least-once; the first copy wins, copies are identical by
 *   construction). Repeats dropped are counted.
 * - Only complete files are read (temporary dot-names are skipped).
 * - Memory-bounded: files are merged k-way, each read one row group at a time, so at most
 *   (files in the range) × (rows per row group, 10,000 by default) decoded rows are held, plus
 *   the current chunk of `maxChunkSamples`. Merging is a linear scan over the open files per row:
 *   fine for hundreds of files; compact older days into fewer files before reading years.
 */
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import type { AsyncBuffer, FileMetaData } from 'hyparquet';
import type { Sample } from '../contracts/telemetry.ts';
import { ConfigError } from '../common/errors.ts';
import { ARCHIVE_SIGNALS, DAY_DIR, PART_FILE } from '../contracts/archive-layout.ts';
import { FEATURE_NAMES, FEATURE_SET_ID, FEATURE_VERSION, type FeatureVector, WINDOW_FEATURE_NAMES } from './features.ts';
import type { BaselineOptions } from './vehicle-baseline.ts';
import { type DatasetVehicle, DEFAULT_LABEL_SEVERITY, DEFAULT_WINDOW_MS, featureRow, type Split, VehicleFeaturePath, vehicleWindower, type WindowDataset } from './window-dataset.ts';

export interface ArchiveReadOptions {
  dir: string;
  /** First day (YYYY-MM-DD, inclusive); all days when absent. */
  from?: string;
  /** Last day (YYYY-MM-DD, inclusive). */
  to?: string;
  /** Largest chunk of one vehicle's samples yielded at once (default 20,000). */
  maxChunkSamples?: number;
}

/** Consecutive samples of one vehicle; a vehicle's chunks follow each other in time order. */
export interface VehicleChunk {
  vehicle: string;
  samples: Sample[];
  /** True on the vehicle's last chunk. */
  last: boolean;
}

export interface ArchiveReadStats {
  files: number;
  rows: number;
  duplicates: number;
}

/** Complete Parquet files of the archive within the day range, by day. */
export function archiveFiles(o: Pick<ArchiveReadOptions, 'dir' | 'from' | 'to'>): string[] {
  let days: string[];
  try {
    days = readdirSync(o.dir);
  } catch {
    throw new ConfigError('archive', [{ field: 'fromArchive', message: `${o.dir} is not a readable directory` }]);
  }
  const out: string[] = [];
  for (const name of days.sort()) {
    const m = DAY_DIR.exec(name);
    if (!m) continue;
    const day = m[1]!;
    if ((o.from && day < o.from) || (o.to && day > o.to)) continue;
    const dayDir = join(o.dir, name);
    if (!statSync(dayDir).isDirectory()) continue;
    for (const file of readdirSync(dayDir).sort()) if (PART_FILE.test(file)) out.push(join(dayDir, file));
  }
  return out;
}

interface Row {
  vehicle: string;
  sample: Sample;
}

/** One file read a row group at a time. */
class FileCursor {
  private group = 0;
  private rows: Row[] = [];
  private at = 0;
  private constructor(
    private readonly file: AsyncBuffer,
    private readonly metadata: FileMetaData,
  ) {}

  static async open(path: string): Promise<FileCursor> {
    const file = await asyncBufferFromFile(path);
    const cursor = new FileCursor(file, await parquetMetadataAsync(file));
    await cursor.fill();
    return cursor;
  }

  get head(): Row | undefined {
    return this.rows[this.at];
  }

  async advance(): Promise<void> {
    this.at += 1;
    if (this.at >= this.rows.length) await this.fill();
  }

  private async fill(): Promise<void> {
    this.rows = [];
    this.at = 0;
    while (this.rows.length === 0 && this.group < this.metadata.row_groups.length) {
      let rowStart = 0;
      for (let g = 0; g < this.group; g++) rowStart += Number(this.metadata.row_groups[g]!.num_rows);
      const rowEnd = rowStart + Number(this.metadata.row_groups[this.group]!.num_rows);
      this.group += 1;
      const objects = await parquetReadObjects({ file: this.file, metadata: this.metadata, rowStart, rowEnd });
      this.rows = objects.map((o) => {
        const sample: Record<string, number> = { t: Number(o.t) };
        for (const name of ARCHIVE_SIGNALS) {
          const v = o[name] as number | null | undefined;
          if (v !== null && v !== undefined) sample[name] = v;
        }
        return { vehicle: String(o.vehicle), sample: sample as Sample };
      });
    }
  }
}

function before(a: Row, b: Row): boolean {
  return a.vehicle < b.vehicle || (a.vehicle === b.vehicle && a.sample.t < b.sample.t);
}

/**
 * Yields each vehicle's samples of the range in time order, in chunks (see VehicleChunk), and
 * fills `stats` as it goes.
 */
export async function* readArchive(o: ArchiveReadOptions, stats: ArchiveReadStats = { files: 0, rows: 0, duplicates: 0 }): AsyncGenerator<VehicleChunk> {
  const maxChunk = o.maxChunkSamples ?? 20_000;
  const files = archiveFiles(o);
  stats.files = files.length;
  const cursors: FileCursor[] = [];
  for (const path of files) cursors.push(await FileCursor.open(path));
  let vehicle: string | undefined;
  let chunk: Sample[] = [];
  let lastT = -Infinity;
  for (;;) {
    let best: FileCursor | undefined;
    for (const c of cursors) if (c.head && (!best || before(c.head, best.head!))) best = c;
    if (!best) break;
    const row = best.head!;
    await best.advance();
    stats.rows += 1;
    if (row.vehicle === vehicle && row.sample.t === lastT) {
      stats.duplicates += 1;
      continue;
    }
    if (row.vehicle !== vehicle) {
      if (vehicle !== undefined) yield { vehicle, samples: chunk, last: true };
      vehicle = row.vehicle;
      chunk = [];
    } else if (chunk.length >= maxChunk) {
      yield { vehicle, samples: chunk, last: false };
      chunk = [];
    }
    chunk.push(row.sample);
    lastT = row.sample.t;
  }
  if (vehicle !== undefined) yield { vehicle, samples: chunk, last: true };
}

/** Every vehicle's whole sample list (for tests and small archives: not memory-bounded). */
export async function readArchiveSamples(o: ArchiveReadOptions): Promise<Map<string, Sample[]>> {
  const out = new Map<string, Sample[]>();
  for await (const c of readArchive(o)) {
    const list = out.get(c.vehicle);
    if (list) list.push(...c.samples);
    else out.set(c.vehicle, [...c.samples]);
  }
  return out;
}

export interface ArchiveDatasetOptions extends ArchiveReadOptions {
  windowMs?: number;
  /** Share of vehicles in validation and in test (each), chosen by a hash of the vehicle id. */
  holdoutFraction?: number;
  /** Each vehicle's baseline learns from its first archived windows, as ingest's did. */
  baseline?: BaselineOptions;
  /** Called after each vehicle. */
  onProgress?: (vehicles: number, windows: number) => void;
}

function splitOf(vehicle: string, holdout: number): Split {
  const u = createHash('sha256').update(vehicle).digest().readUInt32BE(0) / 2 ** 32;
  return u < holdout ? 'test' : u < 2 * holdout ? 'validation' : 'train';
}

/**
 * Feature windows of the archived vehicles, through the same windowing and features as the
 * simulated dataset (`vehicleWindower`, `featureRow`). Real data has no ground truth: every window
 * is labelled −1 (unlabelled), severity and time to failure are NaN. What the trainer does with
 * it is in docs/models.md ("Retraining from the archive").
 */
export async function buildArchiveDataset(o: ArchiveDatasetOptions, stats: ArchiveReadStats = { files: 0, rows: 0, duplicates: 0 }): Promise<WindowDataset> {
  const windowMs = o.windowMs ?? DEFAULT_WINDOW_MS;
  const holdout = o.holdoutFraction ?? 0.2;
  const vehicles: DatasetVehicle[] = [];
  const x: number[] = [];
  const vehicleIndex: number[] = [];
  const t: number[] = [];
  const learned: number[] = [];
  const own: number[] = [];
  let windower: ReturnType<typeof vehicleWindower<Sample>> | undefined;
  let path: VehicleFeaturePath | undefined;
  const take = (windows: { startMs: number; samples: Sample[] }[]): void => {
    for (const w of windows) {
      const row = path!.window(w.startMs, w.samples);
      for (const v of featureRow(row.features)) x.push(v);
      for (const v of featureRow(row.own, WINDOW_FEATURE_NAMES)) own.push(v);
      vehicleIndex.push(vehicles.length - 1);
      t.push(w.startMs);
      learned.push(row.learned ? 1 : 0);
    }
  };
  for await (const chunk of readArchive(o, stats)) {
    if (!windower) {
      windower = vehicleWindower<Sample>(windowMs);
      path = new VehicleFeaturePath(o.baseline ?? {});
      vehicles.push({ id: chunk.vehicle, profile: 'archive', style: 'unknown', fault: null, onsetMs: null, failureMs: null, split: splitOf(chunk.vehicle, holdout) });
    }
    take(windower.push(chunk.samples));
    if (chunk.last) {
      take(windower.end());
      windower = undefined;
      o.onProgress?.(vehicles.length, t.length);
    }
  }
  const n = t.length;
  return {
    featureNames: FEATURE_NAMES,
    featureSetId: FEATURE_SET_ID,
    featureVersion: FEATURE_VERSION,
    windowMs,
    labelSeverity: DEFAULT_LABEL_SEVERITY,
    source: { generator: 'archive', dir: o.dir, from: o.from ?? '-', to: o.to ?? '-', files: stats.files, samples: stats.rows - stats.duplicates, duplicatesDropped: stats.duplicates },
    vehicles,
    x: Float32Array.from(x),
    vehicle: Uint32Array.from(vehicleIndex),
    t: Float64Array.from(t),
    severity: new Float32Array(n).fill(Number.NaN),
    ttfS: new Float64Array(n).fill(Number.NaN),
    label: new Int8Array(n).fill(-1),
    learned: Uint8Array.from(learned),
    own: Float32Array.from(own),
  };
}

/**
 * The windows' own feature vectors (absent features left out), e.g. the recent side of drift: what
 * ingest stores in `features`, which the drift reference describes too.
 */
export function featureVectors(d: WindowDataset): FeatureVector[] {
  const names = d.own ? WINDOW_FEATURE_NAMES : d.featureNames;
  const data = d.own ?? d.x;
  const F = names.length;
  const out: FeatureVector[] = [];
  for (let i = 0; i < d.t.length; i++) {
    const v: FeatureVector = {};
    names.forEach((name, j) => {
      const value = data[i * F + j]!;
      if (!Number.isNaN(value)) v[name] = value;
    });
    out.push(v);
  }
  return out;
}
