/**
 * Bytes per sample of the Parquet archive for simulated telemetry (docs/benchmarks.md, "Archive"):
 *
 *   node --import tsx ingest/archive/measure-archive-size.ts [vehicles] [days]
 *
 * Writes one simulated fleet through ArchiveSink with its default bounds into a temporary
 * directory, reads it back with the trainer's reader (to check the count), prints the numbers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Sample } from '../../contracts/telemetry.ts';
import { readArchive } from '../../models/archive-reader.ts';
import { generateVehicleSamples } from '../../simulator/fleet-generator.ts';
import { planFleet } from '../../simulator/fleet-plan.ts';
import { SimulatedVehicle } from '../../simulator/simulated-vehicle.ts';
import { ArchiveSink } from './archive-sink.ts';

const vehicles = Number(process.argv[2] ?? 20);
const days = Number(process.argv[3] ?? 2);
const start = Date.UTC(2025, 0, 6);
const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-archive-size-'));
try {
  const sink = new ArchiveSink({ dir, worker: 'measure' });
  const specs = planFleet({ vehicles, idPrefix: 'size-', seed: 7, faultyFraction: 0, startMs: start, schedule: 'daily' });
  // Batches of 3 per vehicle, interleaved by time as ingest receives them.
  const streams = specs.map((s) => generateVehicleSamples(s, 7, start, start + days * 86_400_000)[Symbol.iterator]());
  let samples = 0;
  const t0 = performance.now();
  for (let live = streams.length; live > 0; ) {
    live = 0;
    streams.forEach((it, i) => {
      const batch: Sample[] = [];
      for (let k = 0; k < 3; k++) {
        const n = it.next();
        if (n.done) break;
        batch.push(SimulatedVehicle.toWire(n.value));
      }
      if (batch.length) {
        live += 1;
        samples += batch.length;
        sink.add(specs[i]!.vehicleId, batch, 1);
      }
    });
  }
  sink.close();
  const writeS = (performance.now() - t0) / 1000;
  const s = sink.stats();
  const t1 = performance.now();
  let read = 0;
  for await (const c of readArchive({ dir })) read += c.samples.length;
  const readS = (performance.now() - t1) / 1000;
  console.log(JSON.stringify({ vehicles, days, samples, read, files: s.filesWritten, bytes: s.bytesWritten, bytesPerSample: +(s.bytesWritten / samples).toFixed(2), writeUsPerSample: +((s.writeMs * 1000) / samples).toFixed(2), meanFileMs: Math.round(s.writeMs / s.filesWritten), simulateAndWriteS: +writeS.toFixed(1), readSamplesPerS: Math.round(read / readS) }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
