/**
 * Webhook channel: one HTTP POST per notification, the stored body as it is, signed
 * (`Fleetpulse-Signature`, contracts/notification.ts) at the time of each attempt, with the change's
 * idempotency key as `Idempotency-Key`.
 *
 * Outcomes: any 2xx is delivered. Retried: no answer (refused, reset, timeout), 5xx, 408, 429
 * (honouring Retry-After) and 401/403/404 — those say the receiver or its configuration is not
 * ready, which the operator fixes while the outbox keeps the backlog. Refused for good: the other
 * 3xx/4xx (400, 413, 422 …: the receiver will never accept this body). Redirects are not followed.
 */
import { NOTIFICATION_HEADERS, signNotification } from '../../contracts/notification.ts';
import { errorMessage } from '../../common/errors.ts';
import type { ChannelSender, DeliveryOutcome } from './delivery-outcome.ts';
import type { WebhookChannelConfig } from './notify-config.ts';

const RETRIED_STATUS = new Set([401, 403, 404, 408, 425, 429]);

export class WebhookSender implements ChannelSender {
  readonly type = 'webhook' as const;
  readonly name: string;

  constructor(
    private readonly channel: WebhookChannelConfig,
    private readonly now: () => number = Date.now,
  ) {
    this.name = channel.name;
  }

  async send(bodies: readonly string[], attempt: number): Promise<DeliveryOutcome> {
    const body = bodies[0];
    if (body === undefined || bodies.length !== 1) return { ok: false, retry: false, error: 'a webhook delivery carries exactly one notification' };
    const key = (JSON.parse(body) as { id: string }).id;
    let response: Response;
    try {
      response = await fetch(this.channel.url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(this.channel.timeoutS * 1000),
        headers: {
          ...this.channel.headers,
          'content-type': 'application/json',
          'user-agent': 'fleetpulse-notify/1',
          [NOTIFICATION_HEADERS.signature]: signNotification(this.channel.secret, body, Math.floor(this.now() / 1000)),
          [NOTIFICATION_HEADERS.idempotencyKey]: key,
          [NOTIFICATION_HEADERS.attempt]: String(attempt),
        },
        body,
      });
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause;
      return { ok: false, retry: true, error: cause ? `${errorMessage(error)}: ${errorMessage(cause)}` : errorMessage(error) };
    }
    // The answer's body is not needed; read it (bounded by the timeout) so the connection can be reused.
    await response.arrayBuffer().catch(() => undefined);
    const status = response.status;
    if (status >= 200 && status < 300) return { ok: true, detail: `HTTP ${status}` };
    if (status >= 500 || RETRIED_STATUS.has(status)) {
      const retryAfterMs = retryAfter(response.headers.get('retry-after'), this.now());
      return { ok: false, retry: true, error: `HTTP ${status}`, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
    }
    return { ok: false, retry: false, error: `HTTP ${status}` };
  }

  async close(): Promise<void> {}
}

/** Retry-After as seconds or an HTTP date, capped at an hour; undefined when absent or unreadable. */
function retryAfter(header: string | null, nowMs: number): number | undefined {
  if (!header) return undefined;
  const ms = /^\d+$/.test(header.trim()) ? Number(header) * 1000 : Date.parse(header) - nowMs;
  return Number.isFinite(ms) && ms >= 0 ? Math.min(ms, 3_600_000) : undefined;
}
