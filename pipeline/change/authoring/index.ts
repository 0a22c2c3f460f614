// The change/authoring domain (`dbops migrate new`: a migration and its rollback from schema.prisma); other domains, commands and tests import it from here.
export * from './model.ts';
export * from './name.ts';
export * from './new.ts';
export * from './render.ts';
export * from './reverse.ts';
