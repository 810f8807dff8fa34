/**
 * Email channel: one SMTP submission (nodemailer) per mail — one change, or a digest of several
 * changes of one rule (mail-content.ts) — to every address in `to`. STARTTLS required by default
 * (`smtp.starttls`), implicit TLS with `smtp.secure`, AUTH when a user is configured.
 *
 * Every failure is retried (until the outbox's maxAgeHours): an SMTP refusal is almost always the
 * server's or the account's state (auth, quota, greylisting), which clears, not this mail's.
 */
import nodemailer from 'nodemailer';
import type { Notification } from '../../contracts/notification.ts';
import { errorMessage } from '../../common/errors.ts';
import type { ChannelSender, DeliveryOutcome } from './delivery-outcome.ts';
import { renderMail } from './mail-content.ts';
import type { EmailChannelConfig } from './notify-config.ts';

export class EmailSender implements ChannelSender {
  readonly type = 'email' as const;
  readonly name: string;
  private readonly transport: ReturnType<typeof nodemailer.createTransport>;

  constructor(
    private readonly channel: EmailChannelConfig,
    private readonly dashboardUrl?: string,
  ) {
    this.name = channel.name;
    const { smtp } = channel;
    this.transport = nodemailer.createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.secure,
      requireTLS: !smtp.secure && smtp.starttls === 'required',
      ignoreTLS: !smtp.secure && smtp.starttls === 'off',
      ...(smtp.user ? { auth: { user: smtp.user, pass: smtp.password ?? '' } } : {}),
      tls: { rejectUnauthorized: smtp.rejectUnauthorized, ...(smtp.ca ? { ca: smtp.ca } : {}) },
      connectionTimeout: smtp.timeoutS * 1000,
      greetingTimeout: smtp.timeoutS * 1000,
      socketTimeout: smtp.timeoutS * 1000,
    });
  }

  async send(bodies: readonly string[]): Promise<DeliveryOutcome> {
    const notifications = bodies.map((b) => JSON.parse(b) as Notification);
    const mail = renderMail(notifications, { subjectPrefix: this.channel.subjectPrefix, ...(this.channel.quietHours ? { timeZone: this.channel.quietHours.timeZone } : {}), ...(this.dashboardUrl ? { dashboardUrl: this.dashboardUrl } : {}) });
    try {
      const info = await this.transport.sendMail({
        from: this.channel.from,
        to: this.channel.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        messageId: mail.messageId,
        headers: { 'X-Fleetpulse-Notification-Ids': notifications.map((n) => n.id).join(' ') },
      });
      return { ok: true, detail: `SMTP ${String((info as { response?: unknown }).response ?? 'accepted')}`.slice(0, 200) };
    } catch (error) {
      return { ok: false, retry: true, error: errorMessage(error) };
    }
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}
