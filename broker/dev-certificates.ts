/**
 * A development CA and certificates for the broker's TLS listener, made with Debian's `openssl`
 * command. node:crypto can create keys but cannot sign X.509 certificates; the openssl CLI is on
 * every machine that runs the broker, is what operators already use for real certificates, and
 * keeps a certificate library out of our dependencies.
 *
 * Keys are ECDSA P-256 (mode 0600); the CA is reused when it exists, so client certificates can be
 * added later without re-issuing the server's.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { FleetpulseError } from '../common/errors.ts';
import { findExecutable } from '../common/child-process.ts';

export interface DevCertificateOptions {
  dir: string;
  /** DNS names and IP addresses the server certificate is valid for. */
  hosts: readonly string[];
  /** Common names of client certificates to issue (e.g. vehicle ids). */
  clients?: readonly string[];
  days?: number;
}

export interface DevCertificates {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clients: Array<{ name: string; cert: string; key: string }>;
  createdCa: boolean;
}

function openssl(args: readonly string[]): void {
  const bin = findExecutable('openssl');
  if (!bin) throw new FleetpulseError('FP_DEPENDENCY_MISSING', 'openssl is not installed (Debian: apt-get install openssl)');
  try {
    execFileSync(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new FleetpulseError('FP_PROCESS_FAILED', `openssl ${args[0]} failed: ${stderr.trim()}`, { cause: error });
  }
}

function issue(dir: string, name: string, subject: string, extensions: string, days: number, caCert: string, caKey: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', subject]);
  writeFileSync(ext, extensions);
  try {
    openssl(['x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', String(days), '-sha256', '-extfile', ext]);
  } finally {
    rmSync(csr, { force: true });
    rmSync(ext, { force: true });
  }
  chmodSync(key, 0o600);
  return { cert, key };
}

export function createDevCertificates(options: DevCertificateOptions): DevCertificates {
  const days = options.days ?? 825;
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  const caCert = join(options.dir, 'ca.crt');
  const caKey = join(options.dir, 'ca.key');
  const createdCa = !(existsSync(caCert) && existsSync(caKey));
  if (createdCa) {
    openssl([
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', caKey, '-out', caCert, '-days', String(Math.max(days, 3650)), '-sha256',
      '-subj', '/CN=fleetpulse development CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    chmodSync(caKey, 0o600);
  }
  const san = options.hosts.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  const server = issue(
    options.dir, 'server', `/CN=${options.hosts[0] ?? 'localhost'}`,
    `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`,
    days, caCert, caKey,
  );
  const clients = (options.clients ?? []).map((name) => ({
    name,
    ...issue(options.dir, `client-${name}`, `/CN=${name}`, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n', days, caCert, caKey),
  }));
  return { caCert, caKey, serverCert: server.cert, serverKey: server.key, clients, createdCa };
}
