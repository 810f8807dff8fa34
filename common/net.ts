import { createServer } from 'node:net';
import { PortUnavailableError } from './errors.ts';

/**
 * Asks the kernel for a free TCP port. There is a short window in which another process could
 * take it, so callers that hand the port to a child process retry on a bind failure.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** True when something accepts TCP connections on host:port. */
export function isPortOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(true));
    server.listen(port, host, () => server.close(() => resolve(false)));
  });
}

/** host:port as people write it (IPv6 in brackets). */
export function formatAddress(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The flag that chose a port, named when the port cannot be bound, and optionally what else the user can do. */
export type PortOption = string | { option: string; alternative: string };

/**
 * Runs a listen call and turns "address in use" / "permission denied" into a one-line
 * PortUnavailableError naming `option` (the flag that chose the port); any other error passes
 * through unchanged. Every service's listen goes through this, so a taken port reads the same
 * everywhere instead of as an unexpected error with a stack trace.
 */
export async function listenNamingOption<T>(option: PortOption, host: string, port: number, listen: () => Promise<T>): Promise<T> {
  try {
    return await listen();
  } catch (error) {
    throw portError(error, option, host, port) ?? error;
  }
}

/** The PortUnavailableError for a listen failure, or undefined when it is not about the port. */
export function portError(error: unknown, option: PortOption, host: string, port: number): PortUnavailableError | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code !== 'EADDRINUSE' && code !== 'EACCES') return undefined;
  const { option: name, alternative } = typeof option === 'string' ? { option, alternative: undefined } : option;
  return new PortUnavailableError(name, formatAddress(host, port), code === 'EADDRINUSE' ? 'in-use' : 'denied', { cause: error, alternative });
}

/**
 * Throws a PortUnavailableError naming `option` when host:port cannot be bound: checked before a
 * child process is handed the port, or before anything starts. Port 0 (any free port) always passes.
 */
export async function assertPortFree(host: string, port: number, option: PortOption): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  await listenNamingOption(option, host, port, () => new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen({ host, port, exclusive: true }, () => resolve());
  }));
  await new Promise((r) => probe.close(r));
}
