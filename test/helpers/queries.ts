import pg from 'pg';
import type { QuerySnapshot } from '../../pipeline/operations/queries/index.ts';

/** A snapshot of database `ledger` with nothing in it: each test file adds its own statements, nodes and clock. */
export function querySnapshot(over: Partial<QuerySnapshot>): QuerySnapshot {
  return {
    formatVersion: 1,
    label: 'report',
    environment: null,
    deploy: null,
    at: '2026-12-07T12:00:00.000Z',
    database: 'ledger',
    serverVersion: 160000,
    systemIdentifier: '7300000000000000001',
    statsReset: null,
    statements: [],
    statementsInfo: { version: '1.10', dealloc: 0, statsReset: null, max: 5000, track: 'top' },
    tables: [],
    indexes: [],
    foreignKeys: [],
    hypopg: false,
    nodes: [],
    unreachable: [],
    ...over,
  };
}

/** Runs statements in one session that pg_stat_statements tracks (the test clusters track none by default). */
export async function workload(url: string, statements: Array<[string, unknown[]?]>): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`SET pg_stat_statements.track = 'top'`);
    for (const [sql, params] of statements) await c.query(sql, params);
  } finally {
    await c.end();
  }
}
