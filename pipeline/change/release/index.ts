// The change/release domain's public surface: other domains, commands and tests import it from here.
export * from './approvals.ts';
export * from './checks/types.ts';
export * from './engine.ts';
export * from './environment.ts';
export * from './gate.ts';
export * from './lock.ts';
export * from './render.ts';
export * from './run.ts';
export * from './policy-gate.ts';
