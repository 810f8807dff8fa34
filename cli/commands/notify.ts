/**
 * `fleetpulse notify test [--rule NAME]`: sends a test notification through the channels ingest is
 * configured with (all of them, or those of one rule) and prints each outcome. It reads ingest's
 * configuration — the config file's `ingest` section, FLEETPULSE_INGEST_* — so it checks exactly
 * what the worker will use; it sends directly, not through the worker's outbox.
 * Exit code 0 when every channel delivered, 1 otherwise, 2 for a configuration mistake.
 */
import { opt } from '../../common/config.ts';
import { ConfigError, FleetpulseError } from '../../common/errors.ts';
import { validateNotifications } from '../../ingest/notify/notify-options.ts';
import { sendTestNotification } from '../../ingest/notify/test-notification.ts';
import { defineCommand } from '../command.ts';
import { ingestOptions } from './ingest.ts';

export default defineCommand({
  path: 'notify test',
  section: 'ingest',
  summary: "Send a test notification through ingest's notification channels (of one rule with --rule) and print what each answered. Reads ingest's configuration.",
  usage: 'notify test --config fleet.json [--rule NAME]',
  options: { ...ingestOptions, rule: opt.string('Only the channels of this notification rule', { required: false }) },
  async run(config, ctx) {
    const notify = validateNotifications('fleetpulse notify test', config);
    if (!notify || notify.channels.size === 0) {
      throw new ConfigError('fleetpulse notify test', [{ field: 'notifications', message: 'no notification channels configured (the "notifications" option of the ingest section; see docs/operations.md)' }]);
    }
    const outcomes = await sendTestNotification(notify, config.rule);
    if (!outcomes) throw new ConfigError('fleetpulse notify test', [{ field: 'rule', message: `no rule '${config.rule}' (rules: ${notify.rules.map((r) => r.name).join(', ') || 'none'})` }]);
    for (const o of outcomes) {
      const what = o.outcome.ok ? `delivered (${o.outcome.detail})` : `FAILED: ${o.outcome.error}${o.outcome.retry ? '' : ' (the receiver refuses it; ingest would not retry)'}`;
      ctx.print(`${o.type.padEnd(7)} ${o.channel}: ${what} in ${o.ms} ms`);
    }
    const failed = outcomes.filter((o) => !o.outcome.ok).length;
    ctx.print(`test notification ${outcomes[0]?.id ?? ''}: ${outcomes.length - failed} of ${outcomes.length} channels delivered`);
    if (failed > 0) throw new FleetpulseError('FP_PROCESS_FAILED', `${failed} of ${outcomes.length} notification channels failed (see above)`);
  },
});
