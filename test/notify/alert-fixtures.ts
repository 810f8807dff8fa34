/** Alert messages and a notifier configuration for the notification tests. */
import { ALERT_SCHEMA, type AlertMessage } from '../../contracts/alerts.ts';
import { parseNotifyConfig, type NotifyConfig } from '../../ingest/notify/notify-config.ts';

export const HOOK_SECRET = 'test-hook-secret-0123456789abcdef';

/** An alert state change of `vehicle` (alert id `<vehicle>:<raisedAtMs>`) at window `windowStartMs`. */
export function alertMessage(vehicle: string, state: 'raised' | 'cleared', raisedAtMs: number, windowStartMs = raisedAtMs, kind = 'engine_anomaly'): AlertMessage {
  return {
    schema: ALERT_SCHEMA,
    alertId: `${vehicle}:${raisedAtMs}`,
    vehicle,
    state,
    kind: kind as AlertMessage['kind'],
    windowStartMs,
    windowEndMs: windowStartMs + 30_000,
    modelVersion: 1,
    score: state === 'raised' ? 0.93 : 0.12,
    threshold: 0.5,
    windows: 3,
    topFeatures: [],
    emittedAtMs: windowStartMs + 31_000,
    explanation: { text: state === 'raised' ? 'fuel trim 9 % above this car\'s normal at warm idle' : 'back to normal: fuel trim at its normal', signals: [] },
  };
}

/** A validated configuration (throws with the issues otherwise). */
export function notifyConfig(value: unknown, env: NodeJS.ProcessEnv = {}): NotifyConfig {
  const result = parseNotifyConfig(value, env);
  if (!result.ok) throw new Error(result.issues.map((i) => `${i.field}: ${i.message}`).join('\n'));
  return result.config;
}
