/**
 * PID values per second through an emulated ELM327 (output paced to the baud rate, ECU answer
 * latency as configured): one PID per request, round robin (what common OBD libraries do), versus
 * our scheduler with multi-PID requests. Same session code, same emulator, same PIDs; only the
 * request form differs. Each mode gets a fresh emulator and session; the first second is warm-up.
 *
 *   npm run bench:obd -- [--seconds 10] [--latency-ms 30] [--baud 38400] [--pty]
 *
 * `--pty` runs over a real socat pseudo-terminal instead of serialport's mock binding.
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { silentLogger } from '../common/logger.ts';
import { Elm327Session, mockPortFactory } from '../agent/obd/elm327-session.ts';
import { ObdPoller } from '../agent/obd/obd-poller.ts';
import { DEFAULT_FAST_PIDS, DEFAULT_SLOW_PIDS } from '../agent/obd/obd-source.ts';
import { startEmulatorOnMockPort, startEmulatorOnPty } from '../simulator/elm327/test-support.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    'latency-ms': { type: 'string', default: '30' },
    baud: { type: 'string', default: '38400' },
    pty: { type: 'boolean', default: false },
  },
});
const seconds = Number(args.seconds);
const latencyMs = Number(args['latency-ms']);
const baud = Number(args.baud);
const PIDS = [...DEFAULT_FAST_PIDS, ...DEFAULT_SLOW_PIDS];

interface Result {
  mode: string;
  values: number;
  requests: number;
  seconds: number;
}

async function run(mode: 'single' | 'multi', index: number): Promise<Result> {
  const emulatorOptions = { seed: 3, ecuLatencyMs: latencyMs, baudRate: baud, speed: 1, resetMs: 250, searchMs: 120 };
  const emu = args.pty ? await startEmulatorOnPty(emulatorOptions) : await startEmulatorOnMockPort(`/dev/bench-elm-${index}`, emulatorOptions);
  const session = new Elm327Session({ path: emu.path, baudRate: baud, ...(args.pty ? {} : { openPort: mockPortFactory }), logger: silentLogger });
  let values = 0;
  let counting = false;
  // Every PID asked as often as the line allows: the rate is what the request form achieves.
  const poller = new ObdPoller({
    session,
    fastPids: PIDS,
    slowPids: [],
    fastHz: 100,
    slowHz: 1,
    multiPid: mode === 'multi',
    ...(mode === 'single' ? { maxPidsPerRequest: 1 } : {}),
    onReading: (r) => {
      if (counting) values += r.readings.length;
    },
    logger: silentLogger,
  });
  session.start();
  poller.start();
  if (!(await session.waitForState('ready', 20_000))) throw new Error(`${mode}: the emulated adapter did not become ready`);
  // Warm-up: discovery and the first requests.
  await new Promise((r) => setTimeout(r, 1000));
  const requestsBefore = poller.counters.requests;
  counting = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  counting = false;
  const elapsed = (performance.now() - t0) / 1000;
  const requests = poller.counters.requests - requestsBefore;
  await poller.stop();
  await session.close();
  await emu.close();
  return { mode, values, requests, seconds: elapsed };
}

const single = await run('single', 1);
const multi = await run('multi', 2);
const rate = (r: Result): number => r.values / r.seconds;
const lines = [
  `OBD polling through an emulated ELM327 (${args.pty ? 'socat pty' : 'serialport mock binding'}), ${baud} baud, ECU latency ${latencyMs} ms, ${PIDS.length} PIDs requested (${PIDS.join(' ')})`,
  `  one PID per request   ${rate(single).toFixed(1)} values/s  (${(single.requests / single.seconds).toFixed(1)} requests/s, ${(single.values / Math.max(1, single.requests)).toFixed(2)} values/request)`,
  `  scheduler, multi-PID  ${rate(multi).toFixed(1)} values/s  (${(multi.requests / multi.seconds).toFixed(1)} requests/s, ${(multi.values / Math.max(1, multi.requests)).toFixed(2)} values/request)`,
  `  speed-up              ${(rate(multi) / rate(single)).toFixed(2)}×`,
  `  measured              ${seconds} s per mode after 1 s warm-up`,
  `  machine               ${cpus()[0]?.model ?? '?'} × ${cpus().length}, Node ${process.version}`,
];
console.log(lines.join('\n'));
