// The change/drift domain (`dbops drift`: schema.prisma ↔ migrations ↔ live database ↔ evidence); other domains, commands and tests import it from here.
export * from './drift.ts';
export * from './model.ts';
export * from './render.ts';
export * from './repair.ts';
