/**
 * Privacy API cost benchmark: what one expensive blur costs the API process, and what a flood of
 * them does to the requests after it and to a SIGTERM.
 *
 *   node --import tsx bench/api-blur.ts [--scenario expensive|flood|both|calibrate] [--client-timeout-s 60]
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
 *   calibrate  (in this process) CPU ms per megapixel of each step blur.ts runs, on a 16 MP
 *              photo-like image, and the same in passes of 2.5 ms/MP (blur-plan.ts's unit):
 *              where its WORK_PASSES come from (median of 5 runs per step)
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

/** CPU ms per megapixel of each kind of step, measured one after another in this process. */
async function calibrate(): Promise<void> {
  const width = 4000;
  const height = 4000;
  const mp = (width * height) / 1e6;
  let seed = 1;
  const noise = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i += 3) {
    const x = (i / 3) % width;
    const y = Math.floor(i / 3 / width);
    const n = noise() * 40;
    pixels[i] = (x * 200) / width + n;
    pixels[i + 1] = (y * 200) / height + n;
    pixels[i + 2] = ((x >> 5) + (y >> 5)) % 2 ? 180 : 60;
  }
  const raw = { raw: { width, height, channels: 3 as const } };
  const jpeg = await sharp(pixels, raw).jpeg({ quality: 88 }).toBuffer();
  const png = await sharp(pixels, raw).png().toBuffer();
  const region = { left: 0, top: 0, width: 2000, height: 2000 };
  const regionMp = 4;
  const cpuMs = async (run: () => Promise<unknown>): Promise<number> => {
    const before = process.cpuUsage();
    await run();
    const used = process.cpuUsage(before);
    return (used.user + used.system) / 1000;
  };
  const steps: Array<[string, number, () => Promise<unknown>]> = [
    ['extract', regionMp, () => sharp(pixels, raw).extract(region).raw().toBuffer()],
    ['decode jpeg', mp, () => sharp(jpeg).rotate().raw().toBuffer()],
    ['decode png', mp, () => sharp(png).rotate().raw().toBuffer()],
    ['encode jpeg', mp, () => sharp(pixels, raw).jpeg({ quality: 88 }).toBuffer()],
    ['encode png', mp, () => sharp(pixels, raw).png().toBuffer()],
    ['blur sigma 10', regionMp, () => sharp(pixels, raw).extract(region).blur(10).raw().toBuffer()],
    ['scaled blur (sigma 500)', regionMp, async () => {
      const small = await sharp(pixels, raw).extract(region).resize(40, 40, { fit: 'fill' }).blur(10).raw().toBuffer();
      return sharp(small, { raw: { width: 40, height: 40, channels: 3 } }).resize(2000, 2000, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
    }],
    ['composite (per image MP, one 4 MP region)', mp, async () => {
      const patch = await sharp(pixels, raw).extract(region).raw().toBuffer();
      return sharp(pixels, raw).composite([{ input: patch, raw: { width: 2000, height: 2000, channels: 3 }, left: 100, top: 100 }]).raw().toBuffer();
    }],
    ['pixelate', regionMp, async () => {
      const blocks = await sharp(pixels, raw).extract(region).resize(6, 6, { fit: 'fill', kernel: 'cubic' }).raw().toBuffer();
      return sharp(blocks, { raw: { width: 6, height: 6, channels: 3 } }).resize(2000, 2000, { fit: 'fill', kernel: 'nearest' }).raw().toBuffer();
    }],
  ];
  sharp.cache(false); // libvips' operation cache would answer the repeated runs from memory
  const PASS_MS_PER_MP = 2.5;
  const results: Record<string, { msPerMp: number; passes: number }> = {};
  for (const [name, stepMp, run] of steps) {
    await run(); // warm-up
    const runs: number[] = [];
    for (let i = 0; i < 5; i++) runs.push((await cpuMs(run)) / stepMp);
    const msPerMp = runs.sort((a, b) => a - b)[2]!;
    results[name] = { msPerMp: +msPerMp.toFixed(1), passes: +(msPerMp / PASS_MS_PER_MP).toFixed(1) };
  }
  console.log(JSON.stringify({ scenario: 'calibrate', image: `${width}×${height} photo-like`, results }));
}

try {
  if (values.scenario === 'calibrate') await calibrate();
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
