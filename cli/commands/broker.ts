import { opt } from '../../common/config.ts';
import { createLogger } from '../../common/logger.ts';
import { startBroker } from '../../broker/broker-server.ts';
import { defineCommand } from '../command.ts';

export default defineCommand({
  path: 'broker',
  section: 'broker',
  summary: 'Run the MQTT broker (Aedes) for vehicles, ingest workers and log shippers.',
  options: {
    host: opt.string('Address to listen on', { default: '127.0.0.1' }),
    port: opt.int('TCP port for MQTT', { default: 1883, min: 0, max: 65535 }),
  },
  async run(config) {
    const broker = await startBroker({ host: config.host, port: config.port, logger: createLogger('broker') });
    return { stop: () => broker.close() };
  },
});
