// The report domain's public surface: other domains, commands and tests import it from here.
export * from './backup-md.ts';
export * from './findings.ts';
export * from './markdown.ts';
export * from './mermaid.ts';
export * from './sarif.ts';
export * from './schema.ts';
export * from './store.ts';
export * from './terminal.ts';
export * from './backup-event.ts';
export * from './settings.ts';
export * from './queries.ts';
export * from './audit-review.ts';
