/**
 * A simulated car's diagnosis in the terms of the vehicle health contract
 * (contracts/vehicle-health.ts): what an agent reading the same car over OBD-II would report —
 * confirmed, pending and permanent codes, the MIL and its count, readiness per monitor of PID 01
 * (the groups the simulator's ECU monitors have; every other monitor unsupported), and the freeze
 * frame of the code that lit the MIL. The simulated source (agent/simulated-source.ts) sends it.
 */
import { signalInfo, type SignalName } from '../contracts/signals.ts';
import type { SignalValues } from '../contracts/telemetry.ts';
import { COMMON_MONITORS, type MonitorName, type Readiness, SPARK_MONITORS, type VehicleHealthState } from '../contracts/vehicle-health.ts';
import { SIMULATED_MONITOR_GROUPS, type EcuDiagnosis, type SimulatedMonitorGroup, type StoredFreezeFrame } from './ecu-monitors.ts';
import type { VehicleSignals } from './vehicle-model.ts';

const isSimulated = (m: string): m is SimulatedMonitorGroup => (SIMULATED_MONITOR_GROUPS as readonly string[]).includes(m);

/** PID 01's monitors as the simulated (spark ignition) ECU reports them. */
export function simulatedReadiness(complete: Readonly<Record<SimulatedMonitorGroup, boolean>>): Readiness {
  const monitors: Readiness['monitors'] = {};
  for (const m of [...COMMON_MONITORS, ...SPARK_MONITORS] as MonitorName[]) {
    // J1979: an unsupported monitor reports "complete" (its incomplete bit is 0).
    monitors[m] = isSimulated(m) ? { supported: true, complete: complete[m] } : { supported: false, complete: true };
  }
  return { ignition: 'spark', monitors };
}

export function simulatedHealthState(diagnosis: EcuDiagnosis, frame: StoredFreezeFrame<VehicleSignals> | undefined): VehicleHealthState {
  let freezeFrame: VehicleHealthState['freezeFrame'] = null;
  if (frame) {
    const signals: SignalValues = {};
    for (const [name, value] of Object.entries(frame.signals)) {
      if (signalInfo(name) && typeof value === 'number') signals[name as SignalName] = value;
    }
    freezeFrame = { dtc: frame.code, frame: 0, signals };
  }
  return {
    source: 'simulator',
    mil: diagnosis.milOn,
    dtcCount: diagnosis.stored.length,
    readiness: simulatedReadiness(diagnosis.readiness),
    confirmed: [...diagnosis.stored],
    pending: [...diagnosis.pending],
    permanent: [...diagnosis.permanent],
    freezeFrame,
    vin: null,
    counters: {},
  };
}
