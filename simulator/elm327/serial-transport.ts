/**
 * Puts an Elm327Emulator on a serial line:
 *
 * - `attachToMockPort`: a serialport MockBinding port (@serialport/binding-mock). Whoever opens
 *   that path through serialport's SerialPortMock (or MockBinding) talks to the emulator: its writes
 *   reach `handleInput`, the emulator's output arrives as received data. For unit tests; no OS.
 * - `PtyTransport`: a real pseudo-terminal made by socat (`pty,raw,echo=0,link=PATH` ↔ STDIO): the
 *   reader opens PATH like /dev/ttyUSB0; socat relays the pty master to this process's pipes.
 *   `unplug` ends socat, so the device disappears and an open reader sees the line close;
 *   `replug` makes a new pty at the same PATH (the adapter powered up again, settings reset).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import { SerialPortMock } from 'serialport';
import { findExecutable } from '../../common/child-process.ts';
import { FleetpulseError } from '../../common/errors.ts';
import { createLogger, type Logger } from '../../common/logger.ts';
import type { Elm327Emulator } from './elm327-emulator.ts';

// ---- serialport mock binding ------------------------------------------------------------------

type MockBindingLike = typeof SerialPortMock.binding;
type MockPortLike = Awaited<ReturnType<MockBindingLike['open']>>;

/**
 * serialport is CommonJS, so its SerialPortMock uses the CommonJS copy of @serialport/binding-mock,
 * while an ES import of '@serialport/binding-mock' gets the ES copy, with its own port registry.
 * Ports are created and wired in both, so a test may use either.
 */
const esmBindingModule: string = '@serialport/binding-mock';
const MOCK_BINDINGS: readonly MockBindingLike[] = [
  ...new Set([SerialPortMock.binding, ((await import(esmBindingModule)) as { MockBinding: MockBindingLike }).MockBinding]),
];

const mockAttachments = new Map<string, Elm327Emulator>();
const patched = new WeakSet<MockBindingLike>();

/** Wires an opened mock port to the emulator attached at its path. */
function connectMockPort(port: MockPortLike, emulator: Elm327Emulator): void {
  const write = port.write.bind(port);
  const close = port.close.bind(port);
  const off = emulator.onOutput((bytes) => {
    if (port.isOpen) port.emitData(Buffer.from(bytes));
  });
  port.write = async (buffer: Buffer): Promise<void> => {
    await write(buffer);
    emulator.handleInput(buffer);
  };
  port.close = async (): Promise<void> => {
    off();
    await close();
  };
}

/**
 * MockBinding has no hook for a peer, so its `open` is wrapped once (idempotent) to connect ports
 * opened on a path with an attached emulator; other mock ports behave as before.
 */
function patchMockBinding(binding: MockBindingLike): void {
  if (patched.has(binding)) return;
  patched.add(binding);
  const open = binding.open.bind(binding);
  binding.open = async (options) => {
    const port = await open(options);
    const emulator = mockAttachments.get(options.path);
    if (emulator) connectMockPort(port, emulator);
    return port;
  };
}

/**
 * Creates the mock port `path` (MockBinding.createPort) and serves the emulator on it. Open it with
 * `new SerialPortMock({ path, baudRate })` from 'serialport', or a SerialPortStream with MockBinding.
 * Returns a function that detaches the emulator (already-open ports stay connected until closed).
 * MockBinding.reset() forgets the port; attach again after it.
 */
export function attachToMockPort(path: string, emulator: Elm327Emulator): () => void {
  for (const binding of MOCK_BINDINGS) {
    patchMockBinding(binding);
    binding.createPort(path, { echo: false, record: false });
  }
  mockAttachments.set(path, emulator);
  return () => {
    if (mockAttachments.get(path) === emulator) mockAttachments.delete(path);
  };
}

// ---- real pseudo-terminal via socat ----------------------------------------------------------

export interface PtyTransportOptions {
  /** Where the reader's end appears (a symlink to /dev/pts/N). */
  path: string;
  /** socat executable; found on PATH by default. */
  socat?: string;
  /** How long to wait for socat to create the link (ms). Default 5000. */
  startTimeoutMs?: number;
  /** Called when socat ends by itself (not through unplug/close): the device is gone. */
  onUnexpectedExit?: () => void;
  logger?: Logger;
}

/** Output bytes that may wait for socat (which waits for a reader of the pty). */
const MAX_PENDING_BYTES = 64 * 1024;

export class PtyTransport {
  private readonly socat: string;
  private readonly logger: Logger;
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private offOutput: (() => void) | undefined;
  /** Output dropped: socat not running (unplugged) or MAX_PENDING_BYTES waiting for it. */
  droppedBytes = 0;

  constructor(
    private readonly emulator: Elm327Emulator,
    private readonly options: PtyTransportOptions,
  ) {
    const socat = options.socat ?? findExecutable('socat');
    if (!socat) throw new FleetpulseError('FP_DEPENDENCY_MISSING', 'socat is not installed (Debian package socat); it makes the pseudo-terminal');
    this.socat = socat;
    this.logger = options.logger ?? createLogger('elm327-pty');
  }

  get path(): string {
    return this.options.path;
  }

  /** True while the pty exists (between start/replug and unplug/close). */
  get plugged(): boolean {
    return this.child !== undefined;
  }

  /** Makes the pty and serves the emulator on it; resolves once PATH exists. */
  async start(): Promise<void> {
    if (this.child) return;
    const path = this.options.path;
    if (existsSync(path) || isDanglingLink(path)) {
      throw new FleetpulseError('FP_USAGE', `${path} already exists; refusing to replace it with the emulator's pty`);
    }
    const setpriv = process.platform === 'linux' ? findExecutable('setpriv') : undefined;
    const socatArgs = ['-d', '-d', `pty,raw,echo=0,link=${path}`, 'STDIO'];
    // Parent-death signal: even a SIGKILL of this process leaves no socat (and no stale link) behind.
    const [file, argv] = setpriv ? [setpriv, ['--pdeathsig', 'SIGTERM', this.socat, ...socatArgs]] : [this.socat, socatArgs];
    const child = spawn(file, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      if (stderr.length < 4096) stderr += d;
    });
    child.stdout!.on('data', (d: Buffer) => this.emulator.handleInput(d));
    // A write after socat died would error asynchronously: the line is simply gone.
    child.stdin!.on('error', () => {});
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        if (this.child === child) {
          this.logger.warn('socat ended', { code, signal, stderr: stderr.trim().slice(-500) });
          this.detach();
          this.options.onUnexpectedExit?.();
        }
        resolve();
      });
      child.once('error', () => resolve());
    });
    this.offOutput = this.emulator.onOutput((bytes) => {
      const stdin = this.child?.stdin;
      // Nobody reading the pty stalls socat; past the bound output is dropped, not buffered here.
      if (stdin && !stdin.destroyed && stdin.writableLength < MAX_PENDING_BYTES) stdin.write(bytes);
      else this.droppedBytes += bytes.length;
    });
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 5000);
    while (!existsSync(path)) {
      if (this.child !== child || Date.now() > deadline) {
        await this.stopChild(child);
        throw new FleetpulseError('FP_PROCESS_FAILED', `socat did not create ${path}: ${stderr.trim().split('\n').slice(-2).join(' ') || 'timed out'}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    this.logger.debug('pty ready', { path, stderr: stderr.trim() });
  }

  /** The adapter is pulled out: the pty and PATH disappear; an open reader sees its port close. */
  async unplug(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.detach();
    await this.stopChild(child);
    this.emulator.powerCycle();
  }

  /** Plugged back in: a fresh pty at the same PATH, the adapter in its power-on state. */
  async replug(): Promise<void> {
    if (this.child) return;
    this.emulator.powerCycle();
    await this.start();
  }

  async close(): Promise<void> {
    const child = this.child;
    this.detach();
    if (child) await this.stopChild(child);
  }

  private detach(): void {
    this.offOutput?.();
    this.offOutput = undefined;
    this.child = undefined;
  }

  private async stopChild(child: ChildProcess): Promise<void> {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await this.exited;
      clearTimeout(timer);
    }
    // socat removes its link on a clean exit; make sure after a SIGKILL too.
    if (isDanglingLink(this.options.path)) {
      try {
        unlinkSync(this.options.path);
      } catch {
        /* already gone */
      }
    }
  }
}

function isDanglingLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink() && !existsSync(path);
  } catch {
    return false;
  }
}
