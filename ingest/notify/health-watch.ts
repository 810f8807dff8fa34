/**
 * Ingest health as state changes: each check (InfluxDB writes failing, the spool stalled so that
 * acknowledgements are held, the broker connection down) is raised after failing for `graceMs`
 * without a break and cleared after passing for `graceMs`, so a blip is not a notification.
 *
 * Reads ingest's `health()` (what `/healthz` answers). A raised check is identified by when it
 * began failing; the caller persists raised checks (outbox) and hands them back at start, so a
 * restart neither raises a check again nor forgets to clear it.
 */
export type HealthCheckName = 'influxdb' | 'spool' | 'broker';

export interface HealthTransition {
  check: HealthCheckName;
  state: 'raised' | 'cleared';
  /** When the check began failing (the raised state's identity). */
  sinceMs: number;
  detail: string;
}

/** What each check reads of `health()`; undefined = the field is not there (the check passes). */
const READERS: Record<HealthCheckName, (h: Record<string, unknown>) => { failing: boolean; detail: string } | undefined> = {
  influxdb: (h) => (typeof h.influx === 'string' ? { failing: h.influx !== 'ok', detail: h.influx.replace(/^failing: /, '') } : undefined),
  spool: (h) => (typeof h.spoolBlocked === 'boolean' ? { failing: h.spoolBlocked, detail: typeof h.reason === 'string' ? h.reason : 'spool not appending: acknowledgements held' } : undefined),
  broker: (h) => (typeof h.mqttConnected === 'boolean' ? { failing: !h.mqttConnected, detail: typeof h.mqtt === 'string' ? `broker ${h.mqtt}` : 'broker not connected' } : undefined),
};

interface CheckState {
  raised: { sinceMs: number; detail: string } | undefined;
  /** While not raised: since when it fails; while raised: since when it passes. */
  runSinceMs: number | undefined;
}

export class HealthWatch {
  private readonly states = new Map<HealthCheckName, CheckState>();

  constructor(
    checks: readonly HealthCheckName[],
    private readonly graceMs: number,
    raised: ReadonlyMap<string, { sinceMs: number; detail: string }> = new Map(),
  ) {
    for (const check of checks) this.states.set(check, { raised: raised.get(check), runSinceMs: undefined });
  }

  /** Feeds one reading of `health()`; returns the checks that change state now. */
  observe(health: Record<string, unknown>, nowMs: number): HealthTransition[] {
    const out: HealthTransition[] = [];
    for (const [check, st] of this.states) {
      const reading = READERS[check](health);
      const failing = reading?.failing ?? false;
      const detail = reading?.detail ?? '';
      // A run is what would change the state: failing while not raised, passing while raised.
      if (failing === (st.raised === undefined)) {
        st.runSinceMs ??= nowMs;
        if (nowMs - st.runSinceMs < this.graceMs) continue;
        if (st.raised) {
          out.push({ check, state: 'cleared', sinceMs: st.raised.sinceMs, detail: st.raised.detail });
          st.raised = undefined;
        } else {
          st.raised = { sinceMs: st.runSinceMs, detail };
          out.push({ check, state: 'raised', sinceMs: st.runSinceMs, detail });
        }
        st.runSinceMs = undefined;
      } else {
        st.runSinceMs = undefined;
      }
    }
    return out;
  }

  /** The checks raised now. */
  raised(): HealthCheckName[] {
    return [...this.states].filter(([, st]) => st.raised).map(([check]) => check);
  }
}
