/**
 * Whether `fleetpulse up` runs the API scenario (nginx → privacy API → log shipping → API-log
 * analytics and the dashboard's API-traffic panel):
 * - `--api off`: no;
 * - `--api auto` (the default): yes, after installing nginx-light when nginx is missing and this
 *   machine allows it (root, apt-get: common/debian-package.ts); otherwise no, with the reason for
 *   the startup summary — a fresh machine never silently shows only half the demo;
 * - `--api on`: yes, installing nginx the same way, or an error saying why it cannot.
 */
import { ensureDebianPackage, hostSystem, type InstallSystem } from '../common/debian-package.ts';
import { FleetpulseError } from '../common/errors.ts';

export const NGINX_PACKAGE = { binary: 'nginx', pkg: 'nginx-light', label: 'nginx' } as const;

export type ApiScenario = { on: true; nginx: string; installed: boolean } | { on: false; why: string };

export function decideApiScenario(mode: 'auto' | 'on' | 'off', print: (line: string) => void, system: InstallSystem = hostSystem): ApiScenario {
  if (mode === 'off') return { on: false, why: 'off (--api off)' };
  const nginx = ensureDebianPackage(NGINX_PACKAGE, print, system);
  if (nginx.available) return { on: true, nginx: nginx.path, installed: nginx.installed };
  if (mode === 'on') throw new FleetpulseError('FP_DEPENDENCY_MISSING', `--api on: ${nginx.reason}`);
  return { on: false, why: `off: ${nginx.reason} (the API-traffic panel stays empty; --api off hides this line)` };
}

/** The summary line of an API scenario that is off. */
export function apiOffLine(scenario: { why: string }): string {
  return `  API       ${scenario.why}`;
}
