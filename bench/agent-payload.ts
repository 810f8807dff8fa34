/**
 * Bytes per sample on the wire for the agent's payload encodings: the MQTT PUBLISH packet (QoS 1:
 * fixed header byte, remaining length, topic, packet id, payload, MQTT 3.1.1 §3.3) divided by the
 * samples it carries. Baseline: one plain JSON object per sample
 * (`{"t":…,"RPM":…,…}`, one PUBLISH each). Realistic batches: simulated cars (17 signals, J1979
 * quantised) at 1 Hz and 5 Hz, a batch every 2, 5 and 10 s. Each PUBLISH is answered by a 4-byte
 * PUBACK, not counted here (the same per message for every encoding).
 *
 *   npm run bench:payload -- [--vehicles 10] [--minutes 10]
 */
import { parseArgs } from 'node:util';
import { decodeTelemetry, encodeTelemetry, type Sample, type TelemetryBatch } from '../contracts/telemetry.ts';
import { encodeCompactTelemetry } from '../contracts/telemetry-compact.ts';
import { topics } from '../contracts/topics.ts';
import { defaultVehicleSpec } from '../simulator/fleet-plan.ts';
import { createRng } from '../simulator/rng.ts';
import { SimulatedVehicle } from '../simulator/simulated-vehicle.ts';

const { values: args } = parseArgs({ options: { vehicles: { type: 'string', default: '10' }, minutes: { type: 'string', default: '10' } } });
const VEHICLES = Number(args.vehicles);
const MINUTES = Number(args.minutes);
const T0 = Date.UTC(2026, 10, 23, 8, 0, 0);

/** Size of a QoS 1 PUBLISH: 1 fixed-header byte, the remaining length (1-4 bytes), 2 + topic, 2 (packet id), payload. */
function publishBytes(vehicle: string, payload: Buffer): number {
  const remaining = 2 + Buffer.byteLength(topics.telemetry(vehicle)) + 2 + payload.length;
  const lengthBytes = remaining < 128 ? 1 : remaining < 16_384 ? 2 : remaining < 2_097_152 ? 3 : 4;
  return 1 + lengthBytes + remaining;
}

function drive(vehicle: string, seed: number, rateHz: number): Sample[] {
  const car = new SimulatedVehicle(defaultVehicleSpec(vehicle, seed), createRng(seed).fork(vehicle), T0, rateHz);
  const out: Sample[] = [];
  const want = MINUTES * 60 * rateHz;
  for (let until = T0; out.length < want; until += 60_000) {
    for (let s = car.nextSample(until); s && out.length < want; s = car.nextSample(until)) out.push(SimulatedVehicle.toWire(s));
  }
  return out;
}

interface Row {
  rateHz: number;
  intervalS: number;
  samplesPerBatch: number;
  plainPerSample: number;
  jsonBatch: number;
  compactRaw: number;
  compact: number;
  encodeUs: number;
  decodeUs: number;
}

const rows: Row[] = [];
for (const rateHz of [1, 5]) {
  const fleet = Array.from({ length: VEHICLES }, (_, i) => {
    const id = `car-${String(i + 1).padStart(4, '0')}`;
    return { id, samples: drive(id, i + 1, rateHz) };
  });
  for (const intervalS of [2, 5, 10]) {
    const perBatch = rateHz * intervalS;
    let samples = 0;
    let plain = 0;
    let jsonBatch = 0;
    let compactRaw = 0;
    let compact = 0;
    let encodeNs = 0n;
    let decodeNs = 0n;
    let batches = 0;
    for (const { id, samples: all } of fleet) {
      for (const s of all) plain += publishBytes(id, Buffer.from(JSON.stringify(s)));
      for (let from = 0, seq = 0; from < all.length; from += perBatch, seq++) {
        const batch: TelemetryBatch = { v: 1, vehicle: id, seq, samples: all.slice(from, from + perBatch) };
        samples += batch.samples.length;
        jsonBatch += publishBytes(id, encodeTelemetry(batch));
        compactRaw += publishBytes(id, encodeCompactTelemetry(batch, { compression: 'none' }));
        const started = process.hrtime.bigint();
        const bytes = encodeCompactTelemetry(batch);
        encodeNs += process.hrtime.bigint() - started;
        compact += publishBytes(id, bytes);
        const decodeStarted = process.hrtime.bigint();
        const decoded = decodeTelemetry(bytes, id);
        decodeNs += process.hrtime.bigint() - decodeStarted;
        if (!decoded.ok) throw new Error(`round trip failed: ${decoded.detail}`);
        batches += 1;
      }
    }
    rows.push({
      rateHz,
      intervalS,
      samplesPerBatch: perBatch,
      plainPerSample: plain / samples,
      jsonBatch: jsonBatch / samples,
      compactRaw: compactRaw / samples,
      compact: compact / samples,
      encodeUs: Number(encodeNs) / 1000 / batches,
      decodeUs: Number(decodeNs) / 1000 / batches,
    });
  }
}

const f = (x: number) => x.toFixed(1);
console.log(`${VEHICLES} simulated vehicles × ${MINUTES} min each; bytes per sample = MQTT PUBLISH (QoS 1) bytes / samples carried\n`);
console.log('| rate | batch every | samples/batch | plain JSON object per sample | JSON batch | compact, no deflate | compact (default: deflate when smaller) | compact / plain | encode µs/batch | decode+validate µs/batch |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.rateHz} Hz | ${r.intervalS} s | ${r.samplesPerBatch} | ${f(r.plainPerSample)} | ${f(r.jsonBatch)} | ${f(r.compactRaw)} | **${f(r.compact)}** | ${(r.compact / r.plainPerSample).toFixed(3)} (1/${(r.plainPerSample / r.compact).toFixed(1)}) | ${r.encodeUs.toFixed(0)} | ${r.decodeUs.toFixed(0)} |`,
  );
}
const worst = Math.max(...rows.map((r) => r.compact / r.plainPerSample));
console.log(`\nworst case compact / plain JSON per sample: ${worst.toFixed(3)} (goal ≤ 0.25: ${worst <= 0.25 ? 'met' : 'NOT met'})`);
