/**
 * A real webhook receiver for the notification tests (node:http on an ephemeral loopback port):
 * verifies each request's signature, records it, answers 204 (401 for a bad signature, or what
 * `answer` says). While `down`, it resets every connection (RST) before reading a byte, as a host whose receiver
 * that is not there does, without giving its port away.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NOTIFICATION_HEADERS, notificationSchema, verifyNotificationSignature, type Notification, type SignatureCheck } from '../../contracts/notification.ts';

export interface ReceivedWebhook {
  key: string | undefined;
  attempt: number;
  status: number;
  notification: Notification;
  signature: SignatureCheck;
  atMs: number;
}

export interface WebhookReceiver {
  readonly url: string;
  readonly received: ReceivedWebhook[];
  /** Requests answered 2xx. */
  accepted(): ReceivedWebhook[];
  /** Connections reset while down. */
  refusedConnections(): number;
  setDown(down: boolean): void;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startWebhookReceiver(secret: string, options: { down?: boolean; answer?: (n: Notification) => number } = {}): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  let down = options.down ?? false;
  let refused = 0;
  const server = createServer(async (req, res) => {
    const raw = await readBody(req);
    const header = req.headers[NOTIFICATION_HEADERS.signature];
    const signature = verifyNotificationSignature({ secret, header: typeof header === 'string' ? header : undefined, body: raw });
    const notification = notificationSchema.parse(JSON.parse(raw));
    const status = signature.ok ? (options.answer?.(notification) ?? 204) : 401;
    const key = req.headers[NOTIFICATION_HEADERS.idempotencyKey];
    received.push({ key: typeof key === 'string' ? key : undefined, attempt: Number(req.headers[NOTIFICATION_HEADERS.attempt]), status, notification, signature, atMs: Date.now() });
    res.writeHead(status).end();
  });
  server.on('connection', (socket) => {
    if (!down) return;
    refused += 1;
    socket.resetAndDestroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/fleet-hook`,
    received,
    accepted: () => received.filter((r) => r.status >= 200 && r.status < 300),
    refusedConnections: () => refused,
    setDown(value) {
      down = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
