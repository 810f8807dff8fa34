/**
 * `fleetpulse simulate elm327 --pty PATH`: an emulated ELM327 adapter with a simulated car behind it,
 * on a real pseudo-terminal (socat) at PATH, so any OBD-II tool can open PATH as if it were
 * /dev/ttyUSB0. Runs until SIGINT/SIGTERM, then removes PATH.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { opt } from '../../common/config.ts';
import { ConfigError } from '../../common/errors.ts';
import { createLogger, type Logger } from '../../common/logger.ts';
import { elm327Protocol } from '../../contracts/elm327-protocols.ts';
import { type Elm327Answer, Elm327Emulator } from '../../simulator/elm327/elm327-emulator.ts';
import { LiveVehicle, heldFault } from '../../simulator/elm327/live-vehicle.ts';
import { PtyTransport } from '../../simulator/elm327/serial-transport.ts';
import { FAULT_KINDS, type FaultKind, faultApplies } from '../../simulator/faults.ts';
import { defaultVehicleSpec } from '../../simulator/fleet-plan.ts';
import { PROFILE_IDS, PROFILES, type ProfileId } from '../../simulator/profiles.ts';
import type { VehicleSpec } from '../../simulator/simulated-vehicle.ts';
import { defineCommand } from '../command.ts';

const COMMAND = 'fleetpulse simulate elm327';

export const elm327Options = {
  pty: opt.string('Path where the adapter appears (a symlink to the pseudo-terminal), e.g. /tmp/ttyELM'),
  baud: opt.int('Baud rate the output is paced to (8N1); 0 = unpaced', { default: 38400, min: 0, max: 4_000_000 }),
  latencyMs: opt.int('ECU response time per request (ms)', { default: 30, min: 0, max: 5000 }),
  fault: opt.oneOf(['none', ...FAULT_KINDS] as unknown as readonly ['none', ...FaultKind[]], 'Fault the car carries (its DTCs appear once the ECU monitors set them)', { default: 'none' }),
  faultSeverity: opt.number('Severity the fault is held at, 0…1', { default: 1, min: 0, max: 1 }),
  preDriveTrips: opt.int('Trips the car has driven before the adapter is plugged in (a fault needs 1 for pending, 2 for stored codes)', { default: 2, min: 0, max: 50 }),
  seed: opt.int('Seed: the same seed gives the same car and VIN', { default: 1 }),
  vin: opt.string('VIN the car reports (17 characters, no I/O/Q); default derived from the seed', { required: false, pattern: /^[A-HJ-NPR-Z0-9]{17}$/i, patternHint: 'must be 17 characters A-Z/0-9 without I, O, Q' }),
  profile: opt.oneOf(['auto', ...PROFILE_IDS] as unknown as readonly ['auto', ...ProfileId[]], 'Car model; auto: drawn from the seed (a MAF engine when the fault needs one)', { default: 'auto' }),
  protocol: opt.oneOf(['6', '7'], 'Bus the car speaks: 6 = ISO 15765-4 CAN 11-bit/500k, 7 = 29-bit/500k', { default: '6' }),
  speed: opt.number('Simulated seconds per wall-clock second (0 = frozen)', { default: 1, min: 0, max: 1000 }),
  transmissionEcu: opt.boolean('A transmission ECU (7E9) answers beside the engine (7E8)', { default: true }),
  adapterVersion: opt.string('What ATI answers (clones claim e.g. ELM327 v2.1)', { default: 'ELM327 v1.5', pattern: /^[\x20-\x7e]{1,40}$/, patternHint: 'must be 1-40 printable ASCII characters' }),
  trailingSpace: opt.boolean('Print a space after the last byte of each line, as some adapters do', { default: false }),
  trace: opt.string('Write one JSON line per value the ECUs answered (PID, DTCs, VIN) to this file (overwritten), or - for stdout', { required: false }),
};

export default defineCommand({
  path: 'simulate elm327',
  section: 'simulate',
  summary: 'Emulate an ELM327 adapter on a car from the simulator, on a real pseudo-terminal (socat).',
  usage: 'simulate elm327 --pty /tmp/ttyELM [--fault misfire] [--baud 38400] [--latency-ms 30]',
  options: elm327Options,
  async run(config, ctx) {
    const logger = createLogger('elm327');
    const path = resolve(config.pty);
    const base = defaultVehicleSpec('elm327', config.seed, 'continuous');
    let profile = config.profile === 'auto' ? base.profile : PROFILES[config.profile];
    const kind = config.fault === 'none' ? undefined : config.fault;
    if (kind && !faultApplies(kind, profile.airMetering)) {
      if (config.profile !== 'auto') {
        throw new ConfigError(COMMAND, [{ field: 'fault', message: `${kind} needs a MAF engine; profile ${profile.id} is MAP-based` }]);
      }
      profile = PROFILES['compact-2.0-maf'];
    }
    const startMs = Date.now();
    const spec: VehicleSpec = { ...base, profile, ...(kind ? { fault: heldFault(kind, config.faultSeverity, startMs) } : {}) };
    const vehicle = new LiveVehicle({ spec, seed: config.seed, speed: config.speed, startMs, preDriveTrips: config.preDriveTrips });
    const trace = config.trace === undefined ? undefined : openTrace(config.trace, ctx.print, logger);
    const emulator = new Elm327Emulator({
      vehicle,
      seed: config.seed,
      ...(config.vin ? { vin: config.vin } : {}),
      ecuLatencyMs: config.latencyMs,
      baudRate: config.baud,
      protocol: config.protocol,
      transmissionEcu: config.transmissionEcu,
      version: config.adapterVersion,
      trailingSpace: config.trailingSpace,
      ...(trace ? { onAnswer: trace.write } : {}),
      logger,
    });
    let socatEnded: () => void = () => {};
    const done = new Promise<void>((resolve) => (socatEnded = resolve));
    const transport = new PtyTransport(emulator, { path, logger, onUnexpectedExit: () => socatEnded() });
    try {
      await transport.start();
    } catch (err) {
      trace?.close();
      throw err;
    }
    const dtcs = vehicle.dtcs();
    ctx.print(path);
    ctx.print(
      `ELM327 emulator on ${path}: ${elm327Protocol(config.protocol)?.display}, ${config.baud || 'unpaced'} baud, ECU latency ${config.latencyMs} ms, ` +
        `car ${profile.id} VIN ${emulator.vin}, fault ${kind ?? 'none'}${kind ? ` (severity ${config.faultSeverity})` : ''}, ` +
        `DTCs stored [${dtcs.stored.join(' ')}] pending [${dtcs.pending.join(' ')}]`,
    );
    return {
      // socat gone by itself (killed from outside): the adapter has no device any more, so stop.
      done,
      async stop() {
        await transport.close();
        emulator.close();
        trace?.close();
        logger.info('elm327 emulator stopped', {
          commands: emulator.stats.commands,
          obdRequests: emulator.stats.obdRequests,
          ...(trace ? { traceLines: trace.lines } : {}),
        });
      },
    };
  },
});

/**
 * The answer trace: one JSON line per answered value, written synchronously (no buffer to bound;
 * the emulator answers at most a few hundred values a second). A failed write (disk full) stops
 * the trace with one error log; the emulator goes on.
 */
function openTrace(target: string, print: (line: string) => void, logger: Logger) {
  let fd: number | undefined;
  try {
    fd = target === '-' ? undefined : openSync(resolve(target), 'w');
  } catch (err) {
    throw new ConfigError(COMMAND, [{ field: 'trace', message: `cannot write ${target}: ${(err as Error).message}` }]);
  }
  let failed = false;
  const state = {
    lines: 0,
    write(answer: Elm327Answer): void {
      if (failed) return;
      const line = JSON.stringify(answer);
      try {
        if (fd === undefined) print(line);
        else writeSync(fd, line + '\n');
        state.lines++;
      } catch (err) {
        failed = true;
        logger.error('answer trace write failed; tracing stopped', { target, lines: state.lines, error: String(err) });
      }
    },
    close(): void {
      if (fd !== undefined) closeSync(fd);
    },
  };
  return state;
}
