// The operations/monitoring domain's public surface: commands and other domains import it from here.
export * from './model.ts';
export * from './checks.ts';
export * from './facts.ts';
export * from './host.ts';
export * from './run.ts';
export * from './render.ts';
export * from './store.ts';
export * from './alerts.ts';
export * from './notify.ts';
export * from './traffic.ts';
export * from './traffic-store.ts';
export * from './metrics.ts';
export * from './rules.ts';
import { MonitorCheckData } from './model.ts';

/** Step name → schema of its report data, for `dbops report`. */
export const MONITORING_REPORT_DATA = { 'monitor-check': MonitorCheckData } as const;
export * from './environment.ts';
export * from './once.ts';
