/**
 * The SerialLink suite (serial-link.conformance.ts) on every port factory: serialport's mock
 * binding with the ELM327 emulator attached, the native serial port on a pseudo-terminal (socat)
 * with the emulator behind it, and the scripted adapter the session's unit tests use.
 */
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { mockPortFactory, nativePortFactory } from './elm327-session.ts';
import { describeSerialLink } from './serial-link.conformance.ts';
import { scriptedAdapter, standardAdapter } from './test-support.ts';
import { startEmulatorOnMockPort, startEmulatorOnPty } from '../../simulator/elm327/test-support.ts';

let ports = 0;
const unusedPath = (): string => join(tmpdir(), `fleetpulse-no-adapter-${process.pid}-${ports++}`);

describeSerialLink('mock binding (ELM327 emulator)', {
  unplugs: false,
  async start() {
    const emu = await startEmulatorOnMockPort(`/dev/conformance-link-${process.pid}-${ports++}`);
    return { path: emu.path, openPort: mockPortFactory, close: () => emu.close() };
  },
  missing: () => ({ path: unusedPath(), openPort: mockPortFactory }),
});

describeSerialLink('native serial port (ELM327 emulator on a pty)', {
  unplugs: true,
  async start() {
    const emu = await startEmulatorOnPty();
    return { path: emu.path, openPort: nativePortFactory, unplug: () => emu.unplug(), close: () => emu.close() };
  },
  missing: () => ({ path: unusedPath(), openPort: nativePortFactory }),
});

describeSerialLink('scripted adapter (session unit tests)', {
  unplugs: false,
  async start() {
    const { factory, path } = scriptedAdapter(standardAdapter());
    return { path, openPort: factory, close: async () => {} };
  },
  missing: () => ({ path: unusedPath(), openPort: scriptedAdapter(standardAdapter()).factory }),
});
