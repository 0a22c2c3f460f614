// The evidence domain's public surface: other domains, commands and tests import it from here.
export * from './bundle.ts';
export * from './chain.ts';
export * from './reconcile.ts';
export * from './records.ts';
export * from './render.ts';
export * from './report.ts';
export * from './retention.ts';
export * from './store.ts';
