/**
 * Which rules a change matches: its kind against the rule's kind patterns (`*`, `?`; `alert`
 * alone = every alert kind), its state against the rule's states, and, for vehicle alerts, the
 * vehicle against the rule's vehicles (ids, globs, `@group`). Compiled once at start.
 */
import { globToRegExp } from '../../common/glob.ts';
import type { NotifyConfig, RuleConfig } from './notify-config.ts';
import type { NotificationChange } from './notification-change.ts';

interface CompiledRule {
  rule: RuleConfig;
  kinds: RegExp[];
  vehicles: RegExp[] | undefined;
}

export class RuleMatcher {
  private readonly rules: CompiledRule[];

  constructor(config: Pick<NotifyConfig, 'rules' | 'groups'>) {
    this.rules = config.rules.map((rule) => ({
      rule,
      // A bare category matches all of it: `alert` = `alert:*`.
      kinds: rule.kinds.map((k) => globToRegExp(k.includes(':') || k.includes('*') ? k : `${k}*`)),
      vehicles: rule.vehicles?.flatMap((v) => (v.startsWith('@') ? (config.groups[v.slice(1)] ?? []) : [v])).map(globToRegExp),
    }));
  }

  /** The rules `change` matches, in configuration order. */
  match(change: NotificationChange): RuleConfig[] {
    return this.rules
      .filter(({ rule, kinds, vehicles }) => {
        if (!rule.states.includes(change.state)) return false;
        if (!kinds.some((k) => k.test(change.kind))) return false;
        // Threats and ingest health have no vehicle: a vehicle filter does not apply to them.
        return change.vehicle === undefined || vehicles === undefined || vehicles.some((v) => v.test(change.vehicle!));
      })
      .map((c) => c.rule);
  }
}
