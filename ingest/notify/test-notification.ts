/**
 * `fleetpulse notify test`: one test notification straight through each configured channel (or
 * those of one rule), bypassing the outbox, digests and quiet hours, with each channel's outcome
 * as a value. The outbox belongs to the running ingest worker (and is locked by it).
 */
import { EmailSender } from './email-sender.ts';
import type { ChannelSender, DeliveryOutcome } from './delivery-outcome.ts';
import { testChange, toNotification } from './notification-change.ts';
import type { ChannelConfig, NotifyConfig } from './notify-config.ts';
import { WebhookSender } from './webhook-sender.ts';

export function createChannelSender(channel: ChannelConfig, config: Pick<NotifyConfig, 'dashboardUrl'>, now: () => number = Date.now): ChannelSender {
  return channel.type === 'webhook' ? new WebhookSender(channel, now) : new EmailSender(channel, config.dashboardUrl);
}

export interface TestOutcome {
  channel: string;
  type: 'webhook' | 'email';
  /** The notification's id (what the receiver sees as Idempotency-Key / in the mail's headers). */
  id: string;
  outcome: DeliveryOutcome;
  ms: number;
}

/** Sends the test; `undefined` when `rule` names no rule. */
export async function sendTestNotification(config: NotifyConfig, rule: string | undefined, nowMs = Date.now()): Promise<TestOutcome[] | undefined> {
  const names = rule === undefined ? [...config.channels.keys()] : config.rules.find((r) => r.name === rule)?.channels;
  if (!names) return undefined;
  const change = testChange(nowMs);
  const body = JSON.stringify(toNotification(change, rule ?? 'notify-test'));
  return Promise.all(
    names.map(async (name) => {
      const channel = config.channels.get(name)!;
      const sender = createChannelSender(channel, config);
      const started = performance.now();
      try {
        const outcome = await sender.send([body], 1);
        return { channel: name, type: channel.type, id: change.id, outcome, ms: Math.round(performance.now() - started) };
      } finally {
        await sender.close();
      }
    }),
  );
}
