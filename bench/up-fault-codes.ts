/**
 * Time from `fleetpulse up --vehicles N --faulty-fraction 1 --fault KIND` to a trouble code for every
 * vehicle in InfluxDB `dtc` (issue 18: misfire, 5 vehicles, within 5 minutes), wall clock, the
 * command's start-up included.
 *
 *   npm run bench:up-fault -- [vehicles=5] [fault=misfire] [runs=3]
 */
import { cpus } from 'node:os';
import type { FaultKind } from '../simulator/faults.ts';
import { runUpUntilFaultCodes } from '../test/support/up-fault-codes.ts';

const vehicles = Number(process.argv[2] ?? 5);
const fault = (process.argv[3] ?? 'misfire') as FaultKind;
const runs = Number(process.argv[4] ?? 3);
const results: Array<{ upS: number; codesS: number | undefined }> = [];
for (let i = 0; i < runs; i++) {
  const run = await runUpUntilFaultCodes({ vehicles, fault, deadlineMs: 5 * 60_000 });
  results.push({ upS: run.upMs / 1000, codesS: run.codesMs === undefined ? undefined : run.codesMs / 1000 });
  console.log(`run ${i + 1}: up in ${(run.upMs / 1000).toFixed(1)} s, codes for ${run.codes.size}/${vehicles} vehicles ${run.codesMs === undefined ? 'NOT within 5 min' : `after ${(run.codesMs / 1000).toFixed(1)} s`}`);
}
const done = results.map((r) => r.codesS).filter((s): s is number => s !== undefined).sort((a, b) => a - b);
console.log(`fleetpulse up --vehicles ${vehicles} --faulty-fraction 1 --fault ${fault}: a code for every vehicle in ${done.length}/${runs} runs; median ${done.length ? done[Math.floor(done.length / 2)]!.toFixed(1) : '–'} s, max ${done.length ? done.at(-1)!.toFixed(1) : '–'} s from the command's start`);
console.log(`machine ${cpus()[0]?.model ?? '?'} × ${cpus().length}, Node ${process.version}`);
