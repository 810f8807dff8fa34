/**
 * An ELM327 adapter plugged into a simulated car: the text protocol of the real chip (AT commands,
 * echo, linefeeds, spaces, headers, CAN auto-formatting, protocol search, the `>` prompt) in front of
 * emulated ECUs that answer from the live simulator. Transport-free: bytes go in with `handleInput`
 * and come out through `onOutput` listeners, paced to the configured baud rate; serial-transport.ts
 * puts it on a serialport mock port or a real pseudo-terminal.
 *
 * Timing, as on a real adapter and car: an ECU answers `ecuLatencyMs` after the request; the adapter
 * then waits for more ECUs — the full ATST timeout with ATAT0, an adapted shorter one with ATAT1/2,
 * not at all once the number of answers given after the request (`010C1`) has arrived — and prints
 * `NO DATA` when nobody answered within ATST (default 200 ms).
 *
 * Guarantees: every command line gets exactly one prompt `>` (interrupted requests end with
 * `STOPPED` and a prompt); a character arriving while a request is in progress interrupts it and is
 * discarded, as on the chip; expected conditions (ignition off, silent ECU, no bus) are answers, never
 * exceptions. Queued output is bounded (see PacedOutput).
 */
import type { PidValue } from '../../contracts/obd/pid-table.ts';
import { createLogger, type Logger } from '../../common/logger.ts';
import { elm327Protocol } from '../../contracts/elm327-protocols.ts';
import type { VehicleSignals } from '../vehicle-model.ts';
import { type DisplaySettings, formatResponse, responseFrames } from './elm-format.ts';
import { type AnswerNote, DtcView, type EmulatedEcu, EngineEcu, TransmissionEcu } from './emulated-ecus.ts';
import { LiveVehicle, type LiveVehicleOptions } from './live-vehicle.ts';
import { PacedOutput } from './paced-output.ts';

/** The bus the emulated car speaks: ISO 15765-4 CAN 500 kbit/s, 11-bit ('6') or 29-bit ('7') IDs. */
export type CarProtocol = '6' | '7';

export interface Elm327EmulatorOptions extends LiveVehicleOptions {
  /** A vehicle to serve (shared with a test); otherwise one is built from the vehicle options. */
  vehicle?: LiveVehicle;
  /** 17 characters, no I, O or Q. Default: derived from the seed. */
  vin?: string;
  /** Time from request to the first ECU's answer (ms). Default 30. */
  ecuLatencyMs?: number;
  /** Output pacing (bits/s, 8N1); 0 = unpaced. Default 38400. */
  baudRate?: number;
  /** Which bus the car has. Default '6'. */
  protocol?: CarProtocol;
  /** A second ECU (transmission, 7E9) that answers 0100, 0101 and the DTC services. Default true. */
  transmissionEcu?: boolean;
  /** ATI text. Default 'ELM327 v1.5'. */
  version?: string;
  /** How long ATZ keeps the chip busy (ms). Default 250. */
  resetMs?: number;
  /** Protocol search time when the car answers (ms). Default 120. */
  searchMs?: number;
  /** How long a search or bus init takes to give up (ms). Default 1500. */
  searchFailMs?: number;
  /** Print a space after the last byte of a line (some adapters do). Default false. */
  trailingSpace?: boolean;
  /**
   * Called for every value an ECU's answer carries (see `Elm327Answer`), synchronously, when the
   * answer is handed to the output — so not for answers a STOPPED request never printed, nor with
   * ATR0. Unset, the ECUs build no notes at all.
   */
  onAnswer?: (answer: Elm327Answer) => void;
  logger?: Logger;
}

/**
 * One value an emulated ECU answered, as the ECU meant it: a service 01 PID (the simulator's signal
 * value, or what the ECU states for the others, e.g. a bitmap as its PID list), the DTC list of
 * services 03/07/0A, or the VIN (service 09 PID 02). Lets a test or `--trace` compare what a reader
 * decoded with what the car sent.
 */
export interface Elm327Answer {
  /** When the answer was handed to the output (ms since the epoch); it reaches the host at the baud rate. */
  t: number;
  /** The answering ECU's CAN ID as the adapter prints it: `7E8`, `18DAF110`. */
  ecu: string;
  service: number;
  /** Service 01/09 PID; absent for the DTC services. */
  pid?: number;
  /** PID name from `contracts/obd/pid-table.ts`, or `STORED_DTCS`, `PENDING_DTCS`, `PERMANENT_DTCS`, `VIN`. */
  name: string;
  value: PidValue | readonly string[];
  /** The data bytes carrying the value (after the PID), hex. */
  raw: string;
}

interface Settings {
  echo: boolean;
  linefeeds: boolean;
  spaces: boolean;
  headers: boolean;
  adaptive: 0 | 1 | 2;
  /** ATST in ms (hh × 4). */
  timeoutMs: number;
  /** ATSP: the protocol digit and whether automatic search is allowed. */
  protocol: string;
  auto: boolean;
  caf: boolean;
  responses: boolean;
  /** ATSH as typed (hex digits), or undefined for the default functional address. */
  header: string | undefined;
  /** ATCP: the top 5 bits of a 29-bit ID. */
  priority: number;
}

const DEFAULTS: Settings = {
  echo: true,
  linefeeds: false,
  spaces: true,
  headers: false,
  adaptive: 1,
  timeoutMs: 0x32 * 4,
  protocol: '0',
  auto: true,
  caf: true,
  responses: true,
  header: undefined,
  priority: 0x18,
};

/** Most characters a command line may have before the chip gives up on it ('?'). */
const MAX_LINE = 64;
/** Extra delay of each further ECU's answer after the first (ms). */
const ECU_SPACING_MS = 3;

const VIN_PATTERN = /^[A-HJ-NPR-Z0-9]{17}$/;

/** A well-formed VIN for a seed: a made-up maker code (FPE), model EMU27, serial from the seed. */
export function vinForSeed(seed: number): string {
  const serial = String((Math.abs(Math.trunc(seed)) * 7919) % 1_000_000).padStart(6, '0');
  return `FPEEMU2700S${serial}`;
}

export interface Elm327Stats {
  commands: number;
  obdRequests: number;
  interrupted: number;
  noData: number;
  /** Command lines longer than the chip's input buffer (answered '?'). */
  linesTooLong: number;
}

type Busy =
  | { kind: 'reset'; timer: NodeJS.Timeout }
  | { kind: 'request'; timers: NodeJS.Timeout[] };

export class Elm327Emulator {
  readonly vehicle: LiveVehicle;
  readonly vin: string;
  readonly stats: Elm327Stats = { commands: 0, obdRequests: 0, interrupted: 0, noData: 0, linesTooLong: 0 };
  private readonly out: PacedOutput;
  private readonly ecus: EmulatedEcu[];
  private readonly engine: EngineEcu;
  private readonly dtcView: DtcView;
  private readonly logger: Logger;
  private readonly carProtocol: CarProtocol;
  private latencyMs: number;
  private readonly version: string;
  private readonly resetMs: number;
  private readonly searchMs: number;
  private readonly searchFailMs: number;
  private readonly trailingSpace: boolean;
  private readonly onAnswer: ((answer: Elm327Answer) => void) | undefined;
  private settings: Settings = { ...DEFAULTS };
  /** The protocol found by a search (or set), until ATPC/ATZ/ATSP. */
  private connected: string | undefined;
  private line = '';
  private lineOverflow = false;
  private lastCommand = '';
  private busy: Busy | undefined;
  private ecuResponding = true;
  private busPresent = true;
  private closed = false;

  constructor(options: Elm327EmulatorOptions = {}) {
    this.vehicle = options.vehicle ?? new LiveVehicle(options);
    this.vin = (options.vin ?? vinForSeed(options.seed ?? 1)).toUpperCase();
    if (!VIN_PATTERN.test(this.vin)) throw new RangeError(`VIN must be 17 characters A-Z/0-9 without I, O, Q; got '${options.vin}'`);
    this.logger = options.logger ?? createLogger('elm327');
    this.carProtocol = options.protocol ?? '6';
    this.latencyMs = options.ecuLatencyMs ?? 30;
    this.version = options.version ?? 'ELM327 v1.5';
    this.resetMs = options.resetMs ?? 250;
    this.searchMs = options.searchMs ?? 120;
    this.searchFailMs = options.searchFailMs ?? 1500;
    this.trailingSpace = options.trailingSpace ?? false;
    this.onAnswer = options.onAnswer;
    this.out = new PacedOutput({ baudRate: options.baudRate ?? 38400 });
    this.dtcView = new DtcView(this.vehicle);
    this.engine = new EngineEcu(this.vehicle, this.dtcView, this.vin);
    this.ecus = [this.engine, ...(options.transmissionEcu === false ? [] : [new TransmissionEcu()])];
  }

  /** Adds a listener for the bytes the adapter sends; returns a function that removes it. */
  onOutput(listener: (bytes: Uint8Array) => void): () => void {
    return this.out.onData(listener);
  }

  /** Bytes from the host (the reader's writes), in any chunking. */
  handleInput(chunk: Uint8Array | string): void {
    if (this.closed) return;
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('latin1');
    for (const ch of text) this.inputChar(ch);
  }

  /** Ignition off: the ECUs stop answering (UNABLE TO CONNECT while searching, NO DATA after). */
  setIgnition(on: boolean): void {
    this.vehicle.setIgnition(on);
  }

  /** An ECU that hangs: requests time out with NO DATA while the ignition is still on. */
  setEcuResponding(on: boolean): void {
    this.ecuResponding = on;
  }

  /** A slower or faster ECU from the next request on (ms until its answer). */
  setEcuLatencyMs(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`ECU latency must be ≥ 0 ms, got ${ms}`);
    this.latencyMs = ms;
  }

  /** The CAN wires: without them every request on a CAN protocol ends in CAN ERROR. */
  setBusConnected(on: boolean): void {
    this.busPresent = on;
  }

  /** Line noise: bytes the host receives that no command caused. */
  injectGarbage(bytes: Uint8Array | string = Uint8Array.of(0xff, 0x00, 0x3f, 0xa5, 0x0d, 0x7e, 0x80, 0x23)): void {
    this.out.write(bytes);
  }

  /** Power cycle: settings back to defaults, protocol forgotten, queued output lost. */
  powerCycle(): void {
    this.cancelBusy();
    this.out.clear();
    this.settings = { ...DEFAULTS };
    this.connected = undefined;
    this.line = '';
    this.lineOverflow = false;
    this.lastCommand = '';
  }

  /** The signal values behind the most recent service 01 answer (for tests comparing decoded values). */
  get lastServedValues(): VehicleSignals | undefined {
    return this.engine.lastValues;
  }

  /** Service 01 PIDs the engine ECU supports. */
  get supportedPids(): readonly number[] {
    return this.engine.supportedPids;
  }

  /** Resolves when all output queued so far has left the adapter. */
  drained(): Promise<void> {
    return this.out.idle();
  }

  /** Output bytes dropped because nobody read them (the transmit queue bound). */
  get droppedOutputBytes(): number {
    return this.out.droppedBytes;
  }

  close(): void {
    this.closed = true;
    this.cancelBusy();
    this.out.close();
  }

  // ---- input ---------------------------------------------------------------------------------

  private inputChar(ch: string): void {
    if (this.busy) {
      // The chip is busy: during a reset input is lost; during a request any character stops it.
      if (this.busy.kind === 'request') this.interrupt();
      return;
    }
    if (ch === '\n' || ch === '\0') return; // the chip ignores linefeeds and NULs
    if (ch === '\r') {
      if (this.settings.echo) this.out.write(this.eol());
      const line = this.line;
      const overflow = this.lineOverflow;
      this.line = '';
      this.lineOverflow = false;
      this.command(line, overflow);
      return;
    }
    if (this.settings.echo) this.out.write(ch);
    if (this.line.length >= MAX_LINE) this.lineOverflow = true;
    else this.line += ch;
  }

  private interrupt(): void {
    this.cancelBusy();
    this.stats.interrupted++;
    this.finish(['STOPPED']);
  }

  private cancelBusy(): void {
    const b = this.busy;
    if (!b) return;
    if (b.kind === 'reset') clearTimeout(b.timer);
    else for (const t of b.timers) clearTimeout(t);
    this.busy = undefined;
  }

  private eol(): string {
    return this.settings.linefeeds ? '\r\n' : '\r';
  }

  /** Lines, then an empty line and the prompt. */
  private finish(lines: readonly string[]): void {
    const eol = this.eol();
    this.out.write(lines.map((l) => l + eol).join('') + eol + '>');
  }

  private command(raw: string, overflow: boolean): void {
    this.stats.commands++;
    if (overflow) {
      this.stats.linesTooLong++;
      return this.finish(['?']);
    }
    // The chip ignores spaces and case everywhere in a command.
    let cmd = raw.replace(/[\s]/g, '').toUpperCase();
    if (cmd === '') {
      // A bare CR repeats the last command (how scan tools poll one PID fast).
      if (this.lastCommand === '') return this.finish([]);
      cmd = this.lastCommand;
    }
    this.lastCommand = cmd;
    this.logger.debug('command', { cmd });
    if (cmd.startsWith('AT')) return this.atCommand(cmd.slice(2));
    if (/^[0-9A-F]+$/.test(cmd)) return this.obdRequest(cmd);
    this.finish(['?']);
  }

  // ---- AT commands ---------------------------------------------------------------------------

  private atCommand(c: string): void {
    const s = this.settings;
    const ok = (): void => this.finish(['OK']);
    let m: RegExpExecArray | null;
    if (c === 'Z') return this.reset(this.resetMs);
    if (c === 'WS') return this.reset(5);
    if (c === 'D') {
      this.settings = { ...DEFAULTS, protocol: s.protocol, auto: s.auto };
      return ok();
    }
    if (c === 'I') return this.finish([this.version]);
    if (c === '@1') return this.finish(['OBDII to RS232 Interpreter']);
    if (c === 'IGN') return this.finish([this.vehicle.ignitionOn ? 'ON' : 'OFF']);
    if (c === 'RV') return this.finish([`${this.batteryVoltage().toFixed(1)}V`]);
    if (c === 'DP') return this.finish([this.describeProtocol()]);
    if (c === 'DPN') return this.finish([`${s.auto ? 'A' : ''}${this.connected ?? s.protocol}`]);
    if (c === 'PC') {
      this.connected = undefined;
      return ok();
    }
    if ((m = /^([ELSHMR]|AT|CAF|CFC|AL|V|KW)([0-2])$/.exec(c))) {
      const [, name, digit] = m as unknown as [string, string, string];
      const on = digit === '1';
      if (digit === '2' && name !== 'AT') return this.finish(['?']);
      switch (name) {
        case 'E': s.echo = on; break;
        case 'L': s.linefeeds = on; break;
        case 'S': s.spaces = on; break;
        case 'H': s.headers = on; break;
        case 'R': s.responses = on; break;
        case 'CAF': s.caf = on; break;
        case 'AT': s.adaptive = Number(digit) as 0 | 1 | 2; break;
        default: break; // M, CFC, V, KW: accepted, no effect on the emulated car
      }
      return ok();
    }
    if (c === 'AL' || c === 'NL') return ok();
    if ((m = /^ST([0-9A-F]{2})$/.exec(c))) {
      const hh = parseInt(m[1]!, 16);
      s.timeoutMs = (hh === 0 ? 0x32 : hh) * 4;
      return ok();
    }
    if ((m = /^(?:SP|TP)(A?)([0-9A-C])$/.exec(c))) {
      const digit = m[2]!;
      s.auto = digit === '0' || m[1] === 'A';
      s.protocol = digit;
      this.connected = undefined;
      return ok();
    }
    if ((m = /^SH([0-9A-F]{3}|[0-9A-F]{6}|[0-9A-F]{8})$/.exec(c))) {
      s.header = m[1]!;
      if (s.header.length === 8) {
        s.priority = parseInt(s.header.slice(0, 2), 16) & 0x1f;
        s.header = s.header.slice(2);
      }
      return ok();
    }
    if ((m = /^CP([0-9A-F]{2})$/.exec(c))) {
      s.priority = parseInt(m[1]!, 16) & 0x1f;
      return ok();
    }
    this.finish(['?']);
  }

  private reset(durationMs: number): void {
    this.cancelBusy();
    this.settings = { ...DEFAULTS };
    this.connected = undefined;
    this.lastCommand = '';
    const timer = setTimeout(() => {
      this.busy = undefined;
      const eol = this.eol();
      this.out.write(`${eol}${eol}${this.version}${eol}${eol}>`);
    }, durationMs);
    this.busy = { kind: 'reset', timer };
  }

  private batteryVoltage(): number {
    // The adapter measures pin 16 (battery): the simulator's system voltage.
    return this.vehicle.values().CONTROL_MODULE_VOLTAGE;
  }

  private describeProtocol(): string {
    const s = this.settings;
    const p = this.connected ?? s.protocol;
    if (s.auto) return this.connected ? `AUTO, ${elm327Protocol(p)?.display}` : 'AUTO';
    return elm327Protocol(p)?.display ?? 'AUTO';
  }

  // ---- OBD requests --------------------------------------------------------------------------

  private obdRequest(hex: string): void {
    const s = this.settings;
    this.stats.obdRequests++;
    // An odd digit at the end is the number of answers to wait for (`010C1`).
    let expected = 0;
    if (hex.length % 2 === 1) {
      expected = parseInt(hex.slice(-1), 16);
      hex = hex.slice(0, -1);
    }
    const bytes = Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
    if (bytes.length === 0 || bytes.length > (s.caf ? 7 : 8)) return this.finish(['?']);
    let payload: Uint8Array | undefined = bytes;
    if (!s.caf) {
      // Without auto-formatting the host sends the PCI byte itself; the ECUs read a single frame.
      const len = bytes[0]! & 0x0f;
      payload = bytes[0]! >> 4 === 0 && len > 0 && len < bytes.length ? bytes.subarray(1, 1 + len) : undefined;
    }
    const timers: NodeJS.Timeout[] = [];
    this.busy = { kind: 'request', timers };
    const after = (ms: number, fn: () => void): void => {
      timers.push(setTimeout(fn, ms));
    };
    const done = (lines: string[]): void => {
      this.busy = undefined;
      this.finish(lines);
    };

    const carReachable = (): boolean => this.busPresent && this.ecuResponding && this.vehicle.ignitionOn;
    const protocol = this.connected ?? (s.auto ? undefined : s.protocol);
    if (protocol === undefined) {
      // Automatic search: the chip tries protocols until one answers 0100.
      this.out.write(`SEARCHING...${this.eol()}`);
      if (!carReachable()) {
        after(this.searchFailMs, () => done(['UNABLE TO CONNECT']));
        return;
      }
      after(this.searchMs, () => {
        // Found only once the search completes: a search stopped midway leaves no protocol.
        this.connected = this.carProtocol;
        this.onBus(this.carProtocol, payload, expected, after, done);
      });
      return;
    }
    this.onBus(protocol, payload, expected, after, done);
  }

  /** The request on a fixed protocol: bus errors, silence, or the ECUs' answers. */
  private onBus(
    protocol: string,
    payload: Uint8Array | undefined,
    expected: number,
    after: (ms: number, fn: () => void) => void,
    done: (lines: string[]) => void,
  ): void {
    const s = this.settings;
    const isCan = elm327Protocol(protocol)?.canIdBits !== undefined;
    const noData = (): void => {
      this.stats.noData++;
      after(s.timeoutMs, () => done(['NO DATA']));
    };
    if (['3', '4', '5'].includes(protocol)) {
      // K-line protocols: the slow init finds no ECU on this car.
      after(this.searchFailMs, () => done(['BUS INIT: ...ERROR']));
      return;
    }
    if (isCan && !this.busPresent) {
      after(s.timeoutMs, () => done(['CAN ERROR']));
      return;
    }
    // CAN at the wrong bit rate: nobody acknowledges the frame.
    if (isCan && !['6', '7'].includes(protocol)) {
      after(s.timeoutMs, () => done(['CAN ERROR']));
      return;
    }
    if (protocol !== this.carProtocol || !payload || !this.ecuResponding || !this.vehicle.ignitionOn) return noData();

    const idBits = elm327Protocol(protocol)?.canIdBits ?? 11;
    const targets = this.ecus.filter((ecu) => this.addressed(ecu, idBits));
    const answers: { ecu: EmulatedEcu; payload: Uint8Array; notes: AnswerNote[] }[] = [];
    for (const ecu of targets) {
      const notes: AnswerNote[] = [];
      const answer = ecu.answer(payload, this.onAnswer ? (n) => notes.push(n) : undefined);
      if (answer) answers.push({ ecu, payload: answer, notes });
    }
    if (answers.length === 0) return noData();
    // With a count after the request the chip stops listening once that many ECUs have answered.
    if (expected > 0) answers.splice(expected);
    if (!s.responses) {
      after(this.latencyMs, () => done([]));
      return;
    }
    const display: DisplaySettings = { headers: s.headers, spaces: s.spaces, caf: s.caf, trailingSpace: this.trailingSpace };
    const eol = this.eol();
    answers.forEach((a, i) => {
      after(this.latencyMs + i * ECU_SPACING_MS, () => {
        const id = idBits === 11 ? 0x7e8 + a.ecu.index : ((s.priority << 24) | 0xdaf100 | ecuAddress29(a.ecu)) >>> 0;
        const lines = formatResponse(responseFrames(id, idBits, a.payload), display);
        this.out.write(lines.map((l) => l + eol).join(''));
        if (this.onAnswer) this.noteAnswers(id, idBits, a.notes);
      });
    });
    const lastAt = this.latencyMs + (answers.length - 1) * ECU_SPACING_MS;
    const complete = expected > 0 && answers.length >= expected;
    after(lastAt + (complete ? 0 : this.waitForMoreMs()), () => {
      this.busy = undefined;
      this.out.write(eol + '>');
    });
  }

  private noteAnswers(id: number, idBits: number, notes: readonly AnswerNote[]): void {
    const t = Date.now();
    const ecu = id.toString(16).toUpperCase().padStart(idBits === 11 ? 3 : 8, '0');
    for (const n of notes) {
      const raw = Buffer.from(n.raw).toString('hex').toUpperCase();
      this.onAnswer?.({ t, ecu, service: n.service, ...(n.pid === undefined ? {} : { pid: n.pid }), name: n.name, value: n.value, raw });
    }
  }

  /** How long the chip listens for further ECUs after an answer. */
  private waitForMoreMs(): number {
    const s = this.settings;
    // Adaptive timing learns how fast this car answers and cuts the wait (AT2 more aggressively).
    if (s.adaptive === 1) return Math.min(s.timeoutMs, Math.round(this.latencyMs * 1.5 + 20));
    if (s.adaptive === 2) return Math.min(s.timeoutMs, Math.round(this.latencyMs + 10));
    return s.timeoutMs;
  }

  /** Whether the current header (ATSH; functional by default) reaches this ECU. */
  private addressed(ecu: EmulatedEcu, idBits: 11 | 29): boolean {
    const h = this.settings.header;
    if (idBits === 11) {
      const id = h === undefined ? 0x7df : parseInt(h, 16) & 0x7ff;
      return id === 0x7df || id === 0x7e0 + ecu.index;
    }
    const low = h === undefined ? 0xdb33f1 : parseInt(h, 16) & 0xffffff;
    return low === 0xdb33f1 || low === (0xda00f1 | (ecuAddress29(ecu) << 8));
  }
}

/** ISO 15765-4 29-bit addresses: engine 10, transmission 18. */
function ecuAddress29(ecu: EmulatedEcu): number {
  return ecu.index === 0 ? 0x10 : 0x18;
}
