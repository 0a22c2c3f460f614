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
// What `dbops settings` needs to know of archiving: where the cluster lives and the settings pitr enable writes.
export { archiveSettingsOf, resolveSite } from './site.ts';
