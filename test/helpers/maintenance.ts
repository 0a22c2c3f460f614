// Sessions the maintenance tests hold open against a test database.
import pg from 'pg';

/** A session with a transaction open and a snapshot taken (by reading `table`): what blocks REINDEX CONCURRENTLY. */
export async function openTransaction(url: string, application: string, table: string): Promise<{ client: pg.Client; pid: number }> {
  const client = new pg.Client({ connectionString: url, application_name: application });
  await client.connect();
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
  const pid = (await client.query<{ pid: number }>(`SELECT pg_backend_pid() AS pid, count(*) FROM ${table}`)).rows[0]!.pid;
  return { client, pid };
}

/**
 * `REINDEX INDEX CONCURRENTLY` cancelled by statement_timeout while an open transaction holds it up: the
 * invalid `<index>_ccnew` it leaves behind. Returns the error, which the caller asserts on.
 */
export async function cancelledReindex(url: string, index: string): Promise<unknown> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("SET statement_timeout = '1s'");
    return await client.query(`REINDEX INDEX CONCURRENTLY ${index}`).then(
      () => undefined,
      (e: unknown) => e,
    );
  } finally {
    await client.end();
  }
}
