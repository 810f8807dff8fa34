/**
 * Remote configuration and alerts for a running agent, over the agent's own MQTT connection.
 *
 * - Subscribes (QoS 1) to its retained `topics.config(vehicleId)` and to `topics.alerts(vehicleId)`
 *   on every connect (the agent's session is clean, so the retained config arrives each time).
 * - A config (contracts/agent-config.ts) is validated, then applied without a restart: batch
 *   interval, batch size and payload encoding through `Agent.reconfigure`; settings a source fixes
 *   when it is built (simulator sample rate, OBD PID set and rates) by building a new source and
 *   swapping it in (SwappableSource): the MQTT session, buffer and current batch live on; a serial
 *   source re-opens the adapter, which takes a second or two.
 * - Every outcome is published, retained, on `topics.configState(vehicleId)`: the version in force,
 *   or why the received one was rejected (the previous config stays in force). The same version
 *   again is a no-op, a lower one is rejected, an empty retained message reverts to local settings.
 * - Alerts are validated and logged (raised: warn, cleared: info); invalid ones are counted.
 * Configs are handled one at a time; at most one waits meanwhile: a newer one replaces it (only
 * the latest config matters), counted in `configsSuperseded`.
 */
import { EventEmitter } from 'node:events';
import type { MqttClient } from 'mqtt';
import { type Logger, silentLogger } from '../common/logger.ts';
import { AGENT_CONFIG_STATE_SCHEMA, type AgentConfig, type AgentConfigState, encodeAgentConfigState, parseAgentConfig, type PayloadEncoding } from '../contracts/agent-config.ts';
import { type AlertMessage, decodeAlert } from '../contracts/alerts.ts';
import { topics } from '../contracts/topics.ts';
import type { AgentLiveSettings } from './agent.ts';
import { payloadEncoder } from './payload-encoding.ts';
import type { SwappableSource } from './swappable-source.ts';
import type { TelemetrySource } from './telemetry-source.ts';

/** The settings remote config may change; the agent's own (local) values are the fallback. */
export interface AgentSettings {
  sampleRateHz: number;
  batchIntervalMs: number;
  maxBatchSamples: number;
  payload: PayloadEncoding;
  fastPids: readonly string[];
  slowPids: readonly string[];
  fastHz: number;
  slowHz: number;
  healthIntervalS: number;
}

export type SourceSettingKey = 'sampleRateHz' | 'fastPids' | 'slowPids' | 'fastHz' | 'slowHz' | 'healthIntervalS';
const OBD_KEYS: readonly SourceSettingKey[] = ['fastPids', 'slowPids', 'fastHz', 'slowHz'];

/** Which settings each of the agent's sources is built from (a replayed log has none). */
export const SOURCE_SETTING_KEYS: Readonly<Record<'simulate' | 'serial' | 'replay', readonly SourceSettingKey[]>> = {
  simulate: ['sampleRateHz', 'healthIntervalS'],
  serial: [...OBD_KEYS, 'healthIntervalS'],
  replay: [],
};

export interface RemoteConfigOptions {
  vehicleId: string;
  local: AgentSettings;
  agent: { reconfigure(settings: AgentLiveSettings): void };
  /** The agent's source, and how to build one for new settings (absent: no source setting is live). */
  source?: SwappableSource;
  buildSource?: (settings: AgentSettings) => TelemetrySource;
  /** The settings the source is built from; config fields for others are accepted and reported as ignored. */
  sourceKeys: readonly SourceSettingKey[];
  logger?: Logger;
  now?: () => number;
}

export interface RemoteConfigStats {
  appliedVersion: number | null;
  configsReceived: number;
  configsApplied: number;
  configsRejected: number;
  configsSuperseded: number;
  alertsRaised: number;
  alertsCleared: number;
  alertsInvalid: number;
}

export interface RemoteConfigEvents {
  state: [state: AgentConfigState];
  alert: [alert: AlertMessage];
}

/** Local settings overlaid with a config's fields. */
export function effectiveSettings(local: AgentSettings, config: AgentConfig | undefined): AgentSettings {
  if (!config) return { ...local };
  return {
    sampleRateHz: config.sampleRateHz ?? local.sampleRateHz,
    batchIntervalMs: config.batchIntervalMs ?? local.batchIntervalMs,
    maxBatchSamples: config.maxBatchSamples ?? local.maxBatchSamples,
    payload: config.payload ?? local.payload,
    fastPids: config.obd?.fastPids ?? local.fastPids,
    slowPids: config.obd?.slowPids ?? local.slowPids,
    fastHz: config.obd?.fastHz ?? local.fastHz,
    slowHz: config.obd?.slowHz ?? local.slowHz,
    healthIntervalS: config.healthIntervalS ?? local.healthIntervalS,
  };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export class RemoteConfig extends EventEmitter<RemoteConfigEvents> {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly configTopic: string;
  private readonly alertsTopic: string;
  private readonly stateTopic: string;
  private client: MqttClient | undefined;
  private applied: AgentConfig | undefined;
  private pending: Uint8Array | undefined;
  private running: Promise<void> | undefined;
  private counters = { configsReceived: 0, configsApplied: 0, configsRejected: 0, configsSuperseded: 0, alertsRaised: 0, alertsCleared: 0, alertsInvalid: 0 };

  constructor(private readonly options: RemoteConfigOptions) {
    super();
    this.log = (options.logger ?? silentLogger).child('remote-config');
    this.now = options.now ?? Date.now;
    this.configTopic = topics.config(options.vehicleId);
    this.alertsTopic = topics.alerts(options.vehicleId);
    this.stateTopic = topics.configState(options.vehicleId);
  }

  /** Listens on the agent's client; call once, right after the client is created. */
  attach(client: MqttClient): void {
    this.client = client;
    const subscribe = () => {
      client.subscribe([this.configTopic, this.alertsTopic], { qos: 1 }, (error, granted) => {
        if (error) return this.log.warn('subscribing to config and alerts failed', { error });
        // Aedes answers a refused subscription with 0x80 rather than an error.
        const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
        if (refused.length > 0) this.log.warn('broker refused subscriptions', { topics: refused });
      });
    };
    client.on('connect', subscribe);
    if (client.connected) subscribe();
    client.on('message', (topic, payload) => {
      if (topic === this.configTopic) this.enqueue(payload);
      else if (topic === this.alertsTopic) this.onAlert(payload);
    });
  }

  get appliedVersion(): number | null {
    return this.applied?.version ?? null;
  }

  /** The settings in force now. */
  settings(): AgentSettings {
    return effectiveSettings(this.options.local, this.applied);
  }

  stats(): RemoteConfigStats {
    return { appliedVersion: this.appliedVersion, ...this.counters };
  }

  /** Handles a config payload as if it had arrived on the topic; resolves once nothing is waiting. */
  receive(payload: Uint8Array): Promise<void> {
    return this.enqueue(payload);
  }

  private enqueue(payload: Uint8Array): Promise<void> {
    if (this.pending) this.counters.configsSuperseded += 1;
    this.pending = payload;
    this.running ??= this.drain();
    return this.running;
  }

  private async drain(): Promise<void> {
    while (this.pending) {
      const payload = this.pending;
      this.pending = undefined;
      try {
        await this.handle(payload);
      } catch (error) {
        this.log.error('applying config failed unexpectedly', { error });
      }
    }
    this.running = undefined;
  }

  private async handle(payload: Uint8Array): Promise<void> {
    if (payload.byteLength === 0) {
      // The retained config was deleted: back to local settings.
      if (!this.applied) return;
      this.counters.configsReceived += 1;
      await this.apply(undefined);
      this.log.info('remote config cleared; local settings in force');
      return this.report({ result: 'cleared' });
    }
    this.counters.configsReceived += 1;
    const parsed = parseAgentConfig(payload);
    if (!parsed.ok) return this.reject(parsed.reason, parsed.version);
    const config = parsed.config;
    if (this.applied && config.version === this.applied.version) {
      if (!same(config, this.applied)) return this.reject(`version ${config.version} is already applied with different content; raise the version`, config.version);
      return; // the retained copy again, e.g. after a reconnect
    }
    if (this.applied && config.version < this.applied.version) return this.reject(`version ${config.version} is older than the applied version ${this.applied.version}`, config.version);
    try {
      await this.apply(config);
    } catch (error) {
      return this.reject(`cannot apply: ${error instanceof Error ? error.message : String(error)}`, config.version);
    }
    const ignored = this.ignoredFields(config);
    this.counters.configsApplied += 1;
    this.log.info('remote config applied', { version: config.version, ...(ignored.length ? { ignored } : {}) });
    return this.report({ result: 'applied', receivedVersion: config.version, ...(ignored.length ? { ignored } : {}) });
  }

  private async apply(config: AgentConfig | undefined): Promise<void> {
    const before = this.settings();
    const next = effectiveSettings(this.options.local, config);
    const { source, buildSource, sourceKeys } = this.options;
    const sourceChanged = sourceKeys.some((k) => !same(before[k], next[k]));
    // Build first: a source that cannot be built leaves everything as it was.
    const replacement = sourceChanged && source && buildSource ? buildSource(next) : undefined;
    this.options.agent.reconfigure({
      batchIntervalMs: next.batchIntervalMs,
      maxBatchSamples: next.maxBatchSamples,
      ...(next.payload !== before.payload ? { encode: payloadEncoder(next.payload) } : {}),
    });
    this.applied = config;
    if (replacement && source) {
      await source.swap(replacement);
      this.log.info('source rebuilt for new settings', { source: replacement.name });
    }
  }

  private ignoredFields(config: AgentConfig): string[] {
    const keys = this.options.sourceKeys;
    const ignored: string[] = [];
    if (config.sampleRateHz !== undefined && !keys.includes('sampleRateHz')) ignored.push('sampleRateHz');
    if (config.obd !== undefined && !OBD_KEYS.some((k) => keys.includes(k))) ignored.push('obd');
    if (config.healthIntervalS !== undefined && !keys.includes('healthIntervalS')) ignored.push('healthIntervalS');
    return ignored;
  }

  private reject(reason: string, version: number | undefined): void {
    this.counters.configsRejected += 1;
    this.log.warn('remote config rejected', { reason, ...(version === undefined ? {} : { version }), appliedVersion: this.appliedVersion });
    this.report({ result: 'rejected', reason, ...(version === undefined ? {} : { receivedVersion: version }) });
  }

  private report(outcome: Pick<AgentConfigState, 'result' | 'receivedVersion' | 'reason' | 'ignored'>): void {
    const state: AgentConfigState = { schema: AGENT_CONFIG_STATE_SCHEMA, vehicle: this.options.vehicleId, appliedVersion: this.appliedVersion, ...outcome, atMs: this.now() };
    this.emit('state', state);
    // Queued by mqtt.js while offline; retained, so an operator sees the latest state whenever it looks.
    this.client?.publish(this.stateTopic, encodeAgentConfigState(state), { qos: 1, retain: true }, (error) => {
      if (error) this.log.debug('config state not published', { error });
    });
  }

  private onAlert(payload: Uint8Array): void {
    const alert = decodeAlert(payload);
    if (!alert || alert.vehicle !== this.options.vehicleId) {
      this.counters.alertsInvalid += 1;
      this.log.debug('invalid alert ignored', { bytes: payload.byteLength });
      return;
    }
    const fields = { alertId: alert.alertId, kind: alert.kind, score: alert.score, threshold: alert.threshold, windowStartMs: alert.windowStartMs, topFeatures: alert.topFeatures.slice(0, 3).map((f) => f.name) };
    if (alert.state === 'raised') {
      this.counters.alertsRaised += 1;
      this.log.warn('vehicle alert raised', fields);
    } else {
      this.counters.alertsCleared += 1;
      this.log.info('vehicle alert cleared', fields);
    }
    this.emit('alert', alert);
  }
}
