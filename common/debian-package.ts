/**
 * Installs a program fleetpulse runs (influxd, nginx) from its Debian package when it is missing,
 * the way `npm start` sets up a fresh machine: only as root where apt-get exists (Debian, Ubuntu),
 * saying so on screen first. Whether it is there, was installed, or why not, is a value; the
 * system (PATH lookup, uid, apt-get) is injected, so the decisions are tested without installing.
 */
import { spawnSync } from 'node:child_process';
import { findExecutable } from './child-process.ts';

export interface InstallSystem {
  findExecutable(name: string): string | undefined;
  isRoot(): boolean;
  /** Runs `apt-get args…` with its output on the terminal; the exit status (null when it could not run). */
  aptGet(args: readonly string[]): number | null;
}

export const hostSystem: InstallSystem = {
  findExecutable: (name) => findExecutable(name),
  isRoot: () => process.getuid?.() === 0,
  aptGet: (args) => spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status,
};

export interface PackageSpec {
  /** The executable looked for, e.g. `nginx`. */
  binary: string;
  /** The Debian package that brings it, e.g. `nginx-light`. */
  pkg: string;
  /** What it is, for people: `nginx`, `InfluxDB`. */
  label: string;
}

export type PackageState = { available: true; path: string; installed: boolean } | { available: false; reason: string };

export function ensureDebianPackage(spec: PackageSpec, print: (line: string) => void, system: InstallSystem = hostSystem): PackageState {
  const existing = system.findExecutable(spec.binary);
  if (existing) return { available: true, path: existing, installed: false };
  if (!system.findExecutable('apt-get')) return { available: false, reason: `${spec.label} (${spec.binary}) is not installed, and there is no apt-get here to install it (not Debian/Ubuntu): install ${spec.label} yourself` };
  if (!system.isRoot()) return { available: false, reason: `${spec.label} (${spec.binary}) is not installed, and installing it needs root: sudo apt-get install ${spec.pkg}` };
  print(`${spec.label} is not installed: installing the Debian package "${spec.pkg}" with apt-get (one time)…`);
  let failed: string | undefined;
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', spec.pkg]]) {
    const status = system.aptGet(args);
    if (status !== 0) {
      failed = `apt-get ${args.join(' ')} failed (${status === null ? 'could not run' : `exit ${status}`})`;
      break;
    }
  }
  // A package's own service may fail to start (its port taken) after the program is in place: what counts is the program.
  const installed = system.findExecutable(spec.binary);
  if (installed) {
    if (failed) print(`${failed}, but ${spec.binary} is installed (${installed}); going on.`);
    return { available: true, path: installed, installed: true };
  }
  return { available: false, reason: failed ? `${failed}: install ${spec.pkg} by hand` : `${spec.pkg} was installed but ${spec.binary} is not on PATH` };
}
