/**
 * What one attempt to deliver came to, as a value: delivered, worth retrying (the receiver or the
 * network is down, or it asked us to slow down), or refused for good (it will never take this body).
 */
export type DeliveryOutcome =
  | { ok: true; detail: string }
  | { ok: false; retry: true; error: string; /** The receiver's Retry-After, ms. */ retryAfterMs?: number }
  | { ok: false; retry: false; error: string };

/** Sends stored notification bodies (the exact JSON text) through one channel. */
export interface ChannelSender {
  readonly name: string;
  readonly type: 'webhook' | 'email';
  /** `attempt` counts from 1 for the first attempt of these bodies. Never throws: failures are outcomes. */
  send(bodies: readonly string[], attempt: number): Promise<DeliveryOutcome>;
  close(): Promise<void>;
}
