/**
 * Test helpers for hardware-in-the-loop tests: an emulated ELM327 with a simulated car behind it,
 * on a serialport mock port or on a real pseudo-terminal. Signatures are kept stable for test/hil.
 *
 * Defaults suit tests: the car's simulated time is frozen (`speed: 0`, move it with
 * `emulator.vehicle.advance(s)`) so decoded values can be compared exactly with
 * `emulator.lastServedValues`, ATZ takes 20 ms and a failed search 300 ms. Timing that the
 * benchmark needs (ECU latency 30 ms, 38400 baud pacing) stays as on a real adapter unless overridden.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../common/logger.ts';
import { Elm327Emulator, type Elm327EmulatorOptions } from './elm327-emulator.ts';
import { PtyTransport, attachToMockPort } from './serial-transport.ts';

const TEST_DEFAULTS: Elm327EmulatorOptions = { speed: 0, resetMs: 20, searchMs: 20, searchFailMs: 300, logger: silentLogger };

export interface MockPortEmulator {
  path: string;
  emulator: Elm327Emulator;
  close(): Promise<void>;
}

/**
 * Serves an emulator on the MockBinding port `path`; open it with
 * `new SerialPortMock({ path, baudRate: 38400 })` (from 'serialport') or any SerialPortStream
 * using MockBinding. Call `close()` after the test (stops the emulator's timers).
 */
export async function startEmulatorOnMockPort(path: string, opts: Elm327EmulatorOptions = {}): Promise<MockPortEmulator> {
  const emulator = new Elm327Emulator({ ...TEST_DEFAULTS, ...opts });
  const detach = attachToMockPort(path, emulator);
  return {
    path,
    emulator,
    async close() {
      detach();
      emulator.close();
    },
  };
}

export interface PtyEmulator {
  /** The device path to open, like /dev/ttyUSB0 (a symlink to /dev/pts/N in a temporary directory). */
  path: string;
  emulator: Elm327Emulator;
  /** Removes the pty (the reader's port closes) and powers the adapter off. */
  unplug(): Promise<void>;
  /** A new pty at the same path; the adapter starts from its power-on defaults. */
  replug(): Promise<void>;
  /** Ends socat, removes the link and the temporary directory, stops the emulator. */
  close(): Promise<void>;
}

/** Serves an emulator on a real pseudo-terminal (socat); `opts.path` picks the link path. */
export async function startEmulatorOnPty(opts: Elm327EmulatorOptions & { path?: string } = {}): Promise<PtyEmulator> {
  const { path: wanted, ...emulatorOptions } = opts;
  const dir = wanted ? undefined : mkdtempSync(join(tmpdir(), 'fleetpulse-elm327-'));
  const path = wanted ?? join(dir!, 'ttyELM');
  const emulator = new Elm327Emulator({ ...TEST_DEFAULTS, ...emulatorOptions });
  const transport = new PtyTransport(emulator, { path, logger: silentLogger });
  try {
    await transport.start();
  } catch (error) {
    emulator.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    path,
    emulator,
    unplug: () => transport.unplug(),
    replug: () => transport.replug(),
    async close() {
      await transport.close();
      emulator.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Sends `text` straight into the emulator (no transport) and resolves with everything it prints up
 * to and including the next prompt `>`. Rejects after `timeoutMs` with what arrived so far.
 */
export function exchange(emulator: Elm327Emulator, text: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no prompt within ${timeoutMs} ms after ${JSON.stringify(text)}; got ${JSON.stringify(got)}`));
    }, timeoutMs);
    const off = emulator.onOutput((bytes) => {
      got += Buffer.from(bytes).toString('latin1');
      if (got.includes('>')) {
        clearTimeout(timer);
        off();
        resolve(got);
      }
    });
    emulator.handleInput(text);
  });
}
