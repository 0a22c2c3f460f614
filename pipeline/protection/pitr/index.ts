// The protection/pitr domain's public surface: point-in-time recovery with pgBackRest.
export * from './enable.ts';
export * from './heartbeat.ts';
export * from './operate.ts';
export * from './drill.ts';
export * from './restore.ts';
export { pitrPolicyOf, type PitrSite } from './site.ts';
