/**
 * A tiny scripted ELM327 for unit tests of the session and the poller: serialport's real
 * SerialPortMock stream and MockBinding, with a responder function in place of the adapter's
 * firmware. The full emulator (simulator/elm327) is what test/hil/ runs against; this one exists
 * to script what the emulator does not do (clones that echo regardless, reject multi-PID, …).
 */
import { SerialPortMock } from 'serialport';
import type { PortFactory } from './elm327-session.ts';

export interface Responder {
  /** Reply text for a command (without the prompt); undefined = stay silent. */
  answer: (command: string) => string | undefined;
  received: string[];
  /** Set when a command arrived while the previous one was unanswered. */
  overlapped: boolean;
  latencyMs: number;
}

let pathCounter = 0;

/** A port factory whose port answers through `responder`, like an adapter would: CR-terminated commands, `>` prompt. */
export function scriptedAdapter(responder: Responder): { factory: PortFactory; path: string } {
  const path = `/dev/fake-elm-${process.pid}-${pathCounter++}`;
  SerialPortMock.binding.createPort(path, { echo: false, record: false });
  const factory: PortFactory = ({ path: p, baudRate }) => {
    const port = new SerialPortMock({ path: p, baudRate, autoOpen: false });
    const open = port.open.bind(port);
    let line = '';
    let busy = false;
    let last = '';
    port.open = (callback) =>
      open((error) => {
        const binding = port.port;
        if (!error && binding) {
          const write = binding.write.bind(binding);
          binding.write = async (buffer: Buffer) => {
            await write(buffer);
            for (const ch of buffer.toString('latin1')) {
              if (ch !== '\r') {
                line += ch;
                continue;
              }
              const command = line.trim().toUpperCase() || last;
              line = '';
              last = command;
              if (busy) responder.overlapped = true;
              responder.received.push(command);
              const reply = responder.answer(command);
              if (reply === undefined) continue;
              busy = true;
              setTimeout(() => {
                busy = false;
                if (binding.isOpen) binding.emitData(`${reply}\r\r>`);
              }, responder.latencyMs);
            }
          };
        }
        callback?.(error);
      });
    return port;
  };
  return { factory, path };
}

/** A healthy CAN car behind a standard adapter; `car` switches the ignition. */
export function standardAdapter(): Responder & { car: { on: boolean; silent: boolean } } {
  const car = { on: true, silent: false };
  const responder: Responder & { car: typeof car } = {
    car,
    received: [],
    overlapped: false,
    latencyMs: 2,
    answer(command) {
      if (car.silent) return undefined;
      if (command === 'ATZ') return '\r\rELM327 v1.5';
      if (command === 'ATI') return 'ELM327 v1.5';
      if (command === 'ATDPN') return 'A6';
      if (command.startsWith('AT')) return 'OK';
      if (!car.on) return command === '0100' ? 'SEARCHING...\rUNABLE TO CONNECT' : 'NO DATA';
      if (command === '0100') return '7E8064100BE3FA813';
      if (command === '010C') return '7E804410C1AF8';
      if (command === '0142') return '7E80441422F3A';
      if (command === '01FF') return '?';
      if (command === '010D') return '7E8 03 41 0D\r#$%&';
      return 'NO DATA';
    },
  };
  return responder;
}


/** Raw values of the small car below: RPM 1726, SPEED 50 km/h, COOLANT_TEMP 83 °C. */
const SMALL_CAR: Readonly<Record<string, string>> = { '0C': '1AF8', '0D': '32', '05': '7B' };

/**
 * A car supporting PIDs 05, 0C and 0D. `multiPid: false` makes it answer only the first PID of a
 * multi-PID request, as some ECUs and clone adapters do.
 */
export function smallCarAdapter(multiPid: boolean, announceSilentPid = false): Responder {
  const base = standardAdapter();
  return {
    ...base,
    answer(command) {
      // With `announceSilentPid` the bitmap also claims INTAKE_TEMP (0F), which is never answered.
      if (command === '0100') return announceSilentPid ? '7E8064100081A0000' : '7E806410008180000';
      const m = /^01((?:[0-9A-F]{2})+)$/.exec(command);
      if (!m) return base.answer(command);
      const pids = m[1]!.match(/../g)!.filter((p) => p in SMALL_CAR);
      const answered = multiPid ? pids : pids.slice(0, 1);
      if (answered.length === 0 || (!multiPid && !(m[1]!.slice(0, 2) in SMALL_CAR))) return 'NO DATA';
      const payload = `41${answered.map((p) => p + SMALL_CAR[p]).join('')}`;
      const bytes = payload.length / 2;
      const hex = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0');
      if (bytes <= 7) return `7E8${hex(bytes)}${payload}`;
      // ISO-TP first frame + consecutive frames, as the adapter prints them with headers on.
      const lines = [`7E810${hex(bytes)}${payload.slice(0, 12)}`];
      for (let i = 12, seq = 1; i < payload.length; i += 14, seq++) lines.push(`7E82${(seq & 15).toString(16).toUpperCase()}${payload.slice(i, i + 14)}`);
      return lines.join('\r');
    },
  };
}
