// The protection/pitr domain's public surface: point-in-time recovery with pgBackRest.
export * from './enable.ts';
export * from './heartbeat.ts';
export * from './operate.ts';
export * from './report.ts';
export * from './drill.ts';
export * from './expire.ts';
export * from './physical-tier.ts';
export * from './restore.ts';
export * from './restore-point.ts';
export { pitrPolicyOf, type PitrSite } from './site.ts';
