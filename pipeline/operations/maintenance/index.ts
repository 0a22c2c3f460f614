// The operations/maintenance domain's public surface: measured facts, the pure planner, and both together.
export * from './facts.ts';
export * from './plan.ts';
export * from './survey.ts';
