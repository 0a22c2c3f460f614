// `dbops queries snapshot|report` on real databases with pg_stat_statements: a slow statement and a fast one,
// a regression between two snapshots, a reset between them (a counter break), a password in a utility
// statement that must never be stored, the fix when the extension is missing, and the index review of the
// AstroFinance schema with seeded data (duplicate, overlapping, a foreign key without an index and its
// what-if cost with hypopg, sequential scans).
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueriesReportData } from '../../pipeline/operations/queries/index.ts';
import { dbops, testEnv } from '../helpers/cli.ts';
import { createDatabase, type TestDb } from '../helpers/db.ts';
import { tempDir } from '../helpers/migrations.ts';
import { startWebhook } from '../helpers/webhook.ts';
import { workload } from '../helpers/queries.ts';

const repeat = <T>(n: number, item: T): T[] => Array.from({ length: n }, () => item);

async function policies(extra: Record<string, unknown> = {}): Promise<{ dir: string; snapshots: string }> {
  const dir = await tempDir('dbops-queries-policies-');
  const snapshots = join(dir, 'snapshots');
  await writeFile(join(dir, 'queries.yaml'), JSON.stringify({ version: 1, snapshots: { dir: snapshots }, ...extra }));
  return { dir, snapshots };
}

async function report(db: TestDb, policiesDir: string, reportsDir?: string) {
  const out = await dbops(
    ['queries', 'report', '--database-url', db.url, '--policies-dir', policiesDir, '--json', ...(reportsDir ? ['--reports-dir', reportsDir] : [])],
    testEnv(),
  );
  expect(out.code, out.stderr).toBe(0);
  return { ...out, data: (JSON.parse(out.stdout) as { data: QueriesReportData }).data };
}

/** Every file under a folder, as text. */
async function allText(dir: string): Promise<string> {
  const files = await readdir(dir, { recursive: true, withFileTypes: true });
  const texts = await Promise.all(files.filter((f) => f.isFile()).map((f) => readFile(join(f.parentPath, f.name), 'utf8')));
  return texts.join('\n');
}

describe('dbops queries report: statements', () => {
  let db: TestDb;
  let p: { dir: string; snapshots: string };

  beforeAll(async () => {
    db = await createDatabase('queries');
    await db.query('CREATE EXTENSION pg_stat_statements');
    await db.query(`CREATE FUNCTION work(ms int) RETURNS void LANGUAGE sql AS $$ SELECT pg_sleep(ms / 1000.0) $$`);
    p = await policies();
  });
  afterAll(async () => {
    await db?.query('DROP ROLE IF EXISTS queries_secret_role').catch(() => undefined);
    await db?.drop();
  });

  it('names a statement over 500 ms with its normalized text, and not a fast one', async () => {
    const first = await dbops(['queries', 'snapshot', '--database-url', db.url, '--policies-dir', p.dir, '--json'], testEnv());
    expect(first.code, first.stderr).toBe(0);
    await workload(db.url, [['SELECT pg_sleep(0.55)'], ...repeat(5, ['SELECT count(*) FROM pg_class WHERE relname = $1', ['x']] as [string, unknown[]])]);
    const { data } = await report(db, p.dir);
    expect(data.previous?.label).toBe('snapshot');
    const slow = data.statements.slow;
    expect(slow.map((s) => s.query)).toEqual(['SELECT pg_sleep($1)']);
    expect(slow[0]).toMatchObject({ calls: 1, newlySlow: true });
    expect(slow[0]!.meanMs).toBeGreaterThanOrEqual(550);
    const fast = data.statements.top.find((s) => s.query === 'SELECT count(*) FROM pg_class WHERE relname = $1');
    expect(fast).toMatchObject({ calls: 5, new: true });
    expect(fast!.meanMs).toBeLessThan(500);
    expect(data.statements.newStatements.map((s) => s.query).sort()).toEqual(['SELECT count(*) FROM pg_class WHERE relname = $1', 'SELECT pg_sleep($1)']);
  });

  it('names a regression between two snapshots; a reset between them is a counter break, not a regression', async () => {
    await workload(db.url, repeat(20, ['SELECT work($1)', [1]] as [string, unknown[]]));
    await dbops(['queries', 'snapshot', '--database-url', db.url, '--policies-dir', p.dir], testEnv());
    await workload(db.url, repeat(20, ['SELECT work($1)', [70]] as [string, unknown[]]));
    const hook = await startWebhook();
    const reports = await tempDir('dbops-queries-reports-');
    let out;
    try {
      out = await dbops(
        ['queries', 'report', '--database-url', db.url, '--policies-dir', p.dir, '--reports-dir', reports, '--notify', '--json'],
        testEnv({ DBOPS_QUERIES_WEBHOOK: hook.url }),
      );
    } finally {
      await hook.close();
    }
    expect(out.code, out.stderr).toBe(0);
    const data = (JSON.parse(out.stdout) as { data: QueriesReportData }).data;
    // One message, naming the regressed statement by its normalized text; the webhook's token is never printed.
    expect(data.notification).toMatchObject({ status: 'sent', host: hook.host });
    expect(hook.requests).toHaveLength(1);
    expect((hook.requests[0]!.body as { text: string }).text).toMatch(
      /1 regressed[\s\S]*regression \S+: mean [\d.]+ ms over 20 calls, was [\d.]+ ms .*SELECT work\(\$1\)/,
    );
    expect(`${out.stdout}${out.stderr}`).not.toContain(hook.token);
    // The job summary's rendering of reports/queries-report.json.
    const md = await dbops(['report', '--format', 'markdown', '--reports-dir', reports], testEnv());
    expect(md.code, md.stderr).toBe(0);
    expect(md.stdout).toContain('**1 regression**');
    expect(md.stdout).toContain('`SELECT work($1)`');
    expect(data.statements.breaks).toEqual([]);
    const [r, ...others] = data.statements.regressions;
    expect(others).toEqual([]);
    expect(r).toMatchObject({ query: 'SELECT work($1)', calls: 20, before: { calls: 20 } });
    expect(r!.before.meanMs).toBeLessThan(20);
    expect(r!.meanMs).toBeGreaterThanOrEqual(70);
    expect(r!.ratio).toBeGreaterThanOrEqual(2);
    expect(data.verdict).toBe('warn');

    await db.query('SELECT pg_stat_statements_reset()');
    await workload(db.url, repeat(20, ['SELECT work($1)', [1]] as [string, unknown[]]));
    const quiet = await startWebhook();
    let afterRun;
    try {
      afterRun = await dbops(
        ['queries', 'report', '--database-url', db.url, '--policies-dir', p.dir, '--notify', '--json'],
        testEnv({ DBOPS_QUERIES_WEBHOOK: quiet.url }),
      );
    } finally {
      await quiet.close();
    }
    expect(afterRun.code, afterRun.stderr).toBe(0);
    const after = (JSON.parse(afterRun.stdout) as { data: QueriesReportData }).data;
    // Nothing regressed or became slow: nothing is sent.
    expect(after.notification?.status).toBe('not-wanted');
    expect(quiet.requests).toEqual([]);
    expect(after.statements.breaks.map((b) => b.kind)).toEqual(['reset']);
    expect(after.statements.breaks[0]!.message).toContain('no regression is judged');
    expect(after.statements.regressions).toEqual([]);
    expect(after.statements.newStatements).toEqual([]);
    // The interval's figures start at the reset: the 20 calls since, marked restarted.
    expect(after.statements.top.find((s) => s.query === 'SELECT work($1)')).toMatchObject({ calls: 20, restarted: true });
  });

  it('never stores, prints or reports a password a utility statement carried', async () => {
    const secret = 'Sup3r-Secret-Queries-Value';
    await workload(db.url, [[`CREATE ROLE queries_secret_role LOGIN PASSWORD '${secret}'`], [`ALTER ROLE queries_secret_role PASSWORD '${secret}x'`]]);
    const reports = await tempDir('dbops-queries-reports-');
    const out = await report(db, p.dir, reports);
    const created = out.data.statements.top.find((s) => s.query.startsWith('CREATE ROLE queries_secret_role'));
    expect(created?.query).toBe("CREATE ROLE queries_secret_role LOGIN PASSWORD '…'");
    const human = await dbops(['queries', 'report', '--database-url', db.url, '--policies-dir', p.dir], testEnv());
    for (const text of [out.stdout, out.stderr, human.stdout, human.stderr, await allText(p.snapshots), await allText(reports)])
      expect(text).not.toContain(secret);
    expect(await allText(reports)).toContain('PASSWORD');
  });

  it('without pg_stat_statements: exit 3 naming the fix', async () => {
    const bare = await createDatabase('queries-bare');
    try {
      const out = await dbops(['queries', 'report', '--database-url', bare.url, '--policies-dir', p.dir], testEnv());
      expect(out.code).toBe(3);
      expect(out.stderr).toContain('pg_stat_statements is loaded but not created');
      expect(out.stderr).toContain('CREATE EXTENSION pg_stat_statements');
    } finally {
      await bare.drop();
    }
  });
});

describe('dbops queries report: index usage on the AstroFinance schema', () => {
  let db: TestDb;
  let plain: TestDb;
  let p: { dir: string; snapshots: string };
  let data: QueriesReportData;

  beforeAll(async () => {
    [db, plain] = await Promise.all([createDatabase('queries-astro'), createDatabase('queries-astro-plain')]);
    for (const d of [db, plain]) {
      const deployed = await dbops(['migrate', 'deploy', '--database-url', d.url], testEnv());
      expect(deployed.code, deployed.stderr).toBe(0);
      const seeded = await dbops(['seed', '--database-url', d.url, '--scale', '0.01'], testEnv());
      expect(seeded.code, seeded.stderr).toBe(0);
      await d.query('CREATE EXTENSION pg_stat_statements');
      // A foreign key left without its index, a copy of an index, and a prefix of a two-column one.
      await d.query(`DROP INDEX "JournalEntry_createdById_idx";
                     CREATE INDEX zz_journal_line_account_copy ON "JournalLine" ("accountId");
                     CREATE INDEX zz_journal_line_org ON "JournalLine" ("organizationId");
                     ANALYZE`);
    }
    await db.query('CREATE EXTENSION hypopg');
    p = await policies({ indexes: { unused_window: '0', unused_min_size: '0', seq_scan_min_size: '0', seq_scan_min_rows: 1000 } });
    await dbops(['queries', 'snapshot', '--database-url', db.url, '--policies-dir', p.dir], testEnv());
    // Sequential scans of JournalLine since that snapshot, and two index scans (the subquery's, and zz_journal_line_org's).
    await workload(db.url, [
      ...repeat(3, ['SELECT count(*) FROM "JournalLine" WHERE "memo" IS NOT NULL'] as [string]),
      ['SET enable_seqscan = off'],
      ['SELECT count(*) FROM "JournalLine" WHERE "organizationId" = (SELECT "organizationId" FROM "JournalLine" LIMIT 1)'],
    ]);
    data = (await report(db, p.dir)).data;
  }, 120_000);
  afterAll(async () => {
    await Promise.all([db?.drop(), plain?.drop()]);
  });

  const of = (kind: string) => data.indexes.findings.filter((f) => f.kind === kind);

  it('names the duplicate and the overlapping index with the statement that drops them', () => {
    expect(of('duplicate').map((f) => [f.subject, f.measurement['duplicateOf'], f.fix])).toEqual([
      ['public.zz_journal_line_account_copy', 'public.JournalLine_accountId_idx', 'DROP INDEX CONCURRENTLY "public"."zz_journal_line_account_copy";'],
    ]);
    expect(of('overlapping').map((f) => [f.subject, f.measurement['coveredBy']])).toEqual([
      ['public.zz_journal_line_org', 'public.JournalLine_organizationId_accountId_idx'],
    ]);
  });

  it('names the foreign key without an index, with its what-if cost by hypopg', () => {
    const [fk, ...rest] = of('unindexed-foreign-key');
    expect(rest).toEqual([]);
    expect(fk).toMatchObject({
      subject: 'public.JournalEntry',
      fix: 'CREATE INDEX CONCURRENTLY ON "public"."JournalEntry" ("createdById");',
      measurement: { constraint: 'JournalEntry_createdById_fkey', columns: 'createdById', references: '"User"' },
    });
    const w = fk!['whatIf'] as { measured: true; query: string; costBefore: number; costAfter: number; usesIndex: boolean };
    expect(w).toMatchObject({ measured: true, usesIndex: true, query: 'SELECT * FROM "public"."JournalEntry" WHERE "createdById" = $1' });
    expect(w.costAfter).toBeLessThan(w.costBefore);
  });

  it('without hypopg the what-if says why and how to install it', async () => {
    const q = await policies({ indexes: { unused_window: '0' } });
    const plainData = (await report(plain, q.dir)).data;
    const fk = plainData.indexes.findings.find((f) => f.kind === 'unindexed-foreign-key');
    expect(fk?.['whatIf']).toEqual({ measured: false, reason: expect.stringContaining('apt-get install postgresql-15-hypopg') });
  });

  it('calls unused only what no scan touched; unique and primary-key indexes are never unused', () => {
    const unused = of('unused').map((f) => f.subject);
    expect(unused).toContain('public.zz_journal_line_account_copy');
    expect(unused).not.toContain('public.zz_journal_line_org');
    expect(unused.filter((n) => n.endsWith('_pkey') || n.endsWith('_key'))).toEqual([]);
  });

  it('names the table read mostly by sequential scans since the previous snapshot', () => {
    const heavy = of('seq-scan-heavy').find((f) => f.subject === 'public.JournalLine');
    expect(heavy).toMatchObject({ measurement: { seqScans: 3, indexScans: 2 } });
    expect(heavy!.message).toContain('since the previous snapshot');
  });
});
