// The change/migrations domain's public surface: other domains, commands and tests import it from here.
export * from './apply.ts';
export * from './checksum.ts';
export * from './deploy.ts';
export * from './executor.ts';
export * from './folder.ts';
export * from './history.ts';
export * from './messages.ts';
export * from './plan.ts';
export * from './status.ts';
export * from './change-set.ts';
