/**
 * One ELM327 adapter on a serial port: open, reset, initialise, talk to the car one command at
 * a time, and come back by itself after the adapter is unplugged or the ignition is switched off.
 *
 * Guarantees at this seam:
 * - `request()` never rejects and never throws for conditions expected in a car: every outcome
 *   (data, NO DATA, ?, UNABLE TO CONNECT, CAN ERROR, timeout, garbage, adapter gone, session not
 *   ready, queue full) is an `ElmReply` with a `status`.
 * - At most one command is on the wire at a time: the adapter aborts a command when any byte
 *   arrives while it works (it prints STOPPED), so a second write would cost both answers.
 * - Requests wait in a queue of at most `queueLimit`; beyond it a request is answered at once with
 *   `queue-full` and counted (newest refused: the caller is the one producing too fast).
 * - Requests are accepted only in state `ready`; otherwise they are answered at once with
 *   `not-ready`. The session moves disconnected → connecting → initialising → ready, and to
 *   `no-ecu` when the adapter answers but the car does not (ignition off); it leaves `no-ecu`
 *   when the car answers 0100 again and goes back to `disconnected` when the port closes or the
 *   adapter stops answering. Reconnects and ECU probes back off exponentially with jitter.
 * - `state` events fire on every change, after the state changed; the change is also logged.
 */
import { EventEmitter } from 'node:events';
import { SerialPort, SerialPortMock } from 'serialport';
import { Backoff, sleep } from '../../common/backoff.ts';
import { type Logger, silentLogger } from '../../common/logger.ts';
import { elm327Protocol } from '../../contracts/elm327-protocols.ts';
import { type ElmCondition, isAtCommand, parseResponse } from './response-lines.ts';

export type SessionState = 'disconnected' | 'connecting' | 'initialising' | 'ready' | 'no-ecu' | 'closed';

export type ElmStatus =
  | 'ok' //          an AT command answered without an error message
  | 'data' //        an OBD request answered with at least one data line
  | ElmCondition
  | 'timeout' //     no prompt within the command's timeout
  | 'garbage' //     a prompt, but nothing recognisable before it
  | 'disconnected' // the port closed or failed while the command was pending
  | 'not-ready' //   the session was not in state `ready`
  | 'queue-full'; // the request queue was at its bound

export interface ElmReply {
  readonly command: string;
  readonly status: ElmStatus;
  /** Payload lines: hex data of an OBD request (upper case), text of an AT command. */
  readonly lines: readonly string[];
  /** Every condition reported in words (a reply may carry data and a condition). */
  readonly conditions: readonly ElmCondition[];
  /** The adapter searched for a protocol before answering. */
  readonly searched: boolean;
  /** Lines that were neither data nor a known message. */
  readonly garbage: readonly string[];
  /** The raw text before the prompt (empty for replies that never reached the adapter). */
  readonly raw: string;
  readonly elapsedMs: number;
}

/** The part of a serialport stream the session uses; `SerialPort` and `SerialPortMock` both fit. */
export interface SerialLink {
  readonly isOpen: boolean;
  open(callback: (error: Error | null) => void): void;
  write(data: string | Buffer, callback?: (error: Error | null | undefined) => void): boolean;
  close(callback?: (error: Error | null) => void): void;
  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'close' | 'error', listener: (error?: Error | null) => void): this;
  removeAllListeners(): this;
}

export type PortFactory = (options: { path: string; baudRate: number }) => SerialLink;

/** The real serial port (bindings-cpp). */
export const nativePortFactory: PortFactory = ({ path, baudRate }) => new SerialPort({ path, baudRate, autoOpen: false });

/** serialport's MockBinding (tests, benchmarks): the emulator in simulator/elm327 attaches to such paths. */
export const mockPortFactory: PortFactory = ({ path, baudRate }) => new SerialPortMock({ path, baudRate, autoOpen: false });

export interface AdapterInfo {
  /** What ATI printed, e.g. `ELM327 v1.5` (clones print versions that never existed). */
  readonly version: string;
  /** Protocol number as ATDPN prints it without the `A` (auto) prefix: `1`…`C`. */
  readonly protocol: string;
  readonly protocolName: string;
  /** The protocol was found by automatic search (ATDPN printed `A…`). */
  readonly auto: boolean;
  readonly isCan: boolean;
  /** CAN identifier length (11 or 29 bits); undefined on the older protocols. */
  readonly canIdBits: 11 | 29 | undefined;
  /** Whether the adapter prints spaces between bytes (ATS0 may be unsupported: v1.0 and some clones). */
  readonly spaces: boolean;
}

export interface Elm327SessionOptions {
  path: string;
  /** Serial speed; most USB and Bluetooth ELM327 adapters ship at 38400. */
  baudRate?: number;
  /** Opens the port; tests pass one that builds a `SerialPortMock`. */
  openPort?: PortFactory;
  /** ATSP argument: `0` = automatic search (default), `1`…`C` = that protocol. */
  protocol?: string;
  /** ATAT argument: 0 off, 1 adaptive timing (default), 2 aggressive adaptive timing. */
  adaptiveTiming?: 0 | 1 | 2;
  /** Timeout of an ordinary command (ms). */
  commandTimeoutMs?: number;
  /** Timeout of ATZ, which restarts the adapter (ms). */
  resetTimeoutMs?: number;
  /** Timeout of the first OBD request, which may run a protocol search over every bus (ms). */
  searchTimeoutMs?: number;
  /** Most requests waiting for the line; beyond it requests get `queue-full`. */
  queueLimit?: number;
  /** Delay between reconnect attempts after the port is lost (ms). */
  reconnectBackoff?: { initialMs: number; maxMs: number };
  /** Delay between 0100 probes while the car does not answer (ms). */
  ecuProbeBackoff?: { initialMs: number; maxMs: number };
  /** Consecutive OBD requests without data before the session checks whether the car is still there. */
  failuresBeforeEcuCheck?: number;
  logger?: Logger;
}

export interface SessionCounters {
  opens: number;
  openFailures: number;
  portLosses: number;
  resets: number;
  initFailures: number;
  ecuLost: number;
  ecuFound: number;
  requests: number;
  notReady: number;
  queueRejected: number;
  timeouts: number;
  resyncs: number;
  garbageLines: number;
  /** Bytes that arrived while no command was in flight (late answers, noise). */
  unsolicitedBytes: number;
  /** Replies per status, including those of the session's own commands. */
  replies: Partial<Record<ElmStatus, number>>;
}

export interface Elm327SessionEvents {
  state: [state: SessionState, previous: SessionState, reason: string];
}

interface Pending {
  command: string;
  timeoutMs: number;
  resolve: (reply: ElmReply) => void;
}

/** The most bytes held while waiting for a prompt; an adapter that streams more is talking nonsense. */
const MAX_RX_BYTES = 16 * 1024;

const OBD_FAILURES: ReadonlySet<ElmStatus> = new Set<ElmStatus>([
  'no-data',
  'unable-to-connect',
  'bus-init-error',
  'can-error',
  'bus-error',
  'bus-busy',
  'timeout',
  'garbage',
  'stopped',
]);

/** A wait for one prompt; `deliver` ends it. */
interface Waiter {
  deliver(text: string | undefined, reason: 'prompt' | 'timeout' | 'closed' | 'overflow'): void;
}

export class Elm327Session extends EventEmitter<Elm327SessionEvents> {
  private readonly log: Logger;
  private readonly openPort: PortFactory;
  private readonly baudRate: number;
  private readonly commandTimeoutMs: number;
  private readonly resetTimeoutMs: number;
  private readonly searchTimeoutMs: number;
  private readonly queueLimit: number;
  private readonly failuresBeforeEcuCheck: number;
  private readonly reconnect: Backoff;
  private readonly ecuProbe: Backoff;
  private readonly stopController = new AbortController();

  private link: SerialLink | undefined;
  private rx = '';
  private waiter: Waiter | undefined;
  private lineBusy: Promise<void> = Promise.resolve();
  private queue: Pending[] = [];
  private working = false;
  private needsResync = false;
  private consecutiveObdFailures = 0;
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private portLost: (() => void) | undefined;
  /** Why the port went away, for the `disconnected` state's reason. */
  private lostReason = '';
  /** Consecutive failed opens, for logging an outage once rather than every retry. */
  private failedOpens = 0;

  private currentState: SessionState = 'disconnected';
  private currentInfo: AdapterInfo | undefined;
  /** Counts successful initialisations; a consumer re-discovers the car when it changes. */
  private initGeneration = 0;

  readonly counters: SessionCounters = {
    opens: 0,
    openFailures: 0,
    portLosses: 0,
    resets: 0,
    initFailures: 0,
    ecuLost: 0,
    ecuFound: 0,
    requests: 0,
    notReady: 0,
    queueRejected: 0,
    timeouts: 0,
    resyncs: 0,
    garbageLines: 0,
    unsolicitedBytes: 0,
    replies: {},
  };

  constructor(private readonly options: Elm327SessionOptions) {
    super();
    this.log = (options.logger ?? silentLogger).child('elm327');
    this.openPort = options.openPort ?? nativePortFactory;
    this.baudRate = options.baudRate ?? 38400;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 2000;
    this.resetTimeoutMs = options.resetTimeoutMs ?? 4000;
    this.searchTimeoutMs = options.searchTimeoutMs ?? 20_000;
    this.queueLimit = options.queueLimit ?? 32;
    this.failuresBeforeEcuCheck = options.failuresBeforeEcuCheck ?? 3;
    this.reconnect = new Backoff(options.reconnectBackoff ?? { initialMs: 250, maxMs: 10_000 });
    this.ecuProbe = new Backoff(options.ecuProbeBackoff ?? { initialMs: 500, maxMs: 5000 });
    if (options.protocol !== undefined && options.protocol !== '0' && !elm327Protocol(options.protocol.toUpperCase())) {
      throw new TypeError(`Elm327Session: protocol must be 0 or 1…C, got ${options.protocol}`);
    }
  }

  get state(): SessionState {
    return this.currentState;
  }

  /** Adapter and protocol as found by the last initialisation; undefined before the first. */
  get info(): AdapterInfo | undefined {
    return this.currentInfo;
  }

  get generation(): number {
    return this.initGeneration;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Starts connecting in the background; resolves at once. Use `waitForState` to wait for `ready`. */
  start(): void {
    if (this.running || this.currentState === 'closed') return;
    this.running = this.runLoop().catch((error: unknown) => {
      // The loop handles every expected condition; reaching here is a bug, so say it loudly.
      this.log.error('session loop failed', { error });
    });
  }

  /**
   * Resolves with true when the session is in one of `states`, false when `timeoutMs` (if given)
   * passes first or the session closes.
   */
  waitForState(states: SessionState | readonly SessionState[], timeoutMs?: number): Promise<boolean> {
    const wanted = typeof states === 'string' ? [states] : states;
    if (wanted.includes(this.currentState)) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const onState = (state: SessionState): void => {
        if (wanted.includes(state)) finish(true);
        else if (state === 'closed') finish(false);
      };
      const finish = (result: boolean): void => {
        if (timer) clearTimeout(timer);
        this.off('state', onState);
        resolve(result);
      };
      this.on('state', onState);
      if (timeoutMs !== undefined) timer = setTimeout(() => finish(false), timeoutMs);
    });
  }

  /**
   * Sends one command (an OBD request such as `010C0D` or an AT command) once the line is free,
   * and resolves with the adapter's reply. Never rejects.
   */
  request(command: string, options: { timeoutMs?: number } = {}): Promise<ElmReply> {
    this.counters.requests += 1;
    if (this.currentState !== 'ready') {
      this.counters.notReady += 1;
      return Promise.resolve(this.synthetic(command, 'not-ready'));
    }
    if (this.queue.length >= this.queueLimit) {
      this.counters.queueRejected += 1;
      return Promise.resolve(this.synthetic(command, 'queue-full'));
    }
    return new Promise((resolve) => {
      this.queue.push({ command, timeoutMs: options.timeoutMs ?? this.commandTimeoutMs, resolve });
      void this.drainQueue();
    });
  }

  /** Closes the port and ends the session; pending requests resolve with `not-ready`. */
  async close(): Promise<void> {
    if (this.currentState === 'closed') return;
    this.stopController.abort();
    this.wake?.();
    this.failQueue('not-ready');
    this.waiter?.deliver(undefined, 'closed');
    await this.closeLink();
    await this.running;
    this.setState('closed', 'closed by caller');
  }

  // ---- queue -------------------------------------------------------------------------------

  private async drainQueue(): Promise<void> {
    if (this.working) return;
    this.working = true;
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) {
        if (this.currentState !== 'ready') {
          this.counters.notReady += 1;
          next.resolve(this.synthetic(next.command, 'not-ready'));
          continue;
        }
        const reply = await this.transact(next.command, next.timeoutMs);
        this.watchHealth(reply);
        next.resolve(reply);
      }
    } finally {
      this.working = false;
    }
  }

  private failQueue(status: ElmStatus): void {
    const waiting = this.queue;
    this.queue = [];
    for (const p of waiting) {
      if (status === 'not-ready') this.counters.notReady += 1;
      p.resolve(this.synthetic(p.command, status));
    }
  }

  /** Several OBD requests in a row without data: ask the run loop to check whether the car is still there. */
  private watchHealth(reply: ElmReply): void {
    if (isAtCommand(reply.command)) return;
    if (reply.status === 'data') {
      this.consecutiveObdFailures = 0;
      return;
    }
    if (!OBD_FAILURES.has(reply.status)) return;
    this.consecutiveObdFailures += 1;
    if (this.consecutiveObdFailures >= this.failuresBeforeEcuCheck) this.wake?.();
  }

  // ---- the line ----------------------------------------------------------------------------

  /**
   * Writes one command and waits for the prompt. Serialised: a second caller waits until the
   * first reply is in. After a timeout the next transaction first resynchronises with the adapter.
   */
  private async transact(command: string, timeoutMs: number): Promise<ElmReply> {
    const previous = this.lineBusy;
    let release!: () => void;
    this.lineBusy = new Promise((r) => (release = r));
    await previous;
    try {
      if (this.needsResync && !(await this.resync())) {
        // Not even a bare CR brings a prompt: the adapter is gone (powered off, Bluetooth out of
        // range) although the port is still open. Drop the port; the run loop starts over with ATZ.
        this.abandonLink('adapter stopped answering');
        return this.record(this.synthetic(command, 'timeout'));
      }
      return this.record(await this.exchange(command, timeoutMs));
    } finally {
      release();
    }
  }

  private async exchange(command: string, timeoutMs: number): Promise<ElmReply> {
    const link = this.link;
    if (!link?.isOpen) return this.synthetic(command, 'disconnected');
    const started = Date.now();
    // Anything still in the buffer belongs to an earlier exchange.
    if (this.rx.length > 0) this.counters.unsolicitedBytes += this.rx.length;
    this.rx = '';
    const answer = this.waitForPrompt(timeoutMs);
    link.write(`${command}\r`, (error) => {
      if (error) this.waiter?.deliver(undefined, 'closed');
    });
    const { text, reason } = await answer;
    const elapsedMs = Date.now() - started;
    if (reason === 'closed') return { ...this.synthetic(command, 'disconnected'), raw: text ?? '', elapsedMs };
    if (reason === 'timeout') {
      this.counters.timeouts += 1;
      this.needsResync = true;
      return { ...this.synthetic(command, 'timeout'), raw: text ?? '', elapsedMs };
    }
    if (reason === 'overflow') {
      this.needsResync = true;
      return { ...this.synthetic(command, 'garbage'), raw: (text ?? '').slice(0, 256), elapsedMs };
    }
    return this.classify(command, text ?? '', elapsedMs);
  }

  private classify(command: string, raw: string, elapsedMs: number): ElmReply {
    const isAt = isAtCommand(command);
    const parsed = parseResponse(raw, command, isAt);
    let status: ElmStatus;
    if (!isAt && parsed.lines.length > 0) status = 'data';
    else if (parsed.conditions.length > 0) status = parsed.conditions[0]!;
    else if (isAt && parsed.garbage.length === 0) status = 'ok';
    else status = parsed.lines.length > 0 ? 'data' : 'garbage';
    return { command, status, lines: parsed.lines, conditions: parsed.conditions, searched: parsed.searched, garbage: parsed.garbage, raw, elapsedMs };
  }

  private record(reply: ElmReply): ElmReply {
    this.counters.replies[reply.status] = (this.counters.replies[reply.status] ?? 0) + 1;
    this.counters.garbageLines += reply.garbage.length;
    if (reply.garbage.length > 0) this.log.debug('garbage on the line', { command: reply.command, lines: reply.garbage.slice(0, 3) });
    return reply;
  }

  private waitForPrompt(timeoutMs: number): Promise<{ text: string | undefined; reason: 'prompt' | 'timeout' | 'closed' | 'overflow' }> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => waiter.deliver(this.rx, 'timeout'), timeoutMs);
      const waiter: Waiter = {
        deliver: (text, reason) => {
          clearTimeout(timer);
          if (this.waiter === waiter) this.waiter = undefined;
          resolve({ text, reason });
        },
      };
      this.waiter = waiter;
    });
  }

  private onData(chunk: Buffer): void {
    // latin1 keeps one char per byte, so noise cannot merge with the prompt into a multi-byte char.
    this.rx += chunk.toString('latin1');
    const waiter = this.waiter;
    if (!waiter) {
      this.counters.unsolicitedBytes += chunk.length;
      if (this.rx.length > MAX_RX_BYTES) this.rx = this.rx.slice(-1024);
      return;
    }
    const prompt = this.rx.indexOf('>');
    if (prompt >= 0) {
      const text = this.rx.slice(0, prompt);
      this.rx = this.rx.slice(prompt + 1);
      waiter.deliver(text, 'prompt');
    } else if (this.rx.length > MAX_RX_BYTES) {
      const text = this.rx;
      this.rx = '';
      waiter.deliver(text, 'overflow');
    }
  }

  /**
   * Brings the line back to a known state after a command timed out: the adapter may still be
   * working on it, or its late answer may still be arriving. A bare CR aborts a busy adapter
   * (STOPPED) or makes an idle one repeat its last command; either way a prompt follows, and
   * everything up to it is discarded. False when no prompt comes: the adapter is not answering.
   */
  private async resync(): Promise<boolean> {
    this.counters.resyncs += 1;
    const link = this.link;
    if (!link?.isOpen) return false;
    // A late answer may be on its way: give it a moment to end with its prompt.
    const late = await this.waitForPrompt(Math.min(300, this.commandTimeoutMs));
    if (late.reason === 'prompt') {
      await sleep(20);
      this.rx = '';
      this.needsResync = false;
      return true;
    }
    this.rx = '';
    const answer = this.waitForPrompt(this.commandTimeoutMs);
    link.write('\r');
    const { reason } = await answer;
    if (reason !== 'prompt') return false;
    // The repeated command's own prompt may trail the STOPPED one; let it arrive and drop it.
    await sleep(50);
    this.rx = '';
    this.needsResync = false;
    return true;
  }

  private synthetic(command: string, status: ElmStatus): ElmReply {
    return { command, status, lines: [], conditions: [], searched: false, garbage: [], raw: '', elapsedMs: 0 };
  }

  // ---- connection lifecycle ----------------------------------------------------------------

  private setState(state: SessionState, reason: string): void {
    if (state === this.currentState) return;
    const previous = this.currentState;
    this.currentState = state;
    const fields = { state, previous, reason, path: this.options.path };
    if (state === 'ready') this.log.info('adapter ready', { ...fields, protocol: this.currentInfo?.protocolName, adapter: this.currentInfo?.version });
    else if (state === 'no-ecu' || (state === 'disconnected' && previous !== 'connecting')) this.log.warn(`adapter ${state}`, fields);
    else this.log.debug(`adapter ${state}`, fields);
    this.emit('state', state, previous, reason);
  }

  private get stopped(): boolean {
    return this.stopController.signal.aborted;
  }

  /** Sleeps `ms`, waking early on close, a lost port, or a health alarm from `watchHealth`. */
  private async pause(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
    this.wake = undefined;
  }

  private async runLoop(): Promise<void> {
    while (!this.stopped) {
      this.setState('connecting', 'opening port');
      const opened = await this.openLink();
      if (!opened.ok) {
        this.counters.openFailures += 1;
        this.failedOpens += 1;
        // Say it once when the adapter goes missing, then now and then, not on every retry.
        if (this.failedOpens === 1 || this.failedOpens % 20 === 0) this.log.warn('cannot open the adapter\'s port; retrying', { reason: opened.reason, attempts: this.failedOpens });
        this.setState('disconnected', opened.reason);
        await this.pause(this.reconnect.next());
        continue;
      }
      this.counters.opens += 1;
      this.failedOpens = 0;
      if (this.stopped) {
        // close() ran while the port was opening.
        await this.closeLink();
        break;
      }
      this.setState('initialising', 'port open');
      const init = await this.initialise();
      if (!init.ok) {
        this.counters.initFailures += 1;
        await this.closeLink();
        if (this.stopped) break;
        this.setState('disconnected', init.reason);
        await this.pause(this.reconnect.next());
        continue;
      }
      this.reconnect.reset();
      this.initGeneration += 1;
      const lost = await this.serve();
      this.failQueue(this.stopped ? 'not-ready' : 'disconnected');
      await this.closeLink();
      if (this.stopped) break;
      this.setState('disconnected', lost);
      await this.pause(this.reconnect.next());
    }
  }

  private openLink(): Promise<{ ok: true } | { ok: false; reason: string }> {
    return new Promise((resolve) => {
      let link: SerialLink;
      try {
        link = this.openPort({ path: this.options.path, baudRate: this.baudRate });
      } catch (error) {
        resolve({ ok: false, reason: `cannot open ${this.options.path}: ${error instanceof Error ? error.message : String(error)}` });
        return;
      }
      link.on('error', (error) => {
        this.log.debug('serial port error', { error: error ?? undefined });
        this.onLinkLost(link, error?.message ?? 'port error');
      });
      link.on('close', () => this.onLinkLost(link, 'port closed'));
      link.on('data', (chunk) => this.onData(chunk));
      link.open((error) => {
        if (error) {
          link.removeAllListeners();
          resolve({ ok: false, reason: `cannot open ${this.options.path}: ${error.message}` });
          return;
        }
        this.link = link;
        this.rx = '';
        this.needsResync = false;
        resolve({ ok: true });
      });
    });
  }

  private onLinkLost(link: SerialLink, reason: string): void {
    if (this.link !== link) return;
    this.link = undefined;
    this.counters.portLosses += 1;
    link.removeAllListeners();
    // The stream may still emit an error after close; keep one listener so it is not thrown.
    link.on('error', () => {});
    this.waiter?.deliver(undefined, 'closed');
    this.portLost?.();
    this.wake?.();
    this.lostReason = reason;
  }

  private abandonLink(reason: string): void {
    const link = this.link;
    if (!link) return;
    this.onLinkLost(link, reason);
    if (link.isOpen) link.close();
  }

  private async closeLink(): Promise<void> {
    const link = this.link;
    this.link = undefined;
    if (!link) return;
    link.removeAllListeners();
    link.on('error', () => {});
    if (!link.isOpen) return;
    await new Promise<void>((resolve) => link.close(() => resolve()));
  }

  /** Resets the adapter and sets it up; ok when the adapter is ready to talk to a car (or says there is none). */
  private async initialise(): Promise<{ ok: true } | { ok: false; reason: string }> {
    this.counters.resets += 1;
    // ATZ restarts the adapter: its banner comes after about a second. Bluetooth links and some
    // clones drop the first bytes after the port opens, so one silent ATZ is retried once.
    let reset = await this.transact('ATZ', this.resetTimeoutMs);
    if (reset.status === 'timeout' || reset.status === 'disconnected') {
      if (!this.link) return { ok: false, reason: 'port lost during reset' };
      this.needsResync = false;
      reset = await this.transact('ATZ', this.resetTimeoutMs);
    }
    if (reset.status === 'timeout' || reset.status === 'disconnected') return { ok: false, reason: `adapter did not answer ATZ (${reset.status})` };
    const settings: ReadonlyArray<{ command: string; required: boolean }> = [
      { command: 'ATE0', required: true }, // echo off: the echo costs serial time and parsing
      { command: 'ATL0', required: false }, // no linefeeds: CR alone ends a line
      // Spaces off: "7E8 06 41 0C 1A F8" becomes "7E806410C1AF8", a third fewer bytes on a
      // 38400-baud line, which is what limits the poll rate. The frame parser knows the header
      // length from the protocol, so nothing becomes ambiguous. v1.0 adapters lack ATS: tolerated.
      { command: 'ATS0', required: false },
      { command: 'ATH1', required: true }, // headers on: which ECU answered, and CAN frame types for multi-frame
      { command: `ATAT${this.options.adaptiveTiming ?? 1}`, required: false }, // clones without adaptive timing answer '?'
      { command: `ATSP${(this.options.protocol ?? '0').toUpperCase()}`, required: true },
    ];
    let spaces = true;
    for (const { command, required } of settings) {
      const reply = await this.transact(command, this.commandTimeoutMs);
      if (reply.status === 'ok') {
        if (command === 'ATS0') spaces = false;
        continue;
      }
      if (reply.status === 'disconnected' || reply.status === 'timeout' || required) {
        return { ok: false, reason: `${command} failed: ${reply.status}${reply.raw ? ` (${JSON.stringify(reply.raw.slice(0, 40))})` : ''}` };
      }
      this.log.info('adapter does not support an optional setting', { command, status: reply.status });
    }
    const ati = await this.transact('ATI', this.commandTimeoutMs);
    const version = ati.status === 'ok' ? (ati.lines.join(' ') || 'unknown') : (reset.lines.find((l) => /ELM|STN|OBD/i.test(l)) ?? 'unknown');
    this.currentInfo = { version, protocol: '0', protocolName: 'automatic', auto: true, isCan: false, canIdBits: undefined, spaces };
    this.log.debug('adapter initialised', { version, spaces });
    return { ok: true };
  }

  /**
   * Connected and initialised: find the car, then serve requests while checking the car is still
   * there when requests keep failing. Returns why the link was lost.
   */
  private async serve(): Promise<string> {
    this.lostReason = '';
    const linkGone = new Promise<void>((resolve) => (this.portLost = resolve));
    let carPresent = false;
    this.ecuProbe.reset();
    while (!this.stopped && this.link) {
      if (!carPresent) {
        const found = await this.probeEcu(this.searchTimeoutMs);
        if (found === 'adapter-silent') return 'adapter stopped answering';
        if (found === 'present') {
          carPresent = true;
          this.ecuProbe.reset();
          this.consecutiveObdFailures = 0;
          this.counters.ecuFound += 1;
          this.setState('ready', 'vehicle answered 0100');
          void this.drainQueue();
          continue;
        }
        if (!this.link) break;
        this.setState('no-ecu', found);
        await Promise.race([this.pause(this.ecuProbe.next()), linkGone]);
        continue;
      }
      // Ready: sleep until a health alarm or a lost port.
      await Promise.race([this.pause(60_000), linkGone]);
      if (!this.link || this.stopped) break;
      if (this.consecutiveObdFailures >= this.failuresBeforeEcuCheck) {
        const check = await this.probeEcu(this.commandTimeoutMs * 2);
        this.consecutiveObdFailures = 0;
        if (check === 'present') continue;
        if (check === 'adapter-silent') return 'adapter stopped answering';
        carPresent = false;
        this.counters.ecuLost += 1;
        this.failQueue('not-ready');
        if (this.link) this.setState('no-ecu', check);
        await Promise.race([this.pause(this.ecuProbe.next()), linkGone]);
      }
    }
    this.portLost = undefined;
    return this.lostReason || (this.stopped ? 'closed' : 'port lost');
  }

  /** Asks for PIDs 01–20 (every OBD-II car answers it) and, when it answers, reads the protocol. */
  private async probeEcu(timeoutMs: number): Promise<'present' | 'adapter-silent' | string> {
    const reply = await this.transact('0100', timeoutMs);
    if (reply.status === 'data') {
      await this.readProtocol();
      return 'present';
    }
    if (reply.status === 'disconnected') return 'port lost';
    if (reply.status === 'timeout') {
      // Either the search outlasted our timeout or the adapter itself is gone: ask it something local.
      const ping = await this.transact('ATI', this.commandTimeoutMs);
      if (ping.status !== 'ok') return 'adapter-silent';
      return 'vehicle not answering (timeout)';
    }
    return `vehicle not answering (${reply.status})`;
  }

  private async readProtocol(): Promise<void> {
    const reply = await this.transact('ATDPN', this.commandTimeoutMs);
    const text = reply.status === 'ok' ? (reply.lines[0] ?? '').trim().toUpperCase() : '';
    const match = /^(A?)([1-9A-C])$/.exec(text);
    const base = this.currentInfo ?? { version: 'unknown', spaces: true };
    if (!match) {
      this.log.warn('could not read the protocol number', { status: reply.status, text });
      return;
    }
    const protocol = match[2]!;
    const entry = elm327Protocol(protocol)!;
    this.currentInfo = {
      version: base.version,
      spaces: base.spaces,
      protocol,
      protocolName: entry.name,
      auto: match[1] === 'A',
      isCan: entry.canIdBits !== undefined,
      canIdBits: entry.canIdBits,
    };
  }
}
