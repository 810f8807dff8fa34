/**
 * Privacy API cost benchmark: what one expensive blur costs the API process, and what a flood of
 * them does to the requests after it and to a SIGTERM.
 *
 *   node --import tsx bench/api-blur.ts [--scenario expensive|flood|both] [--client-timeout-s 60]
 *
 * `fleetpulse api --nginx off` runs as a child process (the real CLI, so the bench measures any
 * version of the code). The photo is 7720×5140 (39.7 MP, a smooth JPEG under the 10 MiB limit).
 *   expensive  one request hiding a 2000×2000 region (gaussian blur, sigma 500)
 *   flood      eight concurrent requests hiding a 3000×3000 region each, every client giving up
 *              after --client-timeout-s (nginx's proxy_read_timeout is 60 s); then one small
 *              request; then the API's CPU over the next 10 s (work nobody waits for); then
 *              SIGTERM and how long the process takes to exit (SIGKILL after 30 s)
 * Reported per request: status, error code, wall seconds; per phase: CPU seconds of the API
 * process (user + system, /proc) and its peak RSS (VmHWM).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { generateApiKey, writeCustomerTable } from '../api/customer-table.ts';
import { startCli } from '../test/support/cli.ts';
import { waitFor } from '../test/support/influx.ts';
import { cpuSeconds } from './process-cpu.ts';

const { values } = parseArgs({ options: { scenario: { type: 'string', default: 'both' }, 'client-timeout-s': { type: 'string', default: '60' } } });
const CLIENT_TIMEOUT_MS = Number(values['client-timeout-s']) * 1000;

function peakRssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
  return Math.round(Number(line?.split(/\s+/)[1] ?? 0) / 1024);
}

/** A 39.7 MP photo-like JPEG that stays under 10 MiB: smooth gradients with mild texture. */
async function bigPhoto(width: number, height: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      raw[i] = (x * 255) / width;
      raw[i + 1] = (y * 255) / height;
      raw[i + 2] = ((x >> 5) + (y >> 5)) % 2 ? 180 : 60;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 80 }).toBuffer();
}

interface Outcome {
  status: number | string;
  code?: string;
  seconds: number;
}

async function blur(url: string, key: string, image: Buffer, regions: string, timeoutMs: number): Promise<Outcome> {
  const started = Date.now();
  try {
    const res = await fetch(`${url}/v1/blur?regions=${regions}`, { method: 'POST', headers: { 'content-type': 'image/jpeg', 'x-api-key': key }, body: image, signal: AbortSignal.timeout(timeoutMs) });
    const body = Buffer.from(await res.arrayBuffer());
    const code = res.headers.get('content-type')?.includes('json') ? (JSON.parse(body.toString()) as { error?: { code?: string } }).error?.code : undefined;
    return { status: res.status, ...(code ? { code } : {}), seconds: +((Date.now() - started) / 1000).toFixed(1) };
  } catch (error) {
    return { status: (error as Error).name === 'TimeoutError' ? 'client-timeout' : (error as Error).message, seconds: +((Date.now() - started) / 1000).toFixed(1) };
  }
}

const dir = mkdtempSync(join(tmpdir(), 'fp-bench-api-'));
const key = generateApiKey();
writeCustomerTable(join(dir, 'api', 'customers.json'), { keys: [{ key, customer: 'bench', plan: 'pro' }] });
const photo = await bigPhoto(7720, 5140);
const small = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#808080' } }).jpeg().toBuffer();
console.error(`photo 7720×5140, ${(photo.length / 1024 / 1024).toFixed(1)} MiB`);

async function startApi(): Promise<{ cli: ReturnType<typeof startCli>; url: string }> {
  const cli = startCli(['api', '--nginx', 'off', '--port', '0', '--data-dir', dir]);
  if (!(await waitFor(() => /privacy API http:\/\/\S+/.test(cli.output()), 20_000))) throw new Error(`api did not start: ${cli.output()}`);
  return { cli, url: /privacy API (http:\/\/[\d.:]+)/.exec(cli.output())![1]! };
}

async function stopApi(cli: ReturnType<typeof startCli>): Promise<{ exitSeconds: number | 'killed' }> {
  const started = Date.now();
  cli.child.kill('SIGTERM');
  const exited = await Promise.race([cli.exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 30_000))]);
  if (!exited) {
    cli.child.kill('SIGKILL');
    await cli.exited;
    return { exitSeconds: 'killed' };
  }
  return { exitSeconds: +((Date.now() - started) / 1000).toFixed(1) };
}

try {
  if (values.scenario === 'expensive' || values.scenario === 'both') {
    const { cli, url } = await startApi();
    const pid = cli.child.pid!;
    const cpu0 = cpuSeconds(pid);
    const request = await blur(url, key, photo, '1000,1000,2000,2000', 30 * 60_000);
    const result = { scenario: 'expensive', request, cpuSeconds: +(cpuSeconds(pid) - cpu0).toFixed(1), peakRssMb: peakRssMb(pid), ...(await stopApi(cli)) };
    console.log(JSON.stringify(result));
  }
  if (values.scenario === 'flood' || values.scenario === 'both') {
    const { cli, url } = await startApi();
    const pid = cli.child.pid!;
    const cpu0 = cpuSeconds(pid);
    const flood = await Promise.all(Array.from({ length: 8 }, (_, i) => blur(url, key, photo, `${100 + i * 100},100,3000,3000`, CLIENT_TIMEOUT_MS)));
    const next = await blur(url, key, small, '10,10,100,100', CLIENT_TIMEOUT_MS);
    const cpuFlood = cpuSeconds(pid) - cpu0;
    await new Promise((r) => setTimeout(r, 10_000));
    const cpuAfter = cpuSeconds(pid) - cpu0 - cpuFlood;
    const rss = peakRssMb(pid);
    const result = { scenario: 'flood', flood, next, cpuSecondsDuringFlood: +cpuFlood.toFixed(1), cpuSecondsInTheNext10s: +cpuAfter.toFixed(1), peakRssMb: rss, ...(await stopApi(cli)) };
    console.log(JSON.stringify(result));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
