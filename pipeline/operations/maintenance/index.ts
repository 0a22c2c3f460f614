// The operations/maintenance domain's public surface: measured facts, the pure planner, both together, the applier,
// and what bounds a run (the environment's window, the budget).
export * from './facts.ts';
export * from './plan.ts';
export * from './survey.ts';
export * from './run.ts';
export * from './limits.ts';
export * from './report.ts';
