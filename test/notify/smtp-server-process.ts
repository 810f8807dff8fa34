/**
 * Starts test/notify/smtp-sink.ts as a child process (a real SMTP server on loopback, STARTTLS
 * with a certificate of a development CA made here, AUTH required) and collects what it receives.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createDevCertificates } from '../../broker/dev-certificates.ts';
import { waitFor } from '../support/influx.ts';

export interface ReceivedMail {
  from: string | undefined;
  to: string[];
  secure: boolean;
  user: string | undefined;
  raw: string;
  /** Headers unfolded, names in lower case (the first of each). */
  headers: Map<string, string>;
  atMs: number;
}

export interface SmtpServerProcess {
  port: number;
  /** PEM file of the CA that signed the server's certificate. */
  caFile: string;
  user: string;
  password: string;
  mails: ReceivedMail[];
  stop(): Promise<void>;
}

function headersOf(raw: string): Map<string, string> {
  const head = raw.split(/\r?\n\r?\n/, 1)[0]!.replace(/\r?\n[ \t]+/g, ' ');
  const map = new Map<string, string>();
  for (const line of head.split(/\r?\n/)) {
    const at = line.indexOf(':');
    if (at > 0 && !map.has(line.slice(0, at).toLowerCase())) map.set(line.slice(0, at).toLowerCase(), line.slice(at + 1).trim());
  }
  return map;
}

export async function startSmtpServerProcess(dir: string): Promise<SmtpServerProcess> {
  const certs = createDevCertificates({ dir: join(dir, 'smtp-certs'), hosts: ['localhost', '127.0.0.1'] });
  const user = 'fleet-notify';
  const password = 'smtp-test-password';
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'smtp-sink.ts'), certs.serverCert, certs.serverKey, user, password], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const mails: ReceivedMail[] = [];
  let port = 0;
  let stderr = '';
  let buffered = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.on('data', (d: Buffer) => {
    buffered += d.toString('utf8');
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = JSON.parse(buffered.slice(0, nl)) as { port?: number; raw?: string };
      buffered = buffered.slice(nl + 1);
      if (line.port !== undefined) port = line.port;
      else mails.push({ ...(line as Omit<ReceivedMail, 'headers' | 'atMs'>), headers: headersOf(line.raw ?? ''), atMs: Date.now() });
    }
  });
  if (!(await waitFor(() => port > 0 || child.exitCode !== null, 20_000, 20)) || port === 0) {
    child.kill('SIGKILL');
    throw new Error(`SMTP server process did not start: ${stderr}`);
  }
  return {
    port,
    caFile: certs.caCert,
    user,
    password,
    mails,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
