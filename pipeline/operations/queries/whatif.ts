import type { Client } from '../../infra/db/client.ts';
import { quoteIdent } from '../../infra/db/url.ts';
import type { ForeignKeyStat } from './facts.ts';
import type { IndexFinding, WhatIf } from './indexes.ts';

/**
 * What a suggested index would change, measured by the planner with a hypothetical index (hypopg): no index is
 * built and nothing is written, the index exists only in this session's memory until hypopg_reset().
 * pg_stat_statements' texts have `$1` where values were, which EXPLAIN cannot plan before PostgreSQL 16's
 * GENERIC_PLAN; the lookup a foreign key needs is written here with the values of one real row instead. The
 * values stay in this session: only costs are reported.
 */

const NOT_INSTALLED =
  'hypopg is not installed in this database, so the what-if cost is not measured (Debian: apt-get install postgresql-15-hypopg; then CREATE EXTENSION hypopg in the database)';

const costOf = async (client: Client, sql: string): Promise<{ cost: number; plan: string }> => {
  const { rows } = await client.query<{ 'QUERY PLAN': Array<{ Plan: { 'Total Cost': number } }> }>(`EXPLAIN (FORMAT JSON) ${sql}`);
  const plan = rows[0]!['QUERY PLAN'];
  return { cost: plan[0]!.Plan['Total Cost'], plan: JSON.stringify(plan) };
};

/** The what-if of one unindexed foreign key: the lookup `WHERE (columns) = (one real row's values)` without and with the index. */
async function foreignKeyWhatIf(client: Client, fk: ForeignKeyStat): Promise<WhatIf> {
  const table = `${quoteIdent(fk.schema)}.${quoteIdent(fk.table)}`;
  const cols = fk.columns.map(quoteIdent);
  const sample = await client.query<Record<string, unknown>>(
    `SELECT ${cols.map((c, k) => `${c}::text AS v${k}`).join(', ')} FROM ${table} WHERE ${cols.map((c) => `${c} IS NOT NULL`).join(' AND ')} LIMIT 1`,
  );
  if (sample.rows.length === 0)
    return { measured: false, reason: `${fk.schema}.${fk.table} has no row with ${fk.columns.join(', ')} set to plan a lookup with` };
  const row = sample.rows[0]!;
  // Parameters would leave the planner a generic plan; literals give it the row's own selectivity. The query's
  // shape (not its values) is what the report shows.
  const literal = (k: number) => `'${String(row[`v${k}`]).replaceAll("'", "''")}'`;
  const sql = `SELECT * FROM ${table} WHERE ${cols.map((c, k) => `${c} = ${literal(k)}`).join(' AND ')}`;
  const shown = `SELECT * FROM ${table} WHERE ${cols.map((c, k) => `${c} = $${k + 1}`).join(' AND ')}`;
  const before = await costOf(client, sql);
  const created = await client.query<{ indexname: string }>(`SELECT indexname FROM hypopg_create_index($1)`, [`CREATE INDEX ON ${table} (${cols.join(', ')})`]);
  try {
    const after = await costOf(client, sql);
    return { measured: true, query: shown, costBefore: before.cost, costAfter: after.cost, usesIndex: after.plan.includes(created.rows[0]!.indexname) };
  } finally {
    await client.query('SELECT hypopg_reset()');
  }
}

/** Adds a what-if to each unindexed-foreign-key finding (hypopg when installed, else the reason it is missing). */
export async function addWhatIfs(client: Client, findings: IndexFinding[], foreignKeys: ForeignKeyStat[], hypopg: boolean): Promise<void> {
  for (const f of findings) {
    if (f.kind !== 'unindexed-foreign-key') continue;
    if (!hypopg) {
      f.whatIf = { measured: false, reason: NOT_INSTALLED };
      continue;
    }
    const fk = foreignKeys.find((k) => `${k.schema}.${k.table}` === f.subject && k.name === f.measurement['constraint']);
    f.whatIf = fk ? await foreignKeyWhatIf(client, fk) : { measured: false, reason: 'the foreign key is gone' };
  }
}
