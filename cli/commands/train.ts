/**
 * `fleetpulse train …`: dataset, model, report and drift for the engine anomaly model.
 *
 *   fleetpulse train            end to end: dataset → both families → ONNX + metadata → report
 *   fleetpulse train dataset    labelled windows from a simulated fleet, to a directory
 *   fleetpulse train report     evaluation report of a model file on a dataset's test vehicles
 *   fleetpulse train drift      PSI of recent feature windows against the model's training windows
 *
 * `--from-archive DIR` (all four) takes the windows from ingest's Parquet archive instead of the
 * simulator. Archived data has no ground truth, so `train --from-archive` retrains on the labelled
 * simulated windows plus the archive windows the model in service does not flag, as healthy
 * examples, and writes the next model version beside the current one (docs/models.md,
 * "Retraining from the archive").
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readDriveLogFile } from '../../agent/replay-drive-log.ts';
import { opt } from '../../common/config.ts';
import { ConfigError } from '../../common/errors.ts';
import { resolveModelFile } from '../../ingest/scoring/model-provider.ts';
import { buildArchiveDataset, featureVectors } from '../../models/archive-reader.ts';
import { withArchiveWindows } from '../../models/archive-retrain.ts';
import { readDataset, writeDataset } from '../../models/dataset-file.ts';
import { datasetReference, detectDrift, readReference, writeReference } from '../../models/drift.ts';
import { evaluate } from '../../models/evaluation.ts';
import { FEATURE_SET_ID, type FeatureVector } from '../../models/features.ts';
import { metadataPathFor } from '../../models/model-metadata.ts';
import { type RealDriveReport, writeModelReport } from '../../models/model-report.ts';
import { evaluateDrives, type RecordedDrive } from '../../models/drive-evaluation.ts';
import { OnnxModel } from '../../models/onnx-model.ts';
import { type Family, trainAndExport, writeModel } from '../../models/train-pipeline.ts';
import { buildFleetDataset, DEFAULT_LABEL_SEVERITY, splitRows, type WindowDataset } from '../../models/window-dataset.ts';
import { defineCommand } from '../command.ts';
import { sharedOptions } from '../shared-options.ts';

const START_MS = Date.UTC(2025, 0, 6);

function parseFamilies(text: string): Family[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => !['mlp', 'gbt', 'gam'].includes(p))) throw new Error(`'${text}' is not a list of model families (mlp, gbt, gam)`);
  return parts as Family[];
}

const datasetOptions = {
  vehicles: opt.int('Simulated vehicles (300: 60 held-out test vehicles, several per fault type)', { default: 300, min: 6, max: 10_000 }),
  days: opt.number('Simulated days per vehicle', { default: 30, min: 1, max: 365 }),
  faulty: opt.number('Percentage of vehicles with a developing fault', { default: 60, min: 1, max: 100 }),
  seed: opt.int('Seed: same seed, same dataset and model', { default: 42 }),
  windowS: opt.int('Window length, seconds (ingest default: 30)', { default: 30, min: 1, max: 3600 }),
  labelSeverity: opt.number('A window is faulty when the fault severity is at least this', { default: DEFAULT_LABEL_SEVERITY, min: 0.01, max: 1 }),
};

const archiveOptions = {
  fromArchive: opt.string('Read the windows from this Parquet archive directory (ingest --archive-dir) instead of simulating; - = simulate', { default: '-' }),
  archiveFrom: opt.string('Archive: first day, YYYY-MM-DD (inclusive); - = from the start', { default: '-' }),
  archiveTo: opt.string('Archive: last day, YYYY-MM-DD (inclusive); - = to the end', { default: '-' }),
};

/** Unlabelled windows of the archive (see models/archive-reader.ts). */
async function archiveDataset(c: { fromArchive: string; archiveFrom: string; archiveTo: string; windowS?: number }, print: (l: string) => void): Promise<WindowDataset> {
  for (const field of ['archiveFrom', 'archiveTo'] as const) {
    if (c[field] !== '-' && !/^\d{4}-\d{2}-\d{2}$/.test(c[field])) throw new ConfigError('fleetpulse train', [{ field, message: `'${c[field]}' is not a day (YYYY-MM-DD)` }]);
  }
  const t0 = performance.now();
  let lastPrint = 0;
  const d = await buildArchiveDataset({
    dir: c.fromArchive,
    ...(c.archiveFrom !== '-' ? { from: c.archiveFrom } : {}),
    ...(c.archiveTo !== '-' ? { to: c.archiveTo } : {}),
    windowMs: (c.windowS ?? 30) * 1000,
    onProgress: (vehicles, windows) => {
      const now = performance.now();
      if (now - lastPrint > 5000) {
        lastPrint = now;
        print(`archive: ${vehicles} vehicles, ${windows.toLocaleString('en')} windows, ${((now - t0) / 1000).toFixed(0)} s`);
      }
    },
  });
  print(`archive ${c.fromArchive}: ${d.source.files} files, ${d.source.samples} samples (${d.source.duplicatesDropped} repeats dropped), ${d.vehicles.length} vehicles, ${d.t.length} windows`);
  return d;
}

function makeDataset(c: { vehicles: number; days: number; faulty: number; seed: number; windowS: number; labelSeverity: number }, print: (l: string) => void): WindowDataset {
  const t0 = performance.now();
  let lastPrint = 0;
  return buildFleetDataset({
    vehicles: c.vehicles,
    days: c.days,
    faultyFraction: c.faulty / 100,
    seed: c.seed,
    startMs: START_MS,
    windowMs: c.windowS * 1000,
    labelSeverity: c.labelSeverity,
    // Every fault starts and fails inside the simulated period, so lead time is measurable.
    onsetDays: [1, Math.max(1.5, c.days * 0.3)],
    failureAfterDays: [Math.min(6, c.days * 0.2), Math.max(Math.min(6, c.days * 0.2) + 0.5, c.days * 0.65)],
    onProgress: (done, total, windows) => {
      const now = performance.now();
      if (done === total || now - lastPrint > 5000) {
        lastPrint = now;
        print(`dataset: ${done}/${total} vehicles, ${windows.toLocaleString('en')} windows, ${((now - t0) / 1000).toFixed(0)} s`);
      }
    },
  });
}

export const datasetCommand = defineCommand({
  path: 'train dataset',
  section: 'train',
  summary: 'Generate labelled feature windows from a simulated fleet (split by vehicle) into a directory.',
  options: { ...datasetOptions, ...archiveOptions, out: opt.string('Output directory', { default: '.fleetpulse/train/dataset' }) },
  async run(c, ctx) {
    const d = c.fromArchive !== '-' ? await archiveDataset(c, ctx.print) : makeDataset(c, ctx.print);
    const hash = writeDataset(c.out, d);
    const pos = d.label.filter((l) => l === 1).length;
    ctx.print(`wrote ${d.label.length} windows (${pos} faulty, ${d.label.filter((l) => l === -1).length} ambiguous) of ${d.vehicles.length} vehicles to ${c.out} (${hash})`);
  },
});

async function reportOn(model: OnnxModel, d: WindowDataset, reportPath: string, imageDir: string, command: string, realDrivesDir: string, print: (l: string) => void, trainingRunS?: number): Promise<string[]> {
  const rows = splitRows(d, 'test', false);
  const F = d.featureNames.length;
  const data = new Float32Array(rows.length * F);
  rows.forEach((r, i) => data.set(d.x.subarray(r * F, (r + 1) * F), i * F));
  const scores = await model.scoreMatrix(data, rows.length);
  const e = evaluate(d, 'test', rows, scores, model.metadata.threshold);
  const realDrives = realDrivesDir === '-' ? undefined : await realDriveReport(model, realDrivesDir, print);
  return writeModelReport(d, model.metadata, e, { reportPath, imageDir, command, ...(trainingRunS !== undefined ? { trainingRunS } : {}), ...(realDrives ? { realDrives } : {}) });
}

/** Every drive log in `dir` through the serving path, as one car and as a car each (the report's "Real drives"). */
async function realDriveReport(model: OnnxModel, dir: string, print: (l: string) => void): Promise<RealDriveReport> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ConfigError('fleetpulse train', [{ field: 'realDrives', message: `${dir} is not a directory of drive logs` }]);
  const files = readdirSync(dir).filter((f) => /\.csv(\.gz)?$/i.test(f)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const drives: RecordedDrive[] = [];
  for (const f of files) for (const v of readDriveLogFile(join(dir, f)).vehicles) drives.push({ source: join(dir, f), vehicle: v.vehicle ?? f, samples: v.samples });
  const scorer = { featureNames: model.metadata.featureNames, threshold: model.metadata.threshold, score: (x: Float32Array, n: number) => model.scoreMatrix(x, n) };
  const sameVehicle = await evaluateDrives(drives.map((x) => ({ ...x, vehicle: 'one-car' })), scorer, { sameVehicle: true });
  const separate = await evaluateDrives(drives, scorer);
  print(`real drives ${dir}: ${files.length} files, ${sameVehicle.total.drivingHours.toFixed(1)} driving hours; as one car ${sameVehicle.total.alertsRaised} alerts, ${sameVehicle.total.flagged} of ${sameVehicle.total.windows} windows flagged; as separate cars ${separate.total.alertsRaised} alerts, ${separate.total.flagged} flagged`);
  return { source: `${files.length} files in ${dir}`, command: `fleetpulse train evaluate-drives --model ${model.path} ${dir}/*`, sameVehicle, separate };
}

const trainOptions = {
  ...datasetOptions,
  ...archiveOptions,
  out: opt.string('Directory for model.onnx, model.json and reference.json (--from-archive: the model directory; the new version goes to <out>/v<N>/)', { default: 'models/default' }),
  datasetDir: opt.string('Where the generated dataset is kept (--from-archive: the labelled dataset read from there, simulated when absent)', { default: '.fleetpulse/train/dataset' }),
  families: opt.parsed('Model families to train and choose from (mlp, gbt, gam)', '<list>', parseFamilies, { default: 'gam,mlp' }),
  modelVersion: opt.int('Model version written into the metadata (--from-archive: the current version + 1)', { default: 3, min: 1 }),
  maxTrainRows: opt.int('Most training windows used (class-balanced subsample)', { default: 80_000, min: 100 }),
  report: opt.string('Report file (Markdown); images go to <dir of report>/img', { default: 'docs/model-report.md' }),
  realDrives: opt.string('Directory of recorded healthy drive logs (.csv, .csv.gz) the report runs through the serving path; - = none', { default: '-' }),
};

export const trainCommand = defineCommand({
  path: 'train',
  section: 'train',
  usage: 'train [options]   (subcommands: train dataset | train report | train drift, each with --help)',
  summary: 'Train the engine anomaly model end to end: simulated dataset, MLP and gradient-boosted trees, ONNX export, report.',
  options: trainOptions,
  async run(c, ctx) {
    if (c.fromArchive !== '-') return retrainFromArchive(c, ctx.print);
    const t0 = performance.now();
    const d = makeDataset(c, ctx.print);
    writeDataset(c.datasetDir, d);
    const result = await trainAndExport(d, { seed: c.seed, families: c.families, modelVersion: c.modelVersion, negativesPerPositive: 2, maxTrainRows: c.maxTrainRows, log: ctx.print });
    const modelPath = writeModel(c.out, result);
    writeReference(join(c.out, 'reference.json'), datasetReference(d, splitRows(d, 'train')));
    const model = await OnnxModel.load(modelPath, FEATURE_SET_ID);
    try {
      const runS = (performance.now() - t0) / 1000;
      const images = await reportOn(model, d, c.report, join(dirname(c.report), 'img'), `fleetpulse train${c.realDrives === '-' ? '' : ` --real-drives ${c.realDrives}`}`, c.realDrives, ctx.print, runS);
      const m = result.metadata.metrics.test;
      ctx.print(`model ${modelPath} (${result.metadata.family}, threshold ${result.metadata.threshold}): test ROC-AUC ${m.rocAuc?.toFixed(4)}, F1 ${m.f1.toFixed(3)}, median lead ${result.test.medianLeadDays.all?.toFixed(1)} days`);
      ctx.print(`report ${c.report} (+ ${images.join(', ')}); total ${runS.toFixed(0)} s`);
    } finally {
      await model.close();
    }
  },
});

/**
 * `train --from-archive`: retrains the classifier for the fleet's current driving pattern. The
 * archive has no labels, so its windows join the labelled simulated windows as healthy examples
 * only where the model in service does not flag them (models/archive-retrain.ts); validation,
 * threshold and test metrics stay on the labelled simulated vehicles. The result is the next model
 * version in its own directory `<out>/v<N>/`, which an ingest started with `--model <out>` swaps
 * in without a restart (the highest `modelVersion` wins). The archive's windows become the new
 * version's drift reference: they are what "normal" looks like now.
 */
async function retrainFromArchive(
  c: { fromArchive: string; archiveFrom: string; archiveTo: string; windowS: number; out: string; datasetDir: string; seed: number; families: Family[]; maxTrainRows: number; vehicles: number; days: number; faulty: number; labelSeverity: number },
  print: (l: string) => void,
): Promise<void> {
  const current = existsSync(c.out) ? resolveModelFile(c.out) : undefined;
  if (!current || !existsSync(metadataPathFor(current))) throw new ConfigError('fleetpulse train --from-archive', [{ field: 'out', message: `${c.out} holds no model (model.onnx + metadata) to retrain` }]);
  const archive = await archiveDataset(c, print);
  if (archive.t.length === 0) throw new ConfigError('fleetpulse train --from-archive', [{ field: 'fromArchive', message: `${c.fromArchive} holds no windows in the day range` }]);
  const model = await OnnxModel.load(current, archive.featureSetId);
  let oldScores: Float32Array;
  try {
    oldScores = await model.scoreMatrix(archive.x, archive.t.length);
  } finally {
    await model.close();
  }
  const { threshold, modelVersion } = model.metadata;
  const labelled = labelledDataset(c, print);
  const { dataset, labelling } = withArchiveWindows(labelled, archive, oldScores, threshold);
  print(`archive windows: ${labelling.healthy} below the threshold of model version ${modelVersion} (${threshold}) join training as healthy, ${labelling.unlabelled} flagged stay unlabelled`);
  const version = modelVersion + 1;
  const result = await trainAndExport(dataset, { seed: c.seed, families: c.families, modelVersion: version, negativesPerPositive: 2, maxTrainRows: c.maxTrainRows, log: print });
  // Written next to the model in service, never over it: ingest picks the highest version.
  const dir = join(statSync(c.out).isDirectory() ? c.out : dirname(c.out), `v${version}`);
  const modelPath = writeModel(dir, result);
  writeReference(join(dir, 'reference.json'), datasetReference(archive, Array.from(archive.t, (_, i) => i)));
  const next = await OnnxModel.load(modelPath, FEATURE_SET_ID);
  try {
    const scores = await next.scoreMatrix(archive.x, archive.t.length);
    const share = (xs: Float32Array, thr: number) => ((100 * xs.filter((s) => s >= thr).length) / xs.length).toFixed(2);
    const m = result.metadata.metrics.test;
    print(`model version ${version} ${modelPath} (${result.metadata.family}, threshold ${result.metadata.threshold}): simulated test ROC-AUC ${m.rocAuc?.toFixed(4)}, F1 ${m.f1.toFixed(3)}; flags ${share(scores, result.metadata.threshold)} % of the archive windows (version ${modelVersion}: ${share(oldScores, threshold)} %)`);
    print(`drift reference ${join(dir, 'reference.json')} from ${archive.t.length} archive windows of ${archive.vehicles.length} vehicles`);
  } finally {
    await next.close();
  }
}

/** The labelled simulated windows: `--dataset-dir` when it holds them for this feature set, else simulated now (and kept there). */
function labelledDataset(c: { datasetDir: string; vehicles: number; days: number; faulty: number; seed: number; windowS: number; labelSeverity: number }, print: (l: string) => void): WindowDataset {
  if (existsSync(join(c.datasetDir, 'dataset.json'))) {
    const d = readDataset(c.datasetDir);
    if (d.source.generator === 'simulator' && d.featureSetId === FEATURE_SET_ID && d.windowMs === c.windowS * 1000) {
      print(`labelled windows: ${d.label.length} of ${d.vehicles.length} simulated vehicles from ${c.datasetDir}`);
      return d;
    }
    print(`${c.datasetDir} holds no simulated dataset of feature set ${FEATURE_SET_ID} and ${c.windowS} s windows: simulating one`);
  }
  const d = makeDataset(c, print);
  writeDataset(c.datasetDir, d);
  return d;
}

export const reportCommand = defineCommand({
  path: 'train report',
  section: 'train',
  summary: 'Evaluation report of a model file on the held-out vehicles of a dataset (Markdown + SVG).',
  options: {
    model: opt.string('Model file', { default: 'models/default/model.onnx' }),
    dataset: opt.string('Dataset directory (fleetpulse train dataset)', { default: '.fleetpulse/train/dataset' }),
    report: opt.string('Report file (Markdown); images go to <dir of report>/img', { default: 'docs/model-report.md' }),
    realDrives: opt.string('Directory of recorded healthy drive logs (.csv, .csv.gz) the report runs through the serving path; - = none', { default: '-' }),
  },
  async run(c, ctx) {
    const d = readDataset(c.dataset);
    const model = await OnnxModel.load(c.model, d.featureSetId);
    try {
      const images = await reportOn(model, d, c.report, join(dirname(c.report), 'img'), `fleetpulse train report --model ${c.model} --dataset ${c.dataset}${c.realDrives === '-' ? '' : ` --real-drives ${c.realDrives}`}`, c.realDrives, ctx.print);
      ctx.print(`report ${c.report} (+ ${images.join(', ')})`);
    } finally {
      await model.close();
    }
  },
});

/** Feature windows from a JSON-lines file: `{"features":{…}}` or a flat object of numbers per line. */
function readFeaturesFile(path: string): FeatureVector[] {
  const out: FeatureVector[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const o = JSON.parse(line) as Record<string, unknown>;
    const src = (typeof o.features === 'object' && o.features !== null ? o.features : o) as Record<string, unknown>;
    const v: FeatureVector = {};
    for (const [k, x] of Object.entries(src)) if (typeof x === 'number' && Number.isFinite(x)) v[k] = x;
    out.push(v);
  }
  return out;
}

async function readFeaturesInflux(url: string, database: string, sinceH: number): Promise<FeatureVector[]> {
  const { InfluxDB } = await import('influx');
  const u = new URL(url);
  const influx = new InfluxDB({ host: u.hostname, port: Number(u.port || 8086), protocol: u.protocol === 'https:' ? 'https' : 'http', database });
  const rows = await influx.query<Record<string, unknown>>(`SELECT * FROM features WHERE time > now() - ${Math.round(sinceH * 3600)}s`);
  return rows.map((r) => {
    const v: FeatureVector = {};
    for (const [k, x] of Object.entries(r)) if (typeof x === 'number' && Number.isFinite(x)) v[k] = x;
    return v;
  });
}

export const driftCommand = defineCommand({
  path: 'train drift',
  section: 'train',
  summary: 'Compare recent feature windows (InfluxDB `features`, or a JSON-lines file) with the training set (PSI per feature); say whether to retrain.',
  options: {
    model: opt.string('Model file; its reference.json holds the training distributions', { default: 'models/default/model.onnx' }),
    features: opt.string('JSON-lines file of feature windows instead of InfluxDB', { default: '-' }),
    ...archiveOptions,
    windowS: opt.int('Archive: window length, seconds', { default: 30, min: 1, max: 3600 }),
    sinceHours: opt.number('InfluxDB: windows of the last N hours', { default: 24, min: 0.01, max: 8760 }),
    influxUrl: sharedOptions.influxUrl,
    influxDatabase: sharedOptions.influxDatabase,
    top: opt.int('Features listed', { default: 10, min: 1, max: 1000 }),
  },
  async run(c, ctx) {
    const refPath = join(dirname(c.model), 'reference.json');
    if (!existsSync(metadataPathFor(c.model))) throw new ConfigError('fleetpulse train drift', [{ field: 'model', message: `${c.model} has no metadata beside it` }]);
    const ref = readReference(refPath);
    const recent = c.fromArchive !== '-' ? featureVectors(await archiveDataset(c, ctx.print)) : c.features !== '-' ? readFeaturesFile(c.features) : await readFeaturesInflux(c.influxUrl, c.influxDatabase, c.sinceHours);
    const r = detectDrift(ref, recent);
    ctx.print(`compared ${r.windows} recent windows with ${ref.windows} training windows`);
    for (const f of r.features.slice(0, c.top)) ctx.print(`  ${f.name.padEnd(34)} PSI ${f.psi.toFixed(3)}  ${f.level}`);
    ctx.print(`${r.retrain ? 'RETRAIN' : 'OK'}: ${r.reason}`);
  },
});

export default trainCommand;
