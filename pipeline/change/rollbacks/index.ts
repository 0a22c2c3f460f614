// The change/rollbacks domain's public surface: other domains, commands and tests import it from here.
export * from './files.ts';
export * from './model.ts';
export * from './pair.ts';
