// The operations/queries domain's public surface: what a snapshot reads, snapshots and where they are kept,
// the comparison of statements, the index review, hypopg's what-ifs, and the review that puts them together.
export * from './facts.ts';
export * from './snapshot.ts';
export * from './compare.ts';
export * from './indexes.ts';
export * from './whatif.ts';
export * from './review.ts';
export * from './evidence.ts';
export * from './report.ts';
export * from './notify.ts';
