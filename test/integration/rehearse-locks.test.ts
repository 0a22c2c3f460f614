// What `dbops rehearse` measures, on a 200,000-row table: rewrites, lock modes and hold times, probes
// blocked or not, rollback proofs, workload plans, and lint findings re-judged with the evidence. One
// template per file (built once by `dbops migrate deploy`), cloned by every case.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { dbops } from '../helpers/cli.ts';
import { adminUrl, queryUrl, useDatabase } from '../helpers/db.ts';
import { migrationsFolder, tempDir, writeMigration } from '../helpers/migrations.ts';
import { BASE_NAME, BASE_SQL, lintReport } from '../fixtures/rehearse/generate-series.ts';
import { type Finding } from '../../pipeline/core/result.ts';
import { type RehearseData } from '../../pipeline/change/rehearsal/model.ts';

const template = useDatabase('rehearse_locks');

interface Rehearsal {
  code: number;
  stdout: string;
  all: string;
  data: RehearseData;
  findings: Finding[];
}

interface CaseOptions {
  rollback?: string | null;
  /** Files in the policies folder (migrations.yaml, workload.sql). */
  policies?: Record<string, string>;
  /** reports/lint.json content. */
  lint?: unknown;
  extra?: string[];
  name?: string;
  /** Human output instead of --json (data is then undefined). */
  human?: boolean;
}

const CASE = '20240201000000_change';

async function rehearse(sql: string, { rollback = null, policies = {}, lint, extra = [], name = CASE, human = false }: CaseOptions = {}): Promise<Rehearsal> {
  const dir = await migrationsFolder({ [BASE_NAME]: BASE_SQL });
  await writeMigration(dir, name, sql);
  const rollbacks = await tempDir('dbops-rollbacks-');
  if (rollback !== null) await writeFile(join(rollbacks, `${name}.sql`), rollback);
  const policiesDir = await tempDir('dbops-policies-');
  for (const [file, text] of Object.entries(policies)) await writeFile(join(policiesDir, file), text);
  const reports = await tempDir('dbops-reports-');
  if (lint !== undefined) await writeFile(join(reports, 'lint.json'), JSON.stringify(lint));
  const run = await dbops([
    'rehearse',
    '--snapshot-url',
    template().url,
    '--migrations-dir',
    dir,
    '--rollbacks-dir',
    rollbacks,
    '--policies-dir',
    policiesDir,
    '--reports-dir',
    reports,
    '--last',
    '1',
    ...(human ? [] : ['--json']),
    ...extra,
  ]);
  if (human) return { code: run.code, stdout: run.stdout, all: run.all, data: undefined as unknown as RehearseData, findings: [] };
  const out = JSON.parse(run.stdout) as { data: RehearseData; findings: Finding[] };
  expect(out.data, run.all).toBeDefined();
  return { code: run.code, stdout: run.stdout, all: run.all, data: out.data, findings: out.findings };
}

const only = (r: Rehearsal) => r.data.migrations[0]!;
const table = (r: Rehearsal, name: string) => only(r).tables.find((t) => t.relation === name);
const lock = (r: Rehearsal, name: string) => only(r).locks.find((l) => l.relation === name);
const probe = (r: Rehearsal, t: string, op: 'read' | 'write') => only(r).probes.find((p) => p.table === t && p.operation === op)!;
const rules = (r: Rehearsal) => r.findings.map((f) => `${f.severity} ${f.rule}`);

beforeAll(async () => {
  const dir = await migrationsFolder({ [BASE_NAME]: BASE_SQL });
  const deploy = await dbops(['migrate', 'deploy', '--database-url', template().url, '--migrations-dir', dir]);
  expect(deploy.code, deploy.all).toBe(0);
});

describe('rehearse measures locks and rewrites', () => {
  it('ADD COLUMN with a volatile default rewrites the table under ACCESS EXCLUSIVE; the probes wait', async () => {
    const r = await rehearse('-- AlterTable\nALTER TABLE "child" ADD COLUMN "ref" UUID DEFAULT gen_random_uuid();\n', {
      rollback: 'ALTER TABLE "child" DROP COLUMN "ref";\n',
    });
    expect(r.code).toBe(1);
    expect(only(r)).toMatchObject({ name: CASE, mode: 'atomic', status: 'applied', touched: ['child'] });
    expect(table(r, 'child')).toMatchObject({ rewritten: true, rowsBefore: 200_000, rowsAfter: 200_000 });
    expect(table(r, 'child')!.bytesAfter!).toBeGreaterThan(table(r, 'child')!.bytesBefore!);
    expect(lock(r, 'child')).toMatchObject({ mode: 'AccessExclusiveLock', rows: 200_000 });
    expect(lock(r, 'child')!.heldMs).toBeGreaterThan(0);
    // Reads and writes alike wait for ACCESS EXCLUSIVE.
    expect(probe(r, 'child', 'read').maxBlockedMs).toBeGreaterThan(0);
    expect(probe(r, 'child', 'write').maxBlockedMs).toBeGreaterThan(0);
    // The timeline has the interval, in ms since the migration started.
    const span = only(r).timeline.find((s) => s.relation === 'child' && s.mode === 'AccessExclusiveLock' && s.granted)!;
    expect(span.startMs).toBeGreaterThanOrEqual(0);
    expect(span.endMs).toBeGreaterThan(span.startMs);
    expect(span.endMs).toBeLessThanOrEqual(only(r).durationMs + 1);
    // A measured rewrite of a large table is an error even though no static rule said anything.
    const rewrite = r.findings.find((f) => f.rule === 'rehearse/rewrite')!;
    expect(rewrite).toMatchObject({ severity: 'error', migration: CASE, line: 2 });
    expect(rewrite.file).toMatch(/20240201000000_change\/migration\.sql$/);
    expect(rewrite.message).toContain('"child" (200,000 rows');
    expect(only(r).rollback).toMatchObject({ status: 'proven', reapply: 'matched' });
  });

  it('ADD COLUMN … DEFAULT now() does not rewrite (the default is stored once in the catalog)', async () => {
    const r = await rehearse('ALTER TABLE "child" ADD COLUMN "seenAt" TIMESTAMPTZ NOT NULL DEFAULT now();\n', {
      rollback: 'ALTER TABLE "child" DROP COLUMN "seenAt";\n',
    });
    expect(table(r, 'child')).toMatchObject({ rewritten: false, rowsBefore: 200_000 });
    expect(lock(r, 'child')!.mode).toBe('AccessExclusiveLock');
    expect(rules(r)).not.toContain('error rehearse/rewrite');
    expect(r.code).toBe(0);
    expect(only(r).rollback).toMatchObject({ status: 'proven', reapply: 'matched' });
  });

  it('integer → bigint rewrites the table', async () => {
    const r = await rehearse('ALTER TABLE "child" ALTER COLUMN "a" SET DATA TYPE BIGINT;\n', {
      rollback: 'ALTER TABLE "child" ALTER COLUMN "a" SET DATA TYPE INTEGER;\n',
    });
    expect(table(r, 'child')!.rewritten).toBe(true);
    expect(lock(r, 'child')!.mode).toBe('AccessExclusiveLock');
    expect(rules(r)).toContain('error rehearse/rewrite');
    expect(only(r).rollback).toMatchObject({ status: 'proven', reapply: 'matched' });
  });

  it('CREATE INDEX without CONCURRENTLY takes SHARE: writes wait, reads do not', async () => {
    const r = await rehearse('CREATE INDEX "child_a_idx" ON "child"("a");\n', { rollback: 'DROP INDEX "child_a_idx";\n' });
    expect(lock(r, 'child')!.mode).toBe('ShareLock');
    expect(table(r, 'child')!.rewritten).toBe(false);
    expect(probe(r, 'child', 'write').maxBlockedMs).toBeGreaterThan(0);
    expect(probe(r, 'child', 'read').maxBlockedMs).toBe(0);
    expect(probe(r, 'child', 'read').errors).toBe(0);
    expect(only(r).rollback).toMatchObject({ status: 'proven', reapply: 'matched' });
  });

  it('CREATE INDEX CONCURRENTLY blocks no probe; it runs split, and a rollback with CONCURRENTLY and its own BEGIN/COMMIT is run as planned', async () => {
    const r = await rehearse('CREATE INDEX CONCURRENTLY "child_a_idx" ON "child"("a");\n', {
      rollback: 'DROP INDEX CONCURRENTLY "child_a_idx";\nBEGIN;\nSELECT 1;\nCOMMIT;\n',
    });
    expect(only(r).mode).toBe('split');
    expect(lock(r, 'child')!.mode).toBe('ShareUpdateExclusiveLock');
    expect(only(r).timeline.every((s) => s.mode !== 'ShareLock' && s.mode !== 'AccessExclusiveLock')).toBe(true);
    expect(probe(r, 'child', 'write').maxBlockedMs).toBe(0);
    expect(probe(r, 'child', 'write').samples).toBeGreaterThan(0);
    expect(probe(r, 'child', 'read').maxBlockedMs).toBe(0);
    expect(only(r).rollback).toMatchObject({ status: 'proven', reapply: 'matched' });
    expect(r.code).toBe(0);
  });

  it('ADD FOREIGN KEY without NOT VALID takes SHARE ROW EXCLUSIVE on the child and on the parent', async () => {
    const r = await rehearse(
      'ALTER TABLE "child" ADD CONSTRAINT "child_parent_id_fkey" FOREIGN KEY ("parent_id") REFERENCES "parent"("id") ON DELETE RESTRICT ON UPDATE CASCADE;\n',
      {
        rollback: 'ALTER TABLE "child" DROP CONSTRAINT "child_parent_id_fkey";\n',
      },
    );
    expect(lock(r, 'child')).toMatchObject({ mode: 'ShareRowExclusiveLock', rows: 200_000 });
    expect(lock(r, 'parent')).toMatchObject({ mode: 'ShareRowExclusiveLock', rows: 20 });
    expect(only(r).touched.sort()).toEqual(['child', 'parent']);
    expect(only(r).rollback).toMatchObject({ status: 'proven', reapply: 'matched' });
  });
});

describe('rehearse proves rollbacks', () => {
  it('prints a compact block per migration for humans, then the findings and the verdict', async () => {
    const r = await rehearse('CREATE INDEX "child_payload_idx" ON "child"("payload");\nALTER TABLE "child" ADD COLUMN "note" TEXT;\n', {
      rollback: 'ALTER TABLE "child" DROP COLUMN "note";\n',
      human: true,
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/20240201000000_change\s+atomic · applied in [\d.]+ m?s · \d+ lock samples? every 25 ms/);
    expect(r.stdout).toMatch(/locks\s+child\s+AccessExclusiveLock\s+[\d.]+ m?s\s+200,000 rows, blocks reads and writes/);
    expect(r.stdout).toMatch(/probes\s+child\s+read p95 .* · write p95 .* · max blocked/);
    expect(r.stdout).toContain('rollback  MISMATCH');
    expect(r.stdout).toContain('+ index child_payload_idx on child');
    expect(r.stdout).toMatch(/Findings\n  error   rehearse\/rollback-mismatch/);
    expect(r.stdout).toMatch(/Verdict: FAIL \(2 errors, \d+ warnings?, \d+ notices?\)/);
  });

  it('a rollback that forgets to drop an index yields a diff naming it, and the re-apply fails on it', async () => {
    const r = await rehearse('CREATE INDEX "child_payload_idx" ON "child"("payload");\nALTER TABLE "child" ADD COLUMN "note" TEXT;\n', {
      rollback: 'ALTER TABLE "child" DROP COLUMN "note";\n',
    });
    expect(r.code).toBe(1);
    const proof = only(r).rollback;
    expect(proof.status).toBe('mismatch');
    expect(proof.diff).toContain('+ index child_payload_idx on child: CREATE INDEX child_payload_idx ON public.child USING btree (payload)');
    expect(proof.diff).not.toContain('note');
    expect(proof.reapply).toBe('failed');
    expect(proof.reapplyError).toContain('child_payload_idx');
    const mismatch = r.findings.find((f) => f.rule === 'rehearse/rollback-mismatch')!;
    expect(mismatch.severity).toBe('error');
    expect(mismatch.file).toMatch(/20240201000000_change\.sql$/);
    expect(mismatch.message).toContain('child_payload_idx');
    expect(rules(r)).toContain('error rehearse/reapply-failed');
  });

  it('a missing rollback is an error finding, not a crash; an irreversible one is reported and not run', async () => {
    const missing = await rehearse('ALTER TABLE "parent" ADD COLUMN "code" TEXT;\n');
    expect(missing.code).toBe(1);
    expect(only(missing).status).toBe('applied');
    expect(only(missing).rollback).toEqual({ status: 'missing', reapply: 'not-run' });
    expect(missing.findings.find((f) => f.rule === 'rehearse/rollback-missing')).toMatchObject({ severity: 'error', migration: CASE });

    const irreversible = await rehearse('ALTER TABLE "parent" DROP COLUMN "name";\n', {
      rollback: '-- dbops:irreversible the names are gone\nALTER TABLE "parent" ADD COLUMN "name" TEXT;\n',
    });
    expect(only(irreversible).rollback).toEqual({ status: 'irreversible', reason: 'the names are gone', reapply: 'not-run' });
    expect(irreversible.findings.find((f) => f.rule === 'rehearse/irreversible')).toMatchObject({ severity: 'notice', line: 1 });
    expect(irreversible.code).toBe(0);
  });

  it('records the rollback in _prisma_migrations as `migrate resolve --rolled-back` does, then applies again (kept clone)', async () => {
    const r = await rehearse('ALTER TABLE "parent" ADD COLUMN "code" TEXT;\n', { rollback: 'ALTER TABLE "parent" DROP COLUMN "code";\n', extra: ['--keep'] });
    const clone = r.data.snapshot.clone!;
    const url = new URL(template().url);
    url.pathname = `/${clone}`;
    try {
      const rows = await queryUrl<{ migration_name: string; finished: boolean; rolled_back: boolean }>(
        url.toString(),
        'SELECT migration_name, finished_at IS NOT NULL AS finished, rolled_back_at IS NOT NULL AS rolled_back FROM _prisma_migrations ORDER BY started_at',
      );
      expect(rows).toEqual([
        { migration_name: BASE_NAME, finished: true, rolled_back: false },
        { migration_name: CASE, finished: true, rolled_back: true },
        { migration_name: CASE, finished: true, rolled_back: false },
      ]);
      const [col] = await queryUrl(url.toString(), `SELECT 1 FROM information_schema.columns WHERE table_name = 'parent' AND column_name = 'code'`);
      expect(col).toBeDefined();
    } finally {
      await queryUrl(adminUrl(), `DROP DATABASE IF EXISTS "${clone}" WITH (FORCE)`);
    }
  });
});

describe('rehearse compares the workload and re-judges lint findings', () => {
  const workload = `-- Named queries of the test application.
-- name: child_by_a
SELECT id, parent_id FROM "child" WHERE a = 7 ORDER BY id;

-- name: payloads
-- The payload column the next migration drops.
SELECT payload FROM "child" WHERE id = 42;
`;

  it('a new index changes the plan; a query using a dropped column fails after the migration and is named', async () => {
    const r = await rehearse('CREATE INDEX "child_a_idx" ON "child"("a");\nALTER TABLE "child" DROP COLUMN "payload";\n', {
      rollback: 'ALTER TABLE "child" ADD COLUMN "payload" TEXT;\nDROP INDEX "child_a_idx";\n',
      policies: { 'workload.sql': workload },
    });
    const byName = Object.fromEntries(r.data.workload.map((w) => [w.name, w]));
    expect(byName['child_by_a']!.planChanged).toBe(true);
    expect(byName['child_by_a']!.before!.shape).toContain('Seq Scan on child');
    expect(byName['child_by_a']!.after!.shape).toContain('child_a_idx');
    expect(byName['child_by_a']!.ratio).toBeGreaterThan(0);
    expect(byName['payloads']!.before).not.toBeNull();
    expect(byName['payloads']!.after).toBeNull();
    expect(byName['payloads']!.error).toContain('payload');
    const failed = r.findings.find((f) => f.rule === 'rehearse/workload-failed')!;
    expect(failed).toMatchObject({ severity: 'error', line: 5 });
    expect(failed.message).toContain('`payloads`');
    expect(failed.file).toMatch(/workload\.sql$/);
    expect(r.findings.find((f) => f.rule === 'rehearse/plan-changed')).toMatchObject({ severity: 'notice', line: 2 });
  });

  it('a lock rule fired on a 20-row table comes back as a notice with the measurement', async () => {
    const file = `prisma/migrations/${CASE}/migration.sql`;
    const r = await rehearse('CREATE INDEX "parent_name_idx" ON "parent"("name");\n', {
      rollback: 'DROP INDEX "parent_name_idx";\n',
      lint: lintReport([
        {
          rule: 'squawk/require-concurrent-index-creation',
          severity: 'warning',
          message: 'During normal index creation, table updates are blocked, but reads are still allowed.',
          file,
          line: 1,
          migration: CASE,
        },
        { rule: 'squawk/prefer-robust-stmts', severity: 'warning', message: 'not a lock rule', file, line: 1, migration: CASE },
      ]),
    });
    const notice = r.findings.find((f) => f.rule === 'squawk/require-concurrent-index-creation')!;
    expect(notice).toMatchObject({ severity: 'notice', line: 1, migration: CASE, file });
    expect(notice.message).toContain('"parent" (20 rows), ShareLock held');
    expect(notice.message).toContain('Harmless at this size');
    expect(r.findings.some((f) => f.rule === 'squawk/prefer-robust-stmts')).toBe(false);
    expect(r.code).toBe(0);

    // The lint report of another commit is ignored: its lines may point at other statements by now.
    const stale = await rehearse('CREATE INDEX "parent_name_idx" ON "parent"("name");\n', {
      rollback: 'DROP INDEX "parent_name_idx";\n',
      lint: {
        ...lintReport([{ rule: 'squawk/require-concurrent-index-creation', severity: 'warning', message: 'static', file, line: 1, migration: CASE }]),
        commit: '0123456789abcdef0123456789abcdef01234567',
      },
    });
    expect(stale.findings.some((f) => f.rule.startsWith('squawk/'))).toBe(false);
  });

  it('the same rule on the large table: the budget finding carries the verdict and names the static check, escalated', async () => {
    const file = `prisma/migrations/${CASE}/migration.sql`;
    const r = await rehearse('ALTER TABLE "child" ADD COLUMN "ref" UUID DEFAULT gen_random_uuid();\n', {
      rollback: 'ALTER TABLE "child" DROP COLUMN "ref";\n',
      lint: lintReport([
        {
          rule: 'squawk/adding-field-with-default',
          severity: 'warning',
          message: 'Adding a generated column requires a table rewrite with an ACCESS EXCLUSIVE lock.',
          file,
          line: 1,
          migration: CASE,
        },
      ]),
    });
    expect(r.findings.some((f) => f.rule === 'squawk/adding-field-with-default')).toBe(false);
    const rewrite = r.findings.find((f) => f.rule === 'rehearse/rewrite')!;
    expect(rewrite.severity).toBe('error');
    expect(rewrite.message).toContain(
      'Static check adding-field-with-default (lint warning) flagged this statement; the measurement confirms it and escalates it to error.',
    );
  });

  it('in one atomic migration, a lock on a small table lasts until COMMIT: behind a rewrite it blocks writes for the whole rewrite', async () => {
    const r = await rehearse('CREATE INDEX "parent_name_idx" ON "parent"("name");\nALTER TABLE "child" ADD COLUMN "ref" UUID DEFAULT gen_random_uuid();\n', {
      rollback: 'ALTER TABLE "child" DROP COLUMN "ref";\nDROP INDEX "parent_name_idx";\n',
    });
    const share = only(r).timeline.find((s) => s.relation === 'parent' && s.mode === 'ShareLock' && s.granted)!;
    const exclusive = only(r).timeline.find((s) => s.relation === 'child' && s.mode === 'AccessExclusiveLock' && s.granted)!;
    expect(share.endMs).toBeGreaterThanOrEqual(exclusive.endMs);
    expect(probe(r, 'parent', 'write').maxBlockedMs).toBeGreaterThan(0);
    expect(probe(r, 'parent', 'read').maxBlockedMs).toBe(0);
  });
});
