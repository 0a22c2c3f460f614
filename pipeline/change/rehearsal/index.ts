// The change/rehearsal domain's public surface: other domains, commands and tests import it from here.
export * from './budgets.ts';
export * from './measure.ts';
export * from './model.ts';
export * from './rehearse.ts';
export * from './render.ts';
export * from './rollback.ts';
export * from './statements.ts';
export * from './timeline.ts';
export * from './workload.ts';
export { applyBase, checkSnapshotFlags } from './snapshot.ts';
