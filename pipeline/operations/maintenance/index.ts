// The operations/maintenance domain's public surface: measured facts, the pure planner, both together, and the applier.
export * from './facts.ts';
export * from './plan.ts';
export * from './survey.ts';
export * from './run.ts';
