export * from './signals.ts';
export * from './telemetry.ts';
export * from './topics.ts';
export * from './alerts.ts';
export * from './vehicle-health.ts';
