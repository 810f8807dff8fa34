import { describe, expect, it } from 'vitest';
import { ensureDebianPackage, type InstallSystem } from './debian-package.ts';

/** A machine described by what is on it; apt-get "installs" by adding the binary (or fails with `aptStatus`). */
function machine(options: { have?: string[]; root?: boolean; apt?: boolean; aptStatus?: number | null; installs?: boolean }) {
  const have = new Set(options.have ?? []);
  if (options.apt ?? true) have.add('apt-get');
  const calls: string[] = [];
  const system: InstallSystem = {
    findExecutable: (name) => (have.has(name) ? `/usr/sbin/${name}` : undefined),
    isRoot: () => options.root ?? true,
    aptGet: (args) => {
      calls.push(args.join(' '));
      if (args[0] === 'install' && (options.installs ?? true)) have.add('nginx');
      return args[0] === 'install' ? (options.aptStatus ?? 0) : 0;
    },
  };
  return { system, calls };
}

const NGINX = { binary: 'nginx', pkg: 'nginx-light', label: 'nginx' };

describe('installing a missing program from its Debian package', () => {
  it('uses what is installed without apt-get', () => {
    const { system, calls } = machine({ have: ['nginx'] });
    expect(ensureDebianPackage(NGINX, () => undefined, system)).toEqual({ available: true, path: '/usr/sbin/nginx', installed: false });
    expect(calls).toEqual([]);
  });

  it('installs as root with apt-get, saying so first', () => {
    const { system, calls } = machine({});
    const printed: string[] = [];
    expect(ensureDebianPackage(NGINX, (l) => printed.push(l), system)).toEqual({ available: true, path: '/usr/sbin/nginx', installed: true });
    expect(printed).toEqual(['nginx is not installed: installing the Debian package "nginx-light" with apt-get (one time)…']);
    expect(calls).toEqual(['update -qq', 'install -y -qq --no-install-recommends nginx-light']);
  });

  it('says why not: not root, no apt-get, a failed install', () => {
    expect(ensureDebianPackage(NGINX, () => undefined, machine({ root: false }).system)).toEqual({ available: false, reason: 'nginx (nginx) is not installed, and installing it needs root: sudo apt-get install nginx-light' });
    expect(ensureDebianPackage(NGINX, () => undefined, machine({ apt: false }).system)).toEqual({ available: false, reason: 'nginx (nginx) is not installed, and there is no apt-get here to install it (not Debian/Ubuntu): install nginx yourself' });
    expect(ensureDebianPackage(NGINX, () => undefined, machine({ aptStatus: 100, installs: false }).system)).toEqual({ available: false, reason: 'apt-get install -y -qq --no-install-recommends nginx-light failed (exit 100): install nginx-light by hand' });
  });

  it('goes on when the program arrived although apt-get failed (its service could not start)', () => {
    const printed: string[] = [];
    expect(ensureDebianPackage(NGINX, (l) => printed.push(l), machine({ aptStatus: 100 }).system)).toEqual({ available: true, path: '/usr/sbin/nginx', installed: true });
    expect(printed[1]).toBe('apt-get install -y -qq --no-install-recommends nginx-light failed (exit 100), but nginx is installed (/usr/sbin/nginx); going on.');
  });
});
