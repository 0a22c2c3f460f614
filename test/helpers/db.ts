import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, inject } from 'vitest';
import { quoteIdent } from '../../pipeline/infra/db/url.ts';

export interface TestDb {
  name: string;
  /** Superuser URL of this database. */
  url: string;
  /** Runs one statement on a short-lived connection. */
  query<R extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  drop(): Promise<void>;
}

export const adminUrl = (): string => inject('adminUrl');

/**
 * The password of the test server's URL, for "this secret appears nowhere" assertions. The harness's own
 * cluster always has one; a TEST_DATABASE_URL without one would make those assertions vacuous, so it fails.
 */
export function serverPassword(): string {
  const password = decodeURIComponent(new URL(adminUrl()).password);
  if (!password) throw new Error('The test server URL has no password: secret-leak assertions need one (give TEST_DATABASE_URL a password).');
  return password;
}

export function urlFor(database: string, params = ''): string {
  const u = new URL(adminUrl());
  u.pathname = `/${encodeURIComponent(database)}`;
  return `${u.toString()}${params}`;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: adminUrl() });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function queryUrl<R extends pg.QueryResultRow = Record<string, unknown>>(url: string, sql: string, params?: unknown[]): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<R>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

/** A new empty database on the test server; names are unique per call so test files can run in parallel. */
export async function createDatabase(label: string): Promise<TestDb> {
  const name = `t_${label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, 40)}_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0 STRATEGY FILE_COPY`));
  const url = urlFor(name);
  return {
    name,
    url,
    query: (sql, params) => queryUrl(url, sql, params),
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`)).then(() => undefined),
  };
}

/** One database for a whole test file, dropped after it. */
export function useDatabase(label: string): () => TestDb {
  let db: TestDb | undefined;
  beforeAll(async () => {
    db = await createDatabase(label);
  });
  afterAll(async () => {
    await db?.drop();
  });
  return () => {
    if (!db) throw new Error('useDatabase: used outside a test');
    return db;
  };
}

/** `fresh()` makes a new database; every database made during a test is dropped after that test. */
export function databasePerTest(label: string): () => Promise<TestDb> {
  const made: TestDb[] = [];
  afterEach(async () => {
    await Promise.all(made.splice(0).map((d) => d.drop()));
  });
  return async () => {
    const db = await createDatabase(label);
    made.push(db);
    return db;
  };
}
