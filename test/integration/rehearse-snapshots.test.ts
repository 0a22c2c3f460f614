// Where a rehearsal's data comes from and how it ends: a staging template (--snapshot-url or
// STAGING_SNAPSHOT_URL), a pg_dump archive restored once and reused (--snapshot-file), an empty database
// (--all), the base ref from git; and the clone is dropped after a failure and after an interrupt.
import { execFile, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContext } from '../../pipeline/cli/context.ts';
import { EnvError } from '../../pipeline/core/errors.ts';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { findPgBinaries, pgTool } from '../../pipeline/infra/pg/binaries.ts';
import { RehearseInputs } from '../../pipeline/commands/rehearse/spec.ts';
import { run } from '../../pipeline/commands/rehearse/run.ts';
import { BASE_NAME, BASE_SQL } from '../fixtures/rehearse/generate-series.ts';
import { BIN, dbops, testEnv, type CliRun } from '../helpers/cli.ts';
import { adminUrl, createDatabase, queryUrl, useDatabase } from '../helpers/db.ts';
import { LOCKFILE, migrationsFolder, tempDir, writeMigration } from '../helpers/migrations.ts';
import { type Finding } from '../../pipeline/core/result.ts';
import { type RehearseData } from '../../pipeline/change/rehearsal/model.ts';

const exec = promisify(execFile);
const template = useDatabase('rehearse_snapshots');
const CHANGE = '20240201000000_change';
const CHANGE_SQL = 'ALTER TABLE "child" ADD COLUMN "ref" UUID DEFAULT gen_random_uuid();\n';
const CHANGE_ROLLBACK = 'ALTER TABLE "child" DROP COLUMN "ref";\n';
const dropAfter = new Set<string>();

afterAll(async () => {
  for (const d of dropAfter) await queryUrl(adminUrl(), `DROP DATABASE IF EXISTS "${d}" WITH (FORCE)`);
});

beforeAll(async () => {
  const deploy = await dbops(['migrate', 'deploy', '--database-url', template().url, '--migrations-dir', await migrationsFolder({ [BASE_NAME]: BASE_SQL })]);
  expect(deploy.code, deploy.all).toBe(0);
});

async function change(
  files: Record<string, string> = { [CHANGE]: CHANGE_SQL },
  rollbackFiles: Record<string, string> = { [CHANGE]: CHANGE_ROLLBACK },
  { base = true } = {},
) {
  const dir = await migrationsFolder(base ? { [BASE_NAME]: BASE_SQL } : {});
  for (const [name, sql] of Object.entries(files)) await writeMigration(dir, name, sql);
  const rollbacks = await tempDir('dbops-rollbacks-');
  for (const [name, sql] of Object.entries(rollbackFiles)) await writeFile(join(rollbacks, `${name}.sql`), sql);
  const empty = await tempDir('dbops-policies-');
  const reports = await tempDir('dbops-reports-');
  return {
    dir,
    rollbacks,
    policies: empty,
    reports,
    flags: ['--migrations-dir', dir, '--rollbacks-dir', rollbacks, '--policies-dir', empty, '--reports-dir', reports],
  };
}

const parse = (r: CliRun) => JSON.parse(r.stdout) as { data: RehearseData; findings: Finding[]; verdict: string };
const exists = async (database: string) => (await queryUrl(adminUrl(), 'SELECT 1 FROM pg_database WHERE datname = $1', [database])).length > 0;

describe('snapshot sources', () => {
  it('--snapshot-file restores a pg_dump archive once into a template keyed by its hash, and reuses it', async () => {
    const bins = await findPgBinaries();
    const dump = join(await tempDir('dbops-dump-'), 'staging.dump');
    await exec(await pgTool(bins, 'pg_dump'), ['-Fc', '--no-owner', '-f', dump, `--dbname=${template().url}`]);
    const { flags } = await change();
    const first = await dbops(['rehearse', '--snapshot-file', dump, '--database-url', adminUrl(), '--last', '1', '--json', ...flags]);
    const a = parse(first).data;
    if (a.snapshot.template) dropAfter.add(a.snapshot.template);
    expect(first.code, first.all).toBe(1); // the rewrite of 200,000 rows is an error
    expect(a.snapshot).toMatchObject({ source: 'file', reused: false });
    expect(a.snapshot.label).toMatch(/^staging\.dump \(sha256 [0-9a-f]{12}\)$/);
    expect(a.snapshot.template).toMatch(/^dbops_tpl_file_[0-9a-f]{16}$/);
    expect(a.migrations[0]!.tables.find((t) => t.relation === 'child')).toMatchObject({ rewritten: true, rowsBefore: 200_000 });
    expect(await exists(a.snapshot.clone!)).toBe(false);
    expect(await exists(a.snapshot.template!)).toBe(true);

    const second = parse(await dbops(['rehearse', '--snapshot-file', dump, '--database-url', adminUrl(), '--last', '1', '--json', ...flags])).data;
    expect(second.snapshot).toMatchObject({ source: 'file', reused: true, template: a.snapshot.template });
    expect(second.migrations[0]!.rollback).toMatchObject({ status: 'proven', reapply: 'matched' });
  });

  it('--snapshot-file that is not a pg_dump archive is a configuration error', async () => {
    const bad = join(await tempDir('dbops-dump-'), 'plain.sql');
    await writeFile(bad, 'CREATE TABLE t (id int);\n');
    const { flags } = await change();
    const r = await dbops(['rehearse', '--snapshot-file', bad, '--database-url', adminUrl(), '--last', '1', ...flags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('is not a pg_dump custom-format archive');
  });

  it('STAGING_SNAPSHOT_URL is used when --snapshot-url is not given; the password never shows', async () => {
    const password = decodeURIComponent(new URL(template().url).password);
    expect(password.length).toBeGreaterThan(3);
    const { flags } = await change();
    const r = await dbops(['rehearse', '--last', '1', ...flags], testEnv({ STAGING_SNAPSHOT_URL: template().url }));
    expect(r.stdout).toContain(`Rehearsal on postgresql://postgres:***@127.0.0.1:`);
    expect(r.all).not.toContain(password);
    expect(r.all).not.toContain(encodeURIComponent(password));
    const json = parse(await dbops(['rehearse', '--last', '1', '--json', ...flags], testEnv({ STAGING_SNAPSHOT_URL: template().url })));
    expect(json.data.snapshot).toMatchObject({ source: 'url', template: template().name });
    expect(JSON.stringify(json)).not.toContain(password);
  });

  it('an unreachable snapshot server is an environment error (exit 3) that does not leak the password', async () => {
    const { flags } = await change();
    const r = await dbops(['rehearse', '--snapshot-url', 'postgresql://app:Sn4pshot-Secret@127.0.0.1:1/staging', '--last', '1', ...flags]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("Can't reach database server at `127.0.0.1:1`");
    expect(r.all).not.toContain('Sn4pshot-Secret');
  });

  it('--all rehearses every migration on an empty database; it cannot be combined with a snapshot', async () => {
    const { flags } = await change(
      {
        '20240101000000_base': 'CREATE TABLE "t" (id int PRIMARY KEY);\n',
        '20240102000000_more': 'ALTER TABLE "t" ADD COLUMN "name" TEXT;\nCREATE INDEX "t_name_idx" ON "t"("name");\n',
      },
      { '20240101000000_base': 'DROP TABLE "t";\n', '20240102000000_more': 'DROP INDEX "t_name_idx";\nALTER TABLE "t" DROP COLUMN "name";\n' },
      { base: false },
    );
    const r = await dbops(['rehearse', '--all', '--database-url', adminUrl(), '--json', ...flags]);
    const { data } = parse(r);
    expect(r.code, r.all).toBe(0);
    expect(data.snapshot.label).toContain('empty database');
    expect(data.base).toEqual({ ref: null, applied: [] });
    expect(data.pending).toEqual(['20240101000000_base', '20240102000000_more']);
    expect(data.migrations.map((m) => `${m.rollback.status}/${m.rollback.reapply}`)).toEqual(['proven/matched', 'proven/matched']);
    expect(await exists(data.snapshot.clone!)).toBe(false);

    const both = await dbops(['rehearse', '--all', '--snapshot-url', template().url, ...flags]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--all rehearses every migration on an empty database');
  });

  it('the synthetic dataset cannot be built below the schema it needs: a refusal that says what to do', async () => {
    const r = await dbops(['rehearse', '--last', '9', '--database-url', adminUrl(), '--scale', '0.01']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('The synthetic AstroFinance dataset cannot be built on the base state (0 migrations)');
    expect(r.stderr).toContain('--last N with a smaller N');
  });

  it('refuses a snapshot that already contains a migration of the change', async () => {
    const { flags } = await change({ [CHANGE]: 'SELECT 1;\n' });
    const r = await dbops(['rehearse', '--snapshot-url', template().url, '--last', '2', ...flags]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`The snapshot already contains ${BASE_NAME}, which the change adds`);
  });
});

describe('the clone is dropped', () => {
  it('after a failing migration: an error finding, the later migration not rehearsed', async () => {
    const { flags } = await change({ '20240201000000_broken': '-- divides by zero\nSELECT 1/0;\n', '20240202000000_after': 'SELECT 2;\n' }, {});
    const r = await dbops(['rehearse', '--snapshot-url', template().url, '--last', '2', '--json', ...flags]);
    const { data, findings } = parse(r);
    expect(r.code).toBe(1);
    expect(data.migrations.map((m) => m.status)).toEqual(['failed', 'not-run']);
    expect(data.migrations[0]!.error).toBe('22012: division by zero');
    expect(findings.find((f) => f.rule === 'rehearse/apply-failed')).toMatchObject({ severity: 'error', migration: '20240201000000_broken' });
    expect(findings.find((f) => f.rule === 'rehearse/not-run')).toMatchObject({ migration: '20240202000000_after' });
    expect(await exists(data.snapshot.clone!)).toBe(false);
  });

  it('after an interrupt (Ctrl-C) in the middle of a migration: exit 3, nothing left behind', async () => {
    const { dir, rollbacks, policies, reports } = await change();
    const abort = new AbortController();
    const lines: string[] = [];
    const ctx = createContext({
      log: silentLogger(),
      signal: abort.signal,
      policiesDir: policies,
      env: testEnv(),
      progress: (line) => {
        lines.push(line);
        // The migration rewrites 200,000 rows: abort while it runs.
        if (line.startsWith('Applying')) setTimeout(() => abort.abort(), 200);
      },
    });
    const input = RehearseInputs.parse({
      snapshotUrl: template().url,
      migrationsDir: dir,
      rollbacksDir: rollbacks,
      policiesDir: policies,
      reportsDir: reports,
      last: 1,
    });
    const error = await run(input, ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnvError);
    expect((error as EnvError).exitCode).toBe(3);
    expect((error as EnvError).message).toContain('Interrupted');
    const clone = /into (dbops_rehearse_\w+)/.exec(lines.join('\n'))?.[1];
    expect(clone).toBeDefined();
    expect(await exists(clone!)).toBe(false);
    const sessions = await queryUrl(adminUrl(), `SELECT 1 FROM pg_stat_activity WHERE datname = $1`, [clone]);
    expect(sessions).toEqual([]);
  });

  it('a clone left by a killed run on this machine is swept by the next rehearsal on that server', async () => {
    const dead = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ['-e', '0']);
      child.on('exit', () => resolve(child.pid!));
    });
    const orphan = `dbops_rehearse_orphan_${dead}`;
    await queryUrl(adminUrl(), `CREATE DATABASE "${orphan}" TEMPLATE template0`);
    dropAfter.add(orphan);
    const { hostname } = await import('node:os');
    const note = JSON.stringify({ tool: 'dbops', host: hostname(), pid: dead, startedAt: new Date().toISOString(), keep: false });
    await queryUrl(adminUrl(), `COMMENT ON DATABASE "${orphan}" IS '${note}'`);
    const kept = `dbops_rehearse_kept_${dead}`;
    await queryUrl(adminUrl(), `CREATE DATABASE "${kept}" TEMPLATE template0`);
    dropAfter.add(kept);
    await queryUrl(
      adminUrl(),
      `COMMENT ON DATABASE "${kept}" IS '${JSON.stringify({ tool: 'dbops', host: hostname(), pid: dead, startedAt: '', keep: true })}'`,
    );
    const { flags } = await change({ [CHANGE]: 'SELECT 1;\n' }, { [CHANGE]: 'SELECT 1;\n' });
    const r = await dbops(['rehearse', '--snapshot-url', template().url, '--last', '1', ...flags]);
    expect(r.code, r.all).toBe(0);
    expect(await exists(orphan)).toBe(false);
    expect(await exists(kept)).toBe(true);
  });
});

describe('the base ref from git', () => {
  async function git(cwd: string, ...args: string[]) {
    await exec('git', args, {
      cwd,
      env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' },
    });
  }

  function dbopsIn(cwd: string, args: string[]): Promise<CliRun> {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: testEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr, all: stdout + stderr })));
  }

  it("applies the base ref's migrations to the snapshot and rehearses what the branch adds", async () => {
    const repo = await tempDir('dbops-repo-');
    await git(repo, 'init', '-q', '-b', 'main');
    await mkdir(join(repo, 'prisma', 'migrations', '20240101000000_init'), { recursive: true });
    await mkdir(join(repo, 'rollbacks'));
    await writeFile(join(repo, 'prisma', 'migrations', 'migration_lock.toml'), LOCKFILE);
    await writeFile(
      join(repo, 'prisma', 'migrations', '20240101000000_init', 'migration.sql'),
      'CREATE TABLE "Invoice" (id int PRIMARY KEY, total numeric NOT NULL);\nINSERT INTO "Invoice" SELECT g, g FROM generate_series(1, 1000) g;\n',
    );
    await writeFile(join(repo, 'rollbacks', '20240101000000_init.sql'), 'DROP TABLE "Invoice";\n');
    await git(repo, 'add', '.');
    await git(repo, 'commit', '-q', '-m', 'init');
    await git(repo, 'checkout', '-q', '-b', 'feature');
    await mkdir(join(repo, 'prisma', 'migrations', '20240301000000_due_date'));
    await writeFile(join(repo, 'prisma', 'migrations', '20240301000000_due_date', 'migration.sql'), 'ALTER TABLE "Invoice" ADD COLUMN "dueDate" DATE;\n');
    await writeFile(join(repo, 'rollbacks', '20240301000000_due_date.sql'), 'ALTER TABLE "Invoice" DROP COLUMN "dueDate";\n');

    const empty = await createDatabase('rehearse_git_snapshot');
    try {
      const r = await dbopsIn(repo, ['rehearse', '--snapshot-url', empty.url, '--base', 'main', '--json']);
      expect(r.code, r.all).toBe(0);
      const { data } = parse(r);
      expect(data.base).toEqual({ ref: 'main', applied: ['20240101000000_init'] });
      expect(data.pending).toEqual(['20240301000000_due_date']);
      expect(data.migrations[0]).toMatchObject({ status: 'applied', touched: ['Invoice'] });
      expect(data.migrations[0]!.locks.find((l) => l.relation === 'Invoice')).toMatchObject({ mode: 'AccessExclusiveLock', rows: 1000 });
      expect(data.migrations[0]!.rollback).toMatchObject({ status: 'proven', reapply: 'matched' });

      const missing = await dbopsIn(repo, ['rehearse', '--snapshot-url', empty.url, '--base', 'origin/nope']);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('The base ref "origin/nope" does not exist in this clone.');
    } finally {
      await empty.drop();
    }
  });
});
