/**
 * nginx as a child process fleetpulse owns: a config rendered from nginx.conf.template into
 * `<prefixDir>/nginx.conf`, listening on loopback, every path (pid, logs, temp) under the prefix
 * directory, started with spawnManaged (parent-death signal, SIGTERM then SIGKILL on stop).
 *
 * `reopenLogs()` sends SIGUSR1, nginx's signal to reopen its log files (what logrotate does after
 * renaming the access log).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { findExecutable, spawnManaged, type ManagedProcess } from '../../common/child-process.ts';
import { freePort, isPortOpen } from '../../common/net.ts';
import { FleetpulseError } from '../../common/errors.ts';

export interface ManagedNginxOptions {
  prefixDir: string;
  /** Address nginx listens on; port 0 picks a free one. */
  host?: string;
  port: number;
  /** host:port of the privacy API. */
  upstream: string;
  maxBodyBytes: number;
  /** Default `<prefixDir>/logs/access.log`. */
  accessLog?: string;
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

export function renderNginxConfig(values: { prefix: string; accessLog: string; listen: string; upstream: string; maxBodyBytes: number }): string {
  const template = readFileSync(join(import.meta.dirname, 'nginx.conf.template'), 'utf8');
  // As root, nginx's workers would drop to `nobody`, which cannot write under the data directory.
  const user = process.getuid?.() === 0 ? 'user root root;' : '';
  const map: Record<string, string> = {
    PREFIX: values.prefix,
    ACCESS_LOG: values.accessLog,
    LISTEN: values.listen,
    UPSTREAM: values.upstream,
    MAX_BODY: String(values.maxBodyBytes),
    USER_DIRECTIVE: user,
  };
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (_, name: string) => {
    const value = map[name];
    if (value === undefined) throw new Error(`nginx template placeholder ${name} has no value`);
    return value;
  });
}

export async function startManagedNginx(options: ManagedNginxOptions): Promise<ManagedNginx> {
  const nginx = nginxExecutable();
  if (!nginx) throw new FleetpulseError('FP_DEPENDENCY_MISSING', 'nginx is not installed (apt-get install nginx-light)');
  const prefix = options.prefixDir;
  for (const dir of ['logs', 'tmp']) mkdirSync(join(prefix, dir), { recursive: true });
  const host = options.host ?? '127.0.0.1';
  const port = options.port === 0 ? await freePort(host) : options.port;
  const accessLog = options.accessLog ?? join(prefix, 'logs', 'access.log');
  const confFile = join(prefix, 'nginx.conf');
  writeFileSync(confFile, renderNginxConfig({ prefix, accessLog, listen: `${host}:${port}`, upstream: options.upstream, maxBodyBytes: options.maxBodyBytes }));
  const check = spawnSync(nginx, ['-t', '-q', '-p', prefix, '-c', confFile], { encoding: 'utf8' });
  if (check.status !== 0) throw new FleetpulseError('FP_CONFIG_INVALID', `nginx rejected its config: ${check.stderr.trim()}`);
  const child = spawnManaged(nginx, ['-p', prefix, '-c', confFile], { logFile: join(prefix, 'logs', 'nginx.out') });
  const deadline = Date.now() + 10_000;
  while (!(await isPortOpen(port, host))) {
    if (child.child.exitCode !== null || Date.now() > deadline) {
      await child.stop(1000);
      const errors = existsSync(join(prefix, 'logs', 'error.log')) ? readFileSync(join(prefix, 'logs', 'error.log'), 'utf8').slice(-2000) : '';
      throw new FleetpulseError('FP_PROCESS_FAILED', `nginx did not start listening on ${host}:${port}: ${errors}`);
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
