/**
 * The text of a notification mail: plain text plus a small HTML body, for one change or a digest
 * of several (same rule). Times in the channel's quiet-hours time zone when it has one, else UTC.
 * The Message-ID is derived from the changes' keys, so a mail sent again after a crash (before
 * its delivery was recorded) is recognisably the same mail.
 */
import { createHash } from 'node:crypto';
import type { Notification } from '../../contracts/notification.ts';

export interface MailContent {
  subject: string;
  text: string;
  html: string;
  messageId: string;
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function formatTime(ms: number, timeZone: string): string {
  const text = new Intl.DateTimeFormat('sv-SE', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(new Date(ms));
  return `${text} ${timeZone}`;
}

const title = (n: Notification): string => `${n.test ? 'TEST' : n.state.toUpperCase()} ${n.summary}`;

export function renderMail(notifications: readonly Notification[], options: { subjectPrefix: string; timeZone?: string; dashboardUrl?: string }): MailContent {
  const tz = options.timeZone ?? 'UTC';
  const first = notifications[0];
  if (!first) throw new RangeError('a mail needs at least one notification');
  const raised = notifications.filter((n) => n.state === 'raised').length;
  const cleared = notifications.length - raised;
  const subjectText = notifications.length === 1 ? title(first) : `${notifications.length} changes (rule ${first.rule}): ${raised} raised, ${cleared} cleared`;
  // Subjects are one line; a long explanation goes in the body.
  const subject = `${options.subjectPrefix} ${subjectText}`.replace(/\s+/g, ' ').slice(0, 200);
  const lines = notifications.map((n) => `${formatTime(n.changedAtMs, tz)}  ${title(n)}  [${n.kind}, ${n.subject}]`);
  const footer = [`Rule: ${first.rule}.`, options.dashboardUrl ? `Dashboard: ${options.dashboardUrl}` : '', 'Sent by fleetpulse ingest (notifications).'].filter(Boolean);
  const text = [notifications.length === 1 ? 'What changed:' : `What changed (${notifications.length}):`, '', ...lines, '', ...footer, ''].join('\n');
  const rows = notifications
    .map((n) => `<tr><td>${escapeHtml(formatTime(n.changedAtMs, tz))}</td><td><b>${escapeHtml(n.test ? 'test' : n.state)}</b></td><td>${escapeHtml(n.kind)}</td><td>${escapeHtml(n.subject)}</td><td>${escapeHtml(n.summary)}</td></tr>`)
    .join('\n');
  const html = [
    '<!doctype html><html><body style="font-family:sans-serif">',
    `<p>${notifications.length === 1 ? 'What changed:' : `What changed (${notifications.length}):`}</p>`,
    '<table cellpadding="4" style="border-collapse:collapse"><tr><th align="left">time</th><th align="left">state</th><th align="left">kind</th><th align="left">about</th><th align="left">summary</th></tr>',
    rows,
    '</table>',
    `<p style="color:#666">Rule ${escapeHtml(first.rule)}.${options.dashboardUrl ? ` <a href="${escapeHtml(options.dashboardUrl)}">Dashboard</a>.` : ''}</p>`,
    '</body></html>',
  ].join('\n');
  const hash = createHash('sha256');
  for (const n of notifications) hash.update(`${n.id};`);
  return { subject, text, html, messageId: `<${hash.digest('hex').slice(0, 32)}@fleetpulse.notify>` };
}
