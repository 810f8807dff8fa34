/**
 * The TelemetrySource suite (telemetry-source.conformance.ts) on every source: the simulator, a
 * replayed carOBD log, the OBD source on the emulated ELM327 over serialport's mock binding and
 * over a real pseudo-terminal (socat), and the swappable source across a swap.
 */
import { join } from 'node:path';
import { mockPortFactory } from './obd/elm327-session.ts';
import { DEFAULT_FAST_PIDS, DEFAULT_SLOW_PIDS, ObdSource } from './obd/obd-source.ts';
import { loadDriveLog } from './replay-file.ts';
import { pickVehicle } from './replay-formats.ts';
import { ReplaySource } from './replay-source.ts';
import { SimulatedSource } from './simulated-source.ts';
import { SwappableSource } from './swappable-source.ts';
import { describeTelemetrySource, type TelemetrySourceUnderTest } from './telemetry-source.conformance.ts';
import { startEmulatorOnMockPort, startEmulatorOnPty } from '../simulator/elm327/test-support.ts';

const simulated = (startMs?: number): SimulatedSource => new SimulatedSource({ vehicleId: 'conformance-car', seed: 3, sampleRateHz: 10, speed: 20, ...(startMs === undefined ? {} : { startMs }) });

describeTelemetrySource('SimulatedSource', { create: () => simulated(), readsHealth: true });

const REPLAY_LOG = join(import.meta.dirname, '..', 'test', 'fixtures', 'replay', 'carobd-drive1-head.csv.gz');
// Looped at 50× so that it keeps delivering for as long as the suite watches.
describeTelemetrySource('ReplaySource', { create: () => new ReplaySource({ log: pickVehicle(loadDriveLog(REPLAY_LOG)), speed: 50, loop: true }), readsHealth: true });

/** An ObdSource on an emulated adapter; `emulator` starts it and returns the port path and its own stop. */
function obdSource(emulator: () => Promise<{ path: string; close(): Promise<void> }>, mock: boolean): TelemetrySourceUnderTest {
  const running: Array<{ close(): Promise<void> }> = [];
  return {
    async create() {
      const emu = await emulator();
      running.push(emu);
      return new ObdSource({
        path: emu.path,
        ...(mock ? { openPort: mockPortFactory } : {}),
        fastPids: DEFAULT_FAST_PIDS,
        slowPids: DEFAULT_SLOW_PIDS,
        fastHz: 10,
        slowHz: 2,
        healthIntervalMs: 0,
        reconnectBackoff: { initialMs: 50, maxMs: 300 },
        ecuProbeBackoff: { initialMs: 50, maxMs: 300 },
      });
    },
    async dispose() {
      for (const emu of running.splice(0)) await emu.close();
    },
    readsHealth: true,
  };
}

let mockPorts = 0;
describeTelemetrySource('ObdSource (ELM327 emulator, serialport mock binding)', obdSource(() => startEmulatorOnMockPort(`/dev/conformance-elm-${process.pid}-${mockPorts++}`), true));
describeTelemetrySource('ObdSource (ELM327 emulator on a pty, the native serial port)', obdSource(() => startEmulatorOnPty(), false));

describeTelemetrySource('SwappableSource', {
  create: () => new SwappableSource(simulated()),
  // A remote config change: a new simulator takes over, its first event times behind the last delivered.
  exercise: (source) => (source as SwappableSource).swap(simulated(Date.now() - 5_000)),
  readsHealth: true,
});
