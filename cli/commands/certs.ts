/** `fleetpulse certs`: a development CA plus server (and optional client) certificates for TLS. */
import { resolve } from 'node:path';
import { opt } from '../../common/config.ts';
import { brokerPaths } from '../../broker/broker-paths.ts';
import { createDevCertificates } from '../../broker/dev-certificates.ts';
import { defineCommand } from '../command.ts';
import { sharedOptions } from '../shared-options.ts';

const list = (text: string): string[] => {
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const item of items) if (!/^[A-Za-z0-9_.:-]+$/.test(item)) throw new Error(`'${item}' is not a host name, address or device name`);
  return items;
};

export default defineCommand({
  path: 'certs',
  section: 'certs',
  summary: 'Create a development CA and certificates for the broker\'s TLS listener (uses openssl).',
  options: {
    dataDir: sharedOptions.dataDir,
    dir: opt.string('Output directory (default <data-dir>/certs)', { required: false }),
    hosts: opt.parsed('Names and addresses the server certificate is valid for', '<a,b>', list, { default: 'localhost,127.0.0.1,::1' }),
    clients: opt.parsed('Client certificates to issue (common names, e.g. vehicle ids)', '<a,b>', list, { default: '' }),
    days: opt.int('Validity of server and client certificates in days', { default: 825, min: 1, max: 3650 }),
  },
  async run(config, ctx) {
    const dir = resolve(config.dir ?? brokerPaths(config.dataDir).certsDir);
    const made = createDevCertificates({ dir, hosts: config.hosts, clients: config.clients, days: config.days });
    ctx.print(
      [
        `${made.createdCa ? 'created' : 'reused'} CA   ${made.caCert}`,
        `server cert ${made.serverCert} (for ${config.hosts.join(', ')})`,
        `server key  ${made.serverKey}`,
        ...made.clients.map((c) => `client ${c.name}: ${c.cert} ${c.key}`),
        '',
        `Run the broker with TLS: fleetpulse broker --tls --certs-dir ${dir}`,
        `Clients trust ${made.caCert} (mosquitto_sub --cafile …, mqtt.js { ca }).`,
      ].join('\n'),
    );
  },
});
