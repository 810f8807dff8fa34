import { resolve } from 'node:path';
import { opt } from '../../common/config.ts';
import { writeRealismReport } from '../../simulator/realism-report.ts';
import { defineCommand } from '../command.ts';

export default defineCommand({
  path: 'simulate realism-report',
  section: 'simulate',
  summary: 'Compare the simulator with a real recorded drive: writes a Markdown report with SVG charts.',
  options: {
    recording: opt.string('carOBD CSV of a real drive', { default: '../shared/data/carobd-etios-drive1.csv' }),
    report: opt.string('Markdown file to write; charts go into img/ beside it', { default: 'docs/realism-report.md' }),
    seed: opt.int('Seed of the simulated trips', { default: 42 }),
    trips: opt.int('Simulated town trips to compare', { default: 12, min: 1, max: 1000 }),
  },
  async run(config, ctx) {
    const out = writeRealismReport({ recordingPath: resolve(config.recording), reportPath: resolve(config.report), seed: config.seed, trips: config.trips });
    ctx.print(`wrote ${out.reportPath} and ${out.images.length} charts`);
  },
});
