// The operations/access domain's public surface: access control as code and the encryption checks.
export * from './encryption.ts';
export * from './report.ts';
export * from './facts.ts';
export * from './audit.ts';
export * from './apply.ts';
export * from './release.ts';
