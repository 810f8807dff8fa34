/**
 * `fleetpulse config set --vehicle ID --file F`: publishes a vehicle's remote agent configuration
 * (contracts/agent-config.ts), retained with QoS 1, as an identity with role `operator`. The file is
 * validated here first, so a typo fails at once naming the field. With `--wait-ms` it then waits for
 * the agent's retained config state: exit 0 when that version is applied, 1 when the agent rejected
 * it (the reason is printed) or did not answer in time. `--clear` deletes the retained config, so
 * the agent falls back to its local settings.
 */
import { readFileSync } from 'node:fs';
import { opt } from '../../common/config.ts';
import { ConfigError, errorMessage, FleetpulseError } from '../../common/errors.ts';
import { decodeAgentConfigState, parseAgentConfig, type AgentConfigState } from '../../contracts/agent-config.ts';
import { topics, VEHICLE_ID_PATTERN } from '../../contracts/topics.ts';
import { connectOperator } from '../operator-connection.ts';
import { defineCommand } from '../command.ts';
import { sharedOptions } from '../shared-options.ts';

const COMMAND = 'fleetpulse config set';

export const configSetOptions = {
  vehicle: opt.string('Vehicle whose agent is configured', { pattern: VEHICLE_ID_PATTERN, patternHint: 'must be a vehicle id' }),
  file: opt.string('JSON file holding the config (schema fleetpulse.agent-config/1, see docs/agent-on-raspberry-pi.md)', { required: false }),
  clear: opt.boolean('Delete the retained config instead (the agent returns to its local settings)', { default: false }),
  mqttUrl: sharedOptions.mqttUrl,
  username: opt.string('Broker username (a device with role operator)', { required: false }),
  password: opt.string('Broker password (prefer FLEETPULSE_OPERATOR_PASSWORD)', { required: false }),
  waitMs: opt.int("Wait this long for the agent's answer (0: publish and return)", { default: 0, min: 0, max: 600_000 }),
};

export default defineCommand({
  path: 'config set',
  section: 'operator',
  summary: "Publish a vehicle agent's remote configuration (retained) and optionally wait until it is applied.",
  usage: 'config set --vehicle car-1 --file car-1.json [--wait-ms 15000]',
  options: configSetOptions,
  async run(config, ctx) {
    let payload: Buffer;
    let version: number | undefined;
    if (config.clear) {
      if (config.file) throw new ConfigError(COMMAND, [{ field: 'file', message: 'cannot be combined with --clear' }]);
      payload = Buffer.alloc(0);
    } else {
      if (!config.file) throw new ConfigError(COMMAND, [{ field: 'file', message: 'is required (or --clear)' }]);
      try {
        payload = readFileSync(config.file);
      } catch (error) {
        throw new ConfigError(COMMAND, [{ field: 'file', message: `cannot be read: ${errorMessage(error)}` }]);
      }
      const parsed = parseAgentConfig(payload);
      if (!parsed.ok) throw new ConfigError(COMMAND, [{ field: 'file', message: `is not a valid agent config: ${parsed.reason}`, source: config.file }]);
      version = parsed.config.version;
      payload = Buffer.from(JSON.stringify(parsed.config));
    }

    const connection = await connectOperator(config, { id: 'config-set', what: 'config' });
    const { client } = connection;
    try {
      const states: AgentConfigState[] = [];
      let wake: (() => void) | undefined;
      if (config.waitMs > 0 && version !== undefined) {
        client.on('message', (topic, message) => {
          const state = topic === topics.configState(config.vehicle) ? decodeAgentConfigState(message) : undefined;
          if (state) states.push(state);
          wake?.();
        });
        await client.subscribeAsync(topics.configState(config.vehicle), { qos: 1 });
      }
      await connection.publish(topics.config(config.vehicle), payload, { retain: true });
      // What was retained before our publish describes an earlier attempt; only later answers count.
      const before = states.splice(0).at(-1);
      ctx.print(version === undefined ? `config of ${config.vehicle} cleared` : `config version ${version} published for ${config.vehicle}`);
      if (config.waitMs === 0 || version === undefined) return;

      const deadline = Date.now() + config.waitMs;
      for (;;) {
        const answer = states.find((s) => s.receivedVersion === version && s.result !== 'cleared');
        if (answer?.result === 'applied') {
          ctx.print(`applied by ${config.vehicle}${answer.ignored?.length ? ` (ignored by its source: ${answer.ignored.join(', ')})` : ''}`);
          return;
        }
        if (answer?.result === 'rejected') throw new FleetpulseError('FP_CONFIG_INVALID', `${config.vehicle} rejected config version ${version}: ${answer.reason ?? 'no reason given'}`);
        const left = deadline - Date.now();
        if (left <= 0 && before?.appliedVersion === version) {
          ctx.print(`version ${version} was already applied by ${config.vehicle} (same version again is a no-op; raise it to change the config)`);
          return;
        }
        if (left <= 0) throw new FleetpulseError('FP_TIMEOUT', `${config.vehicle} did not report config version ${version} within ${config.waitMs} ms (offline? it applies the retained config when it connects)`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      await connection.close();
    }
  },
});
