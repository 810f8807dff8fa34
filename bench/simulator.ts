/**
 * Generation rate of the simulator's batch API (no timers): a fleet with the `daily` schedule
 * (parked most of the day), 1 sample/s while the ignition is on, one thread.
 *
 *   npm run bench:simulator -- [vehicles=200] [days=30] [faulty%=20]
 */
import { cpus } from 'node:os';
import { generateFleet } from '../simulator/fleet-generator.ts';
import { planFleet } from '../simulator/fleet-plan.ts';

const vehicles = Number(process.argv[2] ?? 200);
const days = Number(process.argv[3] ?? 30);
const faulty = Number(process.argv[4] ?? 20) / 100;
const startMs = Date.UTC(2025, 0, 6);
const specs = planFleet({ vehicles, idPrefix: 'bench-', seed: 1, faultyFraction: faulty, startMs, schedule: 'daily' });

let checksum = 0;
const t0 = performance.now();
const stats = generateFleet(specs, 1, startMs, startMs + days * 86_400_000, 1, (_spec, s) => {
  checksum += s.values.RPM; // keep the work observable
});
const seconds = (performance.now() - t0) / 1000;
const perSecond = stats.samples / seconds;
const lines = [
  `simulator batch generation: ${vehicles} vehicles × ${days} days, ${faulty * 100}% faulty, 1 Hz while driving, 1 thread`,
  `  samples           ${stats.samples.toLocaleString('en')} (${(stats.simulatedDrivingS / 3600).toFixed(0)} h of ignition-on time)`,
  `  wall time         ${seconds.toFixed(1)} s`,
  `  rate              ${Math.round(perSecond).toLocaleString('en')} samples/s  (${Math.round(stats.simulatedDrivingS / seconds)}× real time)`,
  `  per vehicle-day   ${((seconds * 1000) / (vehicles * days)).toFixed(1)} ms`,
  `  machine           ${cpus()[0]?.model ?? '?'} × ${cpus().length}, Node ${process.version}`,
  `  checksum          ${checksum.toFixed(0)}`,
];
console.log(lines.join('\n'));
