/**
 * `fleetpulse obd probe --serial PATH`: the first thing to run when plugging into a car. Connects
 * to the adapter, prints its version, the protocol, supported PIDs, VIN, stored and pending DTCs
 * and one decoded value of each supported PID (`--json` for machines). Exits 1 when no adapter
 * answered within `--wait-s`.
 */
import { opt } from '../../common/config.ts';
import { FleetpulseError } from '../../common/errors.ts';
import { createLogger } from '../../common/logger.ts';
import { Elm327Session } from '../../agent/obd/elm327-session.ts';
import { formatProbeReport, probeVehicle } from '../../agent/obd/probe.ts';
import { defineCommand } from '../command.ts';

export const obdProbeOptions = {
  serial: opt.string('Serial device of the ELM327 adapter, e.g. /dev/ttyUSB0 or /dev/rfcomm0'),
  baud: opt.int('Serial speed of the adapter (most ship at 38400)', { default: 38400, min: 300, max: 4_000_000 }),
  protocol: opt.string('ATSP protocol: 0 = automatic search, 1…C = that protocol', { default: '0', pattern: /^[0-9A-Ca-c]$/, patternHint: 'must be 0-9 or A-C' }),
  waitS: opt.number('How long to wait for the adapter and the car (s)', { default: 30, min: 1, max: 600 }),
  json: opt.boolean('Print the report as JSON', { default: false }),
};

export default defineCommand({
  path: 'obd probe',
  section: 'obd',
  summary: 'Probe an ELM327 adapter and the car behind it: version, protocol, supported PIDs, VIN, DTCs, one value of each PID.',
  options: obdProbeOptions,
  async run(config, ctx) {
    const logger = createLogger('obd');
    const session = new Elm327Session({
      path: config.serial,
      baudRate: config.baud,
      protocol: config.protocol.toUpperCase(),
      logger,
      // A probe should not wait long between attempts: the user is watching.
      reconnectBackoff: { initialMs: 200, maxMs: 2000 },
      ecuProbeBackoff: { initialMs: 200, maxMs: 2000 },
    });
    session.start();
    try {
      const report = await probeVehicle(session, config.serial, config.waitS * 1000);
      ctx.print(config.json ? JSON.stringify(report, null, 2) : formatProbeReport(report));
      if (report.adapter === null && report.state !== 'ready' && report.state !== 'no-ecu') {
        throw new FleetpulseError('FP_TIMEOUT', `no ELM327 adapter answered on ${config.serial}`);
      }
    } finally {
      await session.close();
    }
  },
});
