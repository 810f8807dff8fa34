import { existsSync, readlinkSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { SerialPort, SerialPortMock } from 'serialport';
import { assembleMessages, parseFrameLine } from '../../contracts/obd/can-frames.ts';
import { decodeVin } from '../../contracts/obd/vin.ts';
import { type MockPortEmulator, type PtyEmulator, startEmulatorOnMockPort, startEmulatorOnPty } from './test-support.ts';

type Port = SerialPort | SerialPortMock;
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Collects what the port receives; `until` waits (bounded) for the next prompt. */
function reader(port: Port): { until(prompt?: string, timeoutMs?: number): Promise<string> } {
  let buffer = '';
  port.on('data', (d: Buffer) => (buffer += d.toString('latin1')));
  return {
    async until(prompt = '>', timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!buffer.includes(prompt)) {
        if (Date.now() > deadline) throw new Error(`no ${JSON.stringify(prompt)} within ${timeoutMs} ms; got ${JSON.stringify(buffer)}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      const i = buffer.indexOf(prompt) + prompt.length;
      const got = buffer.slice(0, i);
      buffer = buffer.slice(i);
      return got;
    },
  };
}

function opened(port: Port): Promise<void> {
  return new Promise((resolve, reject) => {
    port.once('open', () => resolve());
    port.once('error', reject);
  });
}

async function closePort(port: Port): Promise<void> {
  if (port.isOpen) await new Promise<void>((r) => port.close(() => r()));
}

describe('serialport mock binding', () => {
  it('serves the emulator to a SerialPortMock opened on the path', async () => {
    const mock: MockPortEmulator = await startEmulatorOnMockPort('/dev/fleetpulse-elm-test');
    cleanups.push(() => mock.close());
    const port = new SerialPortMock({ path: mock.path, baudRate: 38400 });
    cleanups.push(() => closePort(port));
    const rx = reader(port);
    await opened(port);
    port.write('ATZ\r');
    expect(await rx.until()).toBe('ATZ\r\r\rELM327 v1.5\r\r>');
    port.write('ATE0\r');
    await rx.until();
    port.write('0100\r');
    expect(await rx.until()).toMatch(/^SEARCHING\.\.\.\r41 00( [0-9A-F]{2}){4}\r41 00 80 00 00 00\r\r>$/);
    expect(mock.emulator.stats.obdRequests).toBe(1);
  });
});

describe('real pseudo-terminal (socat)', () => {
  it('answers raw bytes written to the pty path, and survives an unplug and replug at the same path', async () => {
    const pty: PtyEmulator = await startEmulatorOnPty({ vin: '1HGCM82633A004352' });
    cleanups.push(() => pty.close());
    expect(readlinkSync(pty.path)).toMatch(/^\/dev\/pts\/\d+$/);

    const port = new SerialPort({ path: pty.path, baudRate: 38400 });
    cleanups.push(() => closePort(port));
    const rx = reader(port);
    await opened(port);
    port.write('ATZ\r');
    expect(await rx.until()).toBe('ATZ\r\r\rELM327 v1.5\r\r>');
    port.write('ATE0\rATH1\r');
    expect(await rx.until()).toBe('ATE0\rOK\r\r>'); // echoed before it takes effect
    expect(await rx.until()).toBe('OK\r\r>');
    port.write('0902\r');
    const text = await rx.until();
    const frames = text.split('\r').filter((l) => /^7E8 /.test(l)).map((l) => parseFrameLine(l, true)!);
    expect(frames).toHaveLength(3);
    expect(decodeVin(assembleMessages(frames)[0]!.data.subarray(3))).toBe('1HGCM82633A004352');

    // Unplug: the device disappears and the open port closes as disconnected.
    const closed = new Promise<boolean>((resolve) => port.once('close', (err?: { disconnected?: boolean }) => resolve(err?.disconnected === true)));
    await pty.unplug();
    expect(existsSync(pty.path)).toBe(false);
    expect(await closed).toBe(true);

    // Replug: a new pty at the same path; the adapter starts from its defaults (echo on again).
    await pty.replug();
    expect(existsSync(pty.path)).toBe(true);
    const again = new SerialPort({ path: pty.path, baudRate: 38400 });
    cleanups.push(() => closePort(again));
    const rx2 = reader(again);
    await opened(again);
    again.write('ATI\r');
    expect(await rx2.until()).toBe('ATI\rELM327 v1.5\r\r>');

    await closePort(again);
    await pty.close();
    expect(existsSync(pty.path)).toBe(false);
  });
});
