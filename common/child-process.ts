/**
 * Long-running child processes that fleetpulse owns (influxd, nginx): started with a parent-death
 * signal where the system offers one (util-linux `setpriv --pdeathsig`), so that even a SIGKILL
 * of fleetpulse leaves no orphan behind; stopped with SIGTERM, then SIGKILL after a grace period.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { codedError } from './errors.ts';

export function findExecutable(name: string, extraDirs: readonly string[] = ['/usr/sbin', '/sbin']): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...extraDirs].filter(Boolean);
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

export interface ManagedProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  stop(graceMs?: number): Promise<void>;
}

export function spawnManaged(command: string, args: readonly string[], options: { logFile: string; cwd?: string; env?: NodeJS.ProcessEnv }): ManagedProcess {
  const setpriv = process.platform === 'linux' ? findExecutable('setpriv') : undefined;
  const [file, argv] = setpriv ? [setpriv, ['--pdeathsig', 'SIGTERM', command, ...args]] : [command, [...args]];
  const fd = openSync(options.logFile, 'a');
  // Own process group: a Ctrl-C in the terminal reaches fleetpulse only, which then stops its
  // children in order (ingest flushes into InfluxDB before InfluxDB goes down).
  const child = spawn(file, argv, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  if (child.pid === undefined) throw codedError('FP_PROCESS_NOT_STARTED', command);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    child.once('error', () => resolve('spawn-error'));
  });
  return {
    child,
    pid: child.pid,
    exited,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
