/**
 * `fleetpulse train evaluate-drives [--json] FILE...`: recorded drive logs through exactly the
 * serving path, offline and fast — the replay source's reading of each log (agent/replay-drive-log.ts),
 * ingest's windows, the window features, the vehicle baseline, the model (onnxruntime) and ingest's
 * alert hysteresis (models/drive-evaluation.ts). It answers the question an operator asks of a
 * model before trusting it: how often would it have bothered me about these cars?
 */
import { basename } from 'node:path';
import { readDriveLogFile } from '../../agent/replay-drive-log.ts';
import { opt } from '../../common/config.ts';
import { ConfigError } from '../../common/errors.ts';
import { evaluateDrives, type RecordedDrive } from '../../models/drive-evaluation.ts';
import { FEATURE_SET_ID } from '../../models/features.ts';
import { OnnxModel } from '../../models/onnx-model.ts';
import { DEFAULT_LEARN_HOURS } from '../../models/vehicle-baseline.ts';
import { defineCommand } from '../command.ts';

export const evaluateDrivesCommand = defineCommand({
  path: 'train evaluate-drives',
  section: 'train',
  summary: 'Score recorded drive logs through the serving path (windows, features, baseline, model, alert hysteresis): windows flagged and alerts raised per file.',
  usage: 'fleetpulse train evaluate-drives [--json] [--same-vehicle] FILE...',
  operands: { name: 'drive log FILE (.csv or .csv.gz)', min: 1 },
  options: {
    model: opt.string('Model file', { default: 'models/default/model.onnx' }),
    json: opt.boolean('Print one JSON document (files and totals) instead of text', { default: false }),
    sameVehicle: opt.boolean('The files are consecutive drives of one car, in the order given: they share its baseline and alert state', { default: false }),
    replayFormat: opt.oneOf(['auto', 'carobd', 'torque', 'carscanner', 'custom'], 'Format of the drive logs (auto: told from each header)', { default: 'auto' }),
    replayMapping: opt.string('JSON column mapping for --replay-format custom (see docs/obd.md)', { required: false }),
    vehicleColumn: opt.string('Column naming the vehicle of each row, to split a log holding several vehicles', { required: false }),
    learnHours: opt.number('Hours of warm driving a vehicle learns its baseline from (ingest --baseline-learn-hours)', { default: DEFAULT_LEARN_HOURS, min: 0, max: 1000 }),
  },
  async run(c, ctx) {
    const drives: RecordedDrive[] = [];
    for (const file of ctx.operands) {
      const log = readDriveLogFile(file, { format: c.replayFormat, mappingPath: c.replayMapping, vehicleColumn: c.vehicleColumn });
      if (log.vehicles.length === 0) throw new ConfigError('fleetpulse train evaluate-drives', [{ field: 'FILE', message: `${file}: no usable rows (${log.skipSummary || 'empty'})` }]);
      for (const v of log.vehicles) {
        const vehicle = v.vehicle ?? (c.sameVehicle ? 'vehicle' : basename(file).replace(/\.csv(\.gz)?$/i, ''));
        drives.push({ source: file, vehicle, samples: v.samples });
      }
    }
    const model = await OnnxModel.load(c.model, FEATURE_SET_ID);
    try {
      const started = performance.now();
      const result = await evaluateDrives(
        drives,
        { featureNames: model.metadata.featureNames, threshold: model.metadata.threshold, score: (rows, count) => model.scoreMatrix(rows, count) },
        {
          sameVehicle: c.sameVehicle,
          baseline: { learnHours: c.learnHours },
          onDrive: (done, total, r) => ctx.progress(`[${done}/${total}] ${basename(r.file)}: ${r.windows} windows, ${r.flagged} flagged, ${r.alertsRaised} alerts`),
        },
      );
      if (c.json) {
        const files = result.files.map(({ scores: _, ...f }) => ({ ...f, drivingHours: round(f.drivingHours, 3) }));
        const total = { ...result.total, drivingHours: round(result.total.drivingHours, 3), alertsPer100h: round(result.total.alertsPer100h, 3) };
        ctx.print(JSON.stringify({ files, total }));
        return;
      }
      const t = result.total;
      ctx.print(`model ${c.model} (v${model.metadata.modelVersion}, ${model.metadata.family}, threshold ${model.metadata.threshold}); ${c.sameVehicle ? 'one vehicle' : 'each file a vehicle of its own'}`);
      for (const f of result.files) {
        ctx.print(`  ${basename(f.file).padEnd(28)} ${f.vehicle.padEnd(14)} ${String(f.windows).padStart(5)} windows (${f.learnedWindows} learned)  ${String(f.flagged).padStart(4)} flagged  ${f.alertsRaised} alerts  ${f.drivingHours.toFixed(2)} h`);
      }
      ctx.print(
        `total: ${t.windows} windows (${t.learnedWindows} with a learned baseline), ${t.flagged} flagged (${((100 * t.flagged) / Math.max(1, t.windows)).toFixed(2)} %), ${t.alertsRaised} alerts in ${t.drivingHours.toFixed(1)} driving hours (${t.alertsPer100h.toFixed(2)} per 100 h); ${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
    } finally {
      await model.close();
    }
  },
});

function round(x: number, digits: number): number {
  const k = 10 ** digits;
  return Math.round(x * k) / k;
}

export default evaluateDrivesCommand;
