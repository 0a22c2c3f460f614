// The protection/backup domain's public surface: other domains, commands and tests import it from here.
export * from './catalog.ts';
export * from './create.ts';
export * from './dump.ts';
export * from './manifest.ts';
export * from './progress.ts';
export * from './report.ts';
export * from './restore.ts';
export * from './retention.ts';
export * from './tables.ts';
export * from './verify.ts';
export * from './replicate.ts';
export * from './restore-backup.ts';
export * from './scratch.ts';
