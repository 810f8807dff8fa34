/**
 * nginx as a child process fleetpulse owns: a config rendered from nginx.conf.template into
 * `<prefixDir>/nginx.conf`, listening on loopback, every path (pid, logs, temp) under the prefix
 * directory, started with spawnManaged (parent-death signal, SIGTERM then SIGKILL on stop).
 *
 * `reopenLogs()` sends SIGUSR1, nginx's signal to reopen its log files (what logrotate does after
 * renaming the access log).
 *
 * Started means bound: nginx writes its pid file only after it has opened its listening sockets,
 * so the start waits for that file (deleted beforehand) rather than for "something answers on the
 * port", which another process holding the port would also satisfy. A port that is taken fails
 * the start with a one-line PortUnavailableError naming the option that chose it, whether the
 * check before the start sees it or nginx's own bind() does (its error log says which).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { findExecutable, spawnManaged, type ManagedProcess } from '../../common/child-process.ts';
import { assertPortFree, formatAddress, freePort } from '../../common/net.ts';
import { codedError, FleetpulseError, PortUnavailableError } from '../../common/errors.ts';

export interface ManagedNginxOptions {
  prefixDir: string;
  /** Address nginx listens on; port 0 picks a free one. */
  host?: string;
  port: number;
  /** host:port of the privacy API. */
  upstream: string;
  /** nginx's client_max_body_size: the API's own limit (nginx refuses larger uploads with the API's JSON 413). */
  maxBodyBytes: number;
  /** How long nginx waits for the API's answer (default 60 s): longer than the API's own deadline. */
  readTimeoutS?: number;
  /** Default `<prefixDir>/logs/access.log`. */
  accessLog?: string;
  /** The option that chose `port`, named when the port is taken (default `--nginx-port`). */
  portOption?: string;
}

export interface ManagedNginx {
  readonly url: string;
  readonly port: number;
  readonly accessLog: string;
  readonly pid: number;
  readonly process: ManagedProcess;
  reopenLogs(): void;
  stop(): Promise<void>;
}

export function nginxExecutable(): string | undefined {
  return findExecutable('nginx');
}

export function renderNginxConfig(values: { prefix: string; accessLog: string; listen: string; upstream: string; maxBodyBytes: number; readTimeoutS?: number }): string {
  const template = readFileSync(join(import.meta.dirname, 'nginx.conf.template'), 'utf8');
  // As root, nginx's workers would drop to `nobody`, which cannot write under the data directory.
  const user = process.getuid?.() === 0 ? 'user root root;' : '';
  const map: Record<string, string> = {
    PREFIX: values.prefix,
    ACCESS_LOG: values.accessLog,
    LISTEN: values.listen,
    UPSTREAM: values.upstream,
    MAX_BODY: String(values.maxBodyBytes),
    READ_TIMEOUT_S: String(values.readTimeoutS ?? 60),
    USER_DIRECTIVE: user,
  };
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (_, name: string) => {
    const value = map[name];
    if (value === undefined) throw codedError('FP_TEMPLATE_PLACEHOLDER', 'nginx', name);
    return value;
  });
}

export async function startManagedNginx(options: ManagedNginxOptions): Promise<ManagedNginx> {
  const nginx = nginxExecutable();
  if (!nginx) throw new FleetpulseError('FP_DEPENDENCY_MISSING', 'nginx is not installed (apt-get install nginx-light)');
  const prefix = options.prefixDir;
  for (const dir of ['logs', 'tmp']) mkdirSync(join(prefix, dir), { recursive: true });
  const host = options.host ?? '127.0.0.1';
  const portOption = options.portOption ?? '--nginx-port';
  // A taken port fails here at once; nginx itself would retry bind() for 2.5 s before giving up.
  if (options.port !== 0) await assertPortFree(host, options.port, portOption);
  // Port 0: a free port is picked here and handed to nginx, so another process may take it in
  // between; then another one is picked.
  for (let attempt = 1; ; attempt++) {
    const port = options.port === 0 ? await freePort(host) : options.port;
    try {
      return await launch(nginx, options, host, port, portOption);
    } catch (error) {
      if (!(options.port === 0 && error instanceof PortUnavailableError && attempt < 3)) throw error;
    }
  }
}

async function launch(nginx: string, options: ManagedNginxOptions, host: string, port: number, portOption: string): Promise<ManagedNginx> {
  const prefix = options.prefixDir;
  const accessLog = options.accessLog ?? join(prefix, 'logs', 'access.log');
  const confFile = join(prefix, 'nginx.conf');
  const pidFile = join(prefix, 'nginx.pid');
  const errorLog = join(prefix, 'logs', 'error.log');
  writeFileSync(confFile, renderNginxConfig({ prefix, accessLog, listen: formatAddress(host, port), upstream: options.upstream, maxBodyBytes: options.maxBodyBytes, readTimeoutS: options.readTimeoutS }));
  const check = spawnSync(nginx, ['-t', '-q', '-p', prefix, '-c', confFile], { encoding: 'utf8' });
  if (check.status !== 0) throw new FleetpulseError('FP_CONFIG_INVALID', `nginx rejected its config: ${check.stderr.trim()}`);
  rmSync(pidFile, { force: true });
  const errorLogOffset = existsSync(errorLog) ? readFileSync(errorLog).length : 0;
  const child = spawnManaged(nginx, ['-p', prefix, '-c', confFile], { logFile: join(prefix, 'logs', 'nginx.out') });
  const deadline = Date.now() + 10_000;
  while (!existsSync(pidFile)) {
    if (child.child.exitCode !== null || Date.now() > deadline) {
      await child.stop(1000);
      const errors = existsSync(errorLog) ? readFileSync(errorLog).subarray(errorLogOffset).toString('utf8') : '';
      throw explainNginxStartFailure(errors, host, port, portOption);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://${host}:${port}`,
    port,
    accessLog,
    pid: child.pid,
    process: child,
    reopenLogs: () => {
      child.child.kill('SIGUSR1');
    },
    // SIGQUIT is nginx's graceful shutdown (finish requests in flight, then flush the log).
    stop: async () => {
      if (child.child.exitCode !== null) return;
      child.child.kill('SIGQUIT');
      const timer = setTimeout(() => child.child.kill('SIGKILL'), 5000);
      await child.exited;
      clearTimeout(timer);
    },
  };
}

/** Why nginx exited before listening, from what it wrote to its error log during this start. */
export function explainNginxStartFailure(errors: string, host: string, port: number, option: string): FleetpulseError {
  // e.g. `[emerg] 123#123: bind() to 127.0.0.1:8090 failed (98: Address already in use)`
  if (/bind\(\) to \S+ failed \(98: /.test(errors)) return new PortUnavailableError(option, formatAddress(host, port), 'in-use');
  if (/bind\(\) to \S+ failed \(13: /.test(errors)) return new PortUnavailableError(option, formatAddress(host, port), 'denied');
  const last = errors.trim().split('\n').filter(Boolean).slice(-3).map((line) => line.replace(/^\S+ \S+ /, '')).join('; ');
  return new FleetpulseError('FP_PROCESS_FAILED', `nginx did not start listening on ${formatAddress(host, port)}: ${last || 'no message in its error log'}`);
}
