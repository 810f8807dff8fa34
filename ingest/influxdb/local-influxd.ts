/**
 * A local InfluxDB 1.x server run as a managed child process, with all its state under one
 * project-local directory and bound to loopback. Used by `fleetpulse up` and the tests; in
 * production ingest points `influxUrl` at a server of its own.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FleetpulseError } from '../../common/errors.ts';
import { type Logger, silentLogger } from '../../common/logger.ts';
import { assertPortFree, formatAddress, freePort } from '../../common/net.ts';
import { findExecutable, spawnManaged, type ManagedProcess } from '../../common/child-process.ts';
import { ensureDebianPackage, type InstallSystem } from '../../common/debian-package.ts';

export interface LocalInfluxdOptions {
  dataDir: string;
  /** HTTP port; 0 picks a free one. */
  port: number;
  /** The option that chose `port`, named when it is taken (default `--influx-port`, as `fleetpulse up` spells it). */
  portOption?: string;
  host?: string;
  logger?: Logger;
  startTimeoutMs?: number;
}

export interface LocalInfluxd {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly dataDir: string;
  stop(): Promise<void>;
}

function configText(dir: string, host: string, httpPort: number, rpcPort: number): string {
  // Every path and port is explicit so that several servers (tests, a demo) never share state.
  return `reporting-disabled = true
bind-address = "${host}:${rpcPort}"
[meta]
  dir = "${join(dir, 'meta')}"
[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  query-log-enabled = false
[http]
  bind-address = "${host}:${httpPort}"
  log-enabled = false
[monitor]
  store-enabled = false
[logging]
  level = "warn"
`;
}

/** Ends an influxd left over by a previous run that was killed before it could stop it. */
function stopLeftover(pidFile: string, configPath: string, log: Logger): void {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  rmSync(pidFile, { force: true });
  if (!Number.isInteger(pid) || pid <= 0) return;
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return; // not running any more
  }
  // Only a process started with exactly our config file is ours to end.
  if (cmdline.includes('influxd') && cmdline.includes(configPath)) {
    log.warn('stopping influxd left over from an earlier run', { pid });
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

export function influxdInstalled(): boolean {
  return findExecutable('influxd') !== undefined;
}

/**
 * Installs Debian's `influxdb` package when influxd is missing and we are root on Debian or
 * Ubuntu (common/debian-package.ts); otherwise explains what to do. Returns the path of influxd.
 */
export function ensureInfluxdInstalled(log: Logger, print: (line: string) => void = console.log, system?: InstallSystem): string {
  const state = ensureDebianPackage({ binary: 'influxd', pkg: 'influxdb', label: 'InfluxDB' }, print, system);
  if (!state.available) {
    throw new FleetpulseError('FP_DEPENDENCY_MISSING', `${state.reason}, or point fleetpulse at a server of yours with FLEETPULSE_INFLUX_URL=http://host:8086.`);
  }
  if (state.installed) log.info('installed influxdb');
  return state.path;
}

async function waitForPing(url: string, proc: ManagedProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline && !exited) {
    try {
      const response = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) });
      if (response.status === 204) return true;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

export async function startLocalInfluxd(options: LocalInfluxdOptions): Promise<LocalInfluxd> {
  const log = options.logger ?? silentLogger;
  const host = options.host ?? '127.0.0.1';
  const dir = resolve(options.dataDir);
  mkdirSync(dir, { recursive: true });
  const binary = findExecutable('influxd');
  if (!binary) throw new FleetpulseError('FP_DEPENDENCY_MISSING', 'influxd is not installed');
  const configPath = join(dir, 'influxdb.conf');
  const pidFile = join(dir, 'influxd.pid');
  const logFile = join(dir, 'influxd.log');
  stopLeftover(pidFile, configPath, log);

  // influxd would only say so in its log after a start timeout: checked first, naming up's option.
  await assertPortFree(host, options.port, { option: options.portOption ?? '--influx-port', alternative: `use the server there with --influx-url http://${formatAddress(host, options.port)}` });

  // With a free port picked for us, another process may grab it first: try a few times.
  for (let attempt = 1; ; attempt++) {
    const httpPort = options.port === 0 ? await freePort(host) : options.port;
    const rpcPort = await freePort(host);
    writeFileSync(configPath, configText(dir, host, httpPort, rpcPort));
    const proc = spawnManaged(binary, ['-config', configPath], { logFile, cwd: dir });
    writeFileSync(pidFile, String(proc.pid));
    const url = `http://${host}:${httpPort}`;
    if (await waitForPing(url, proc, options.startTimeoutMs ?? 30_000)) {
      log.info('influxd started', { url, pid: proc.pid, dataDir: dir });
      return {
        url,
        port: httpPort,
        pid: proc.pid,
        dataDir: dir,
        async stop() {
          await proc.stop();
          rmSync(pidFile, { force: true });
          log.info('influxd stopped', { pid: proc.pid });
        },
      };
    }
    await proc.stop(2000);
    rmSync(pidFile, { force: true });
    const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-8).join('\n') : '';
    if (options.port !== 0 || attempt >= 3) {
      throw new FleetpulseError('FP_PROCESS_FAILED', `influxd did not become ready on ${url}; last log lines (${logFile}):\n${tail}`);
    }
    log.warn('influxd failed to start, retrying on another port', { attempt });
  }
}
