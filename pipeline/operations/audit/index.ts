// The operations/audit domain's public surface: pgaudit's configuration checked against policies/audit.yaml.
export * from './report.ts';
export * from './check.ts';
export * from './collect.ts';
export * from './segments.ts';
export * from './review.ts';
export * from './log-source.ts';
