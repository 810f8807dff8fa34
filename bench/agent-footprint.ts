/**
 * The agent's footprint on the machine: resident memory and CPU of the agent process (read from
 * /proc/<pid>/status and /proc/<pid>/stat) while it polls 10 PIDs at 5 Hz through the ELM327
 * emulator on a real pty (`fleetpulse simulate elm327 --pty`, 38400 baud, 30 ms ECU latency) and
 * publishes compact batches to a local broker. Three ways to run the same agent:
 *
 *   cli       node bin/fleetpulse.js agent …          (TypeScript through tsx, as in development)
 *   bundle    node dist/agent/fleetpulse-agent.mjs agent …   (the esbuild bundle, default node flags)
 *   deployed  the bundle with the node flags of ExecStart in deploy/fleetpulse-agent.service, i.e.
 *             exactly as systemd starts it on the Pi
 *
 * Each run: fresh emulator, 10 s warm-up, then `--seconds` (default 60) of measurement; RSS sampled
 * every second (mean and max), CPU = (utime + stime) / wall time over the window, in % of one core.
 * The broker runs in this process and counts the samples that arrive, so the load is known.
 *
 *   npm run bench:agent-footprint -- [--seconds 60] [--only cli|bundle|deployed] [--tls]
 *   BENCH_AGENT_NODE_ARGS="--jitless" npm run bench:agent-footprint -- --only bundle   (try other flags)
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { startBroker } from '../broker/broker-server.ts';
import { agentUnitNodeFlags } from '../deploy/agent-unit.ts';
import { createDevCertificates } from '../broker/dev-certificates.ts';
import { decodeTelemetry } from '../contracts/telemetry.ts';
import { parseVehicleTopic, topics } from '../contracts/topics.ts';
import { cpuSeconds } from './process-cpu.ts';

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '60' }, only: { type: 'string' }, tls: { type: 'boolean', default: false } } });
const SECONDS = Number(args.seconds);
const WARMUP_S = 10;
const ROOT = join(import.meta.dirname, '..');
const BUNDLE = join(ROOT, 'dist', 'agent', 'fleetpulse-agent.mjs');
const PIDS = ['RPM', 'SPEED', 'ENGINE_LOAD', 'THROTTLE_POS', 'MAF', 'INTAKE_PRESSURE', 'COOLANT_TEMP', 'INTAKE_TEMP', 'TIMING_ADVANCE', 'SHORT_FUEL_TRIM_1'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Variant = 'cli' | 'bundle' | 'deployed';

/** VmRSS and its parts: RssAnon (the process's own memory) and RssFile (mapped files, mostly the node binary). */
function rssMiB(pid: number): { total: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) / 1024;
  return { total: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
  await exited;
  clearTimeout(timer);
}

interface Result {
  variant: Variant;
  rssMeanMiB: number;
  rssMaxMiB: number;
  anonMeanMiB: number;
  fileMeanMiB: number;
  cpuPercent: number;
  samplesPerS: number;
  valuesPerS: number;
}

async function measure(variant: Variant, mqttUrl: string, tlsCa: string | undefined, counts: Map<string, { samples: number; values: number }>): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'fp-footprint-'));
  const pty = join(dir, 'ttyELM');
  const emulator = spawn(process.execPath, [join(ROOT, 'bin', 'fleetpulse.js'), 'simulate', 'elm327', '--pty', pty], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let agent: ChildProcess | undefined;
  try {
    for (let i = 0; i < 200 && !existsSync(pty); i++) await sleep(100);
    if (!existsSync(pty)) throw new Error('the ELM327 emulator did not come up');
    const vehicle = `footprint-${variant}`;
    const agentArgs = ['agent', '--vehicle-id', vehicle, '--mqtt-url', mqttUrl, '--source', 'serial', '--serial', pty, '--fast-pids', PIDS.join(','), '--slow-pids', '', '--fast-hz', '5', '--batch-interval-ms', '5000', '--data-dir', dir, ...(tlsCa ? ['--tls-ca', tlsCa] : [])];
    const command = variant === 'cli' ? [join(ROOT, 'bin', 'fleetpulse.js'), ...agentArgs] : [BUNDLE, ...agentArgs];
    // BENCH_AGENT_NODE_ARGS: extra node flags for the agent process only, to try other settings.
    const nodeArgs = [...(variant === 'deployed' ? agentUnitNodeFlags() : []), ...(process.env.BENCH_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean)];
    agent = spawn(process.execPath, [...nodeArgs, ...command], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, FLEETPULSE_LOG_LEVEL: 'warn' } });
    let stderr = '';
    agent.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    const pid = agent.pid!;
    await sleep(WARMUP_S * 1000);
    if (agent.exitCode !== null) throw new Error(`agent (${variant}) exited: ${stderr}`);

    const before = { cpu: cpuSeconds(pid), at: process.hrtime.bigint(), ...(counts.get(vehicle) ?? { samples: 0, values: 0 }) };
    const rss: Array<ReturnType<typeof rssMiB>> = [];
    for (let s = 0; s < SECONDS; s++) {
      await sleep(1000);
      rss.push(rssMiB(pid));
    }
    const cpu = cpuSeconds(pid) - before.cpu;
    const wallS = Number(process.hrtime.bigint() - before.at) / 1e9;
    const after = counts.get(vehicle) ?? { samples: 0, values: 0 };
    const mean = (f: (r: ReturnType<typeof rssMiB>) => number) => rss.reduce((a, r) => a + f(r), 0) / rss.length;
    return {
      variant,
      rssMeanMiB: mean((r) => r.total),
      rssMaxMiB: Math.max(...rss.map((r) => r.total)),
      anonMeanMiB: mean((r) => r.anon),
      fileMeanMiB: mean((r) => r.file),
      cpuPercent: (100 * cpu) / wallS,
      samplesPerS: (after.samples - before.samples) / wallS,
      valuesPerS: (after.values - before.values) / wallS,
    };
  } finally {
    if (agent) await stopChild(agent);
    await stopChild(emulator);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An idle `node` for comparison: what the runtime alone costs. */
async function idleNode(): Promise<ReturnType<typeof rssMiB>> {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  await sleep(2000);
  const rss = rssMiB(child.pid!);
  await stopChild(child);
  return rss;
}

const variants = (['cli', 'bundle', 'deployed'] as const).filter((v) => !args.only || args.only === v);
if (variants.includes('bundle') || variants.includes('deployed')) {
  const built = spawnSync('npm', ['run', '--silent', 'build:agent'], { cwd: ROOT, stdio: 'inherit' });
  if (built.status !== 0) throw new Error('npm run build:agent failed');
}

// --tls: the agent publishes over mqtts:// (as a car should over cellular), which loads node's TLS stack.
const certDir = args.tls ? mkdtempSync(join(tmpdir(), 'fp-footprint-certs-')) : undefined;
const certs = certDir ? createDevCertificates({ dir: certDir, hosts: ['127.0.0.1'] }) : undefined;
const broker = await startBroker({ host: '127.0.0.1', port: 0, sysIntervalMs: 0, ...(certs ? { tls: { port: 0, certFile: certs.serverCert, keyFile: certs.serverKey } } : {}) });
const counts = new Map<string, { samples: number; values: number }>();
const watcher = await mqtt.connectAsync(broker.url, { clientId: 'footprint-watch' });
watcher.on('message', (topic, payload) => {
  const parsed = parseVehicleTopic(topic);
  if (!parsed) return;
  const result = decodeTelemetry(payload, parsed.vehicleId);
  if (!result.ok) return;
  const c = counts.get(parsed.vehicleId) ?? { samples: 0, values: 0 };
  c.samples += result.batch.samples.length;
  for (const s of result.batch.samples) c.values += Object.keys(s).length - 1;
  counts.set(parsed.vehicleId, c);
});
await watcher.subscribeAsync(topics.fleetFilter('telemetry'), { qos: 1 });

const results: Result[] = [];
const idle = await idleNode();
try {
  for (const variant of variants) results.push(await measure(variant, certs ? broker.tlsUrl! : broker.url, certs?.caCert, counts));
} finally {
  await watcher.endAsync();
  await broker.close();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
}

console.log(`\nagent polling ${PIDS.length} PIDs at 5 Hz through the ELM327 emulator (pty, 38400 baud, 30 ms ECU latency), publishing over ${certs ? 'mqtts:// (TLS)' : 'mqtt://'}; ${SECONDS} s after ${WARMUP_S} s warm-up; ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}; node ${process.version}\n`);
console.log('| process | RSS mean | RSS max | of which anonymous (own) | of which file-backed (node binary, libraries) | CPU (% of one core) | samples/s published | PID values/s published |');
console.log('|---|---|---|---|---|---|---|---|');
const label: Record<Variant, string> = {
  cli: 'tsx CLI (`node bin/fleetpulse.js agent`)',
  bundle: 'esbuild bundle (`node dist/agent/fleetpulse-agent.mjs agent`)',
  deployed: `bundle as the systemd unit runs it (\`node ${agentUnitNodeFlags().join(' ')} …\`)`,
};
for (const r of results) {
  console.log(
    `| ${label[r.variant]} | ${r.rssMeanMiB.toFixed(1)} MiB | ${r.rssMaxMiB.toFixed(1)} MiB | ${r.anonMeanMiB.toFixed(1)} MiB | ${r.fileMeanMiB.toFixed(1)} MiB | ${r.cpuPercent.toFixed(2)} % | ${r.samplesPerS.toFixed(1)} | ${r.valuesPerS.toFixed(1)} |`,
  );
}
console.log(`| idle \`node -e 'setTimeout(…)'\` (reference) | ${idle.total.toFixed(1)} MiB | | ${idle.anon.toFixed(1)} MiB | ${idle.file.toFixed(1)} MiB | | | |`);
process.exit(0);
