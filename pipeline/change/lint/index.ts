// The change/lint domain's public surface: other domains, commands and tests import it from here.
export * from './access.ts';
export * from './analyze.ts';
export * from './destructive.ts';
export * from './history.ts';
export * from './lint.ts';
export * from './masking.ts';
export * from './model.ts';
export * from './profile.ts';
export * from './squawk.ts';
export * from './text.ts';
