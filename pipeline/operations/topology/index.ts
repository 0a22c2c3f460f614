// The operations/topology domain's public surface: connection pooling (PgBouncer) facts and recommendations.
export * from './pool.ts';
