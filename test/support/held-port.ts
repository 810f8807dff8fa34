import { createServer } from 'node:net';

/** A port another process would find taken: listened on (not accepting anything) until release(). */
export async function holdPort(host = '127.0.0.1'): Promise<{ port: number; release: () => Promise<void> }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { port, release: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
