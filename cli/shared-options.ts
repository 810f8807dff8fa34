/**
 * Options several services share. In a config file they may stand at the top level and apply to
 * every service that has them; a service's own section overrides them.
 */
import { opt } from '../common/config.ts';
import { tokenFileOption } from '../ingest/access/token-options.ts';

export const sharedOptions = {
  mqttUrl: opt.url('MQTT broker URL', ['mqtt', 'mqtts', 'ws', 'wss'], { default: 'mqtt://127.0.0.1:1883' }),
  influxUrl: opt.url('InfluxDB 1.x URL', ['http', 'https'], { default: 'http://127.0.0.1:8086' }),
  influxDatabase: opt.string('InfluxDB database', { default: 'fleetpulse', pattern: /^[A-Za-z0-9_-]+$/, patternHint: 'must be letters, digits, _ or -' }),
  dataDir: opt.string('Directory for local state (InfluxDB data, buffers)', { default: '.fleetpulse' }),
  tokenFile: tokenFileOption,
};

export const SHARED_KEYS: readonly string[] = Object.keys(sharedOptions);

export const SECTIONS = ['up', 'broker', 'ingest', 'agent', 'simulate', 'devices', 'certs', 'train', 'api', 'logship', 'obd', 'operator', 'tokens'] as const;
