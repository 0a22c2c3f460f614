// The operations/settings domain's public surface: tuning advice, the pure comparison, the survey and the applier.
export * from './advice.ts';
export * from './values.ts';
export * from './plan.ts';
export * from './facts.ts';
export * from './apply.ts';
export * from './report.ts';
export * from './release.ts';
