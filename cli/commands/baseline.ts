/**
 * `fleetpulse baseline reset --vehicle ID [--reason repair]`: asks the ingest worker that scores
 * the vehicle to forget its learned baseline (after a repair: the old normal may have been learned
 * with the fault present). Published on `topics.baselineReset(vehicle)`, QoS 1, as an identity with
 * role `operator`; the command returns once the broker has the message. The worker's persistent
 * session holds it while the worker is down; the worker applies it at its next scoring batch,
 * records it (its state store, InfluxDB `baseline_events`) and acknowledges it then. The vehicle
 * shows "learning" again from its next scored window (dashboard, `anomaly.baseline`).
 */
import { opt } from '../../common/config.ts';
import { BASELINE_RESET_SCHEMA, encodeBaselineReset } from '../../contracts/baseline-reset.ts';
import { topics, VEHICLE_ID_PATTERN } from '../../contracts/topics.ts';
import { defineCommand } from '../command.ts';
import { connectOperator } from '../operator-connection.ts';
import { sharedOptions } from '../shared-options.ts';

export const baselineResetOptions = {
  vehicle: opt.string('Vehicle whose baseline is learnt again', { pattern: VEHICLE_ID_PATTERN, patternHint: 'must be a vehicle id' }),
  reason: opt.string('Why (recorded with the event): repair, dtc_cleared, or a few words', { default: 'repair', pattern: /^.{1,200}$/, patternHint: 'must be 1-200 characters' }),
  mqttUrl: sharedOptions.mqttUrl,
  username: opt.string('Broker username (a device with role operator)', { required: false }),
  password: opt.string('Broker password (prefer FLEETPULSE_OPERATOR_PASSWORD)', { required: false }),
};

export default defineCommand({
  path: 'baseline reset',
  section: 'operator',
  summary: "Forget a vehicle's learned baseline (after a repair); ingest learns it again from the next windows.",
  usage: 'baseline reset --vehicle car-1 [--reason repair]',
  options: baselineResetOptions,
  async run(config, ctx) {
    const connection = await connectOperator(config, { id: 'baseline-reset', what: 'reset' });
    try {
      const payload = encodeBaselineReset({ schema: BASELINE_RESET_SCHEMA, vehicle: config.vehicle, reason: config.reason, requestedAtMs: Date.now() });
      await connection.publish(topics.baselineReset(config.vehicle), payload);
      ctx.print(`baseline reset of ${config.vehicle} sent (${config.reason}); its ingest worker re-learns from the next windows (recorded in InfluxDB baseline_events)`);
    } finally {
      await connection.close();
    }
  },
});
