// The bad-input catalogue: what a user mistypes, or hands dbops by mistake, across every command. Each row
// asserts the exit code, a line of the message, that nothing changed (the databases, the backup storage, the
// evidence, the repository's files, the embedded cluster's folder) and that no secret appears in the output
// or the reports. The whole real CLI runs in this process against real PostgreSQL, from a repository-shaped
// folder that is the working directory, so the defaults (prisma/migrations, policies, rollbacks, reports)
// are those of a repository.
import { createHash, randomBytes } from 'node:crypto';
import { chmod, cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ageKey } from '../helpers/age.ts';
import { dbops, testEnv, type CliRun } from '../helpers/cli.ts';
import { adminUrl, createDatabase, queryUrl, serverPassword, type TestDb } from '../helpers/db.ts';
import { LOCKFILE, tempDir } from '../helpers/migrations.ts';

const M1 = '20260101000000_ledger';
const M2 = '20260102000000_ledger_note';
const MIGRATIONS: Record<string, string> = {
  [M1]: 'CREATE TABLE "Ledger"(id int PRIMARY KEY, amount numeric NOT NULL);\nINSERT INTO "Ledger" VALUES (1, 10);\n',
  [M2]: 'ALTER TABLE "Ledger" ADD COLUMN note text;\n',
};
const ROLLBACKS: Record<string, string> = { [M1]: 'DROP TABLE "Ledger";\n', [M2]: 'ALTER TABLE "Ledger" DROP COLUMN note;\n' };
const LATIN1 = Buffer.concat([Buffer.from(`ALTER TABLE "Ledger" ADD COLUMN label text DEFAULT 'caf`), Buffer.from([0xe9]), Buffer.from(`';\n`)]);

interface Fixture {
  root: string;
  staging: TestDb;
  production: TestDb;
  identity: string;
  /** Every secret the fixture hands to dbops. */
  secrets: string[];
  env: NodeJS.ProcessEnv;
}

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

async function writeTree(dir: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content);
  }
}

/** The repository's migrations and rollbacks, plus `extra` (path → content), in a folder of the case. */
async function variant(dir: string, extra: Record<string, string | Buffer | null> = {}): Promise<{ migrations: string; rollbacks: string }> {
  const migrations = join(dir, 'migrations');
  const rollbacks = join(dir, 'rollbacks');
  await cp(join(fx.root, 'prisma', 'migrations'), migrations, { recursive: true });
  await cp(join(fx.root, 'rollbacks'), rollbacks, { recursive: true });
  for (const [path, content] of Object.entries(extra)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    if (content === null) await mkdir(join(dir, path), { recursive: true });
    else await writeFile(join(dir, path), content);
  }
  return { migrations, rollbacks };
}

const flags = (v: { migrations: string; rollbacks: string }) => ['--migrations-dir', v.migrations, '--rollbacks-dir', v.rollbacks];
/** For `migrate` commands, which read no rollbacks. */
const migrationsFlag = (v: { migrations: string }) => ['--migrations-dir', v.migrations];

let fx: Fixture;
const originalCwd = process.cwd();

beforeAll(async () => {
  const root = await tempDir('dbops-bad-input-');
  await chmod(root, 0o755);
  const { identity, recipient } = await ageKey();
  const [staging, production] = await Promise.all([createDatabase('bad_input_staging'), createDatabase('bad_input_production')]);
  await writeTree(root, {
    'policies/migrations.yaml': json({
      version: 1,
      executor: { lock_timeout: '2s', lock_retries: 1, retry_backoff: '100ms', retry_backoff_max: '200ms', advisory_lock_timeout: '5s' },
    }),
    'policies/backups.yaml': json({
      version: 1,
      encryption: { recipients: [{ name: 'test', key: recipient }] },
      targets: { server: { type: 'directory', path: join(root, 'storage'), primary: true } },
      notifications: { webhook_env: 'DBOPS_BACKUP_WEBHOOK' },
    }),
    'policies/environments.yaml': json({
      version: 1,
      environments: {
        staging: { database_url_env: 'STAGING_DATABASE_URL', approvals: 0, backup: { required: false } },
        production: { database_url_env: 'PRODUCTION_DATABASE_URL', approvals: 0, backup: { required: false }, staging_first: 'staging' },
      },
    }),
    'prisma/migrations/migration_lock.toml': LOCKFILE,
    ...Object.fromEntries(Object.entries(MIGRATIONS).map(([name, sql]) => [`prisma/migrations/${name}/migration.sql`, sql])),
    ...Object.fromEntries(Object.entries(ROLLBACKS).map(([name, sql]) => [`rollbacks/${name}.sql`, sql])),
    'a-file': 'not a folder\n',
  });
  await mkdir(join(root, 'storage'));
  const github = `ghp_${randomBytes(18).toString('hex')}`;
  const webhook = `https://hooks.example.com/services/${randomBytes(12).toString('hex')}`;
  const env = testEnv({
    STAGING_DATABASE_URL: staging.url,
    PRODUCTION_DATABASE_URL: production.url,
    DBOPS_BACKUP_IDENTITY: identity,
    DBOPS_LOCAL_DIR: join(root, 'local'),
    GITHUB_TOKEN: github,
    DBOPS_BACKUP_WEBHOOK: webhook,
  });
  fx = { root, staging, production, identity, secrets: [serverPassword(), identity, github, webhook], env };

  process.chdir(root);
  // staging: both migrations, deployed through the pipeline (its evidence chain has one bundle);
  // production: the first migration only, the second pending; one backup of production in the storage.
  const ok = (run: CliRun) => expect(run.code, run.all).toBe(0);
  ok(await dbops(['deploy', '--environment', 'staging'], env));
  const first = await variant(await tempDir('dbops-bad-input-m1-'));
  await rm(join(first.migrations, M2), { recursive: true });
  ok(await dbops(['migrate', 'deploy', '--migrations-dir', first.migrations, '--database-url', production.url], env));
  ok(await dbops(['backup', 'create', '--database-url', production.url], env));
  // The report of that backup, kept apart: cases write their own reports into reports/.
  await cp(join(root, 'reports', 'backup-create.json'), join(root, 'backup-run', 'backup-create.json'));
});

afterAll(async () => {
  process.chdir(originalCwd);
  await Promise.all([fx?.staging.drop(), fx?.production.drop()]);
});

/** Everything a bad input must leave as it was: files under the fixture (reports aside) and both databases. */
async function state(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(fx.root, { recursive: true, withFileTypes: true })) {
    const path = relative(fx.root, join(entry.parentPath, entry.name));
    // Reports are the run's own output (a step writes <step>.json even when it stops on bad input).
    if (path.split('/').includes('reports')) continue;
    out[`file ${path}`] = entry.isFile()
      ? createHash('sha256')
          .update(await readFile(join(fx.root, path)))
          .digest('hex')
      : entry.isDirectory()
        ? 'folder'
        : 'other';
  }
  for (const [name, db] of [
    ['staging', fx.staging],
    ['production', fx.production],
  ] as const) {
    const [row] = await queryUrl<{ history: string; tables: string; ledger: string }>(
      db.url,
      `SELECT (SELECT string_agg(concat_ws('|', migration_name, checksum, finished_at, rolled_back_at, applied_steps_count, logs), E'\\n' ORDER BY started_at) FROM _prisma_migrations) AS history,
              (SELECT string_agg(c.relname || ':' || c.relkind::text, ',' ORDER BY c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public') AS tables,
              (SELECT string_agg(concat_ws('|', id, amount), ',' ORDER BY id) FROM "Ledger") AS ledger`,
    );
    out[`database ${name}`] = JSON.stringify(row);
  }
  const databases = await queryUrl<{ datname: string }>(adminUrl(), `SELECT datname FROM pg_database WHERE datname LIKE 't_bad_input%' ORDER BY 1`);
  out['databases'] = databases.map((d) => d.datname).join(',');
  return out;
}

async function reportsText(): Promise<string> {
  const texts: string[] = [];
  for (const entry of await readdir(fx.root, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isFile() && path.split('/').includes('reports')) texts.push(await readFile(path, 'utf8'));
  }
  return texts.join('\n');
}

interface Case {
  /** What the user did. */
  name: string;
  /** The command line; `dir` is a folder of this case under the fixture, for the files it needs. */
  argv: (dir: string) => string[] | Promise<string[]>;
  /** Variables on top of the fixture's (undefined removes one). */
  env?: (dir: string) => NodeJS.ProcessEnv;
  exit: 0 | 1 | 2 | 3;
  /** Must appear in stdout or stderr. */
  says: string | RegExp;
  /** Secrets the case itself brings (the password of a malformed URL). */
  secrets?: string[];
}

/** A password unique to one case: nothing an earlier case registered can mask it by accident. */
const pw = (label: string) => `${label}-${randomBytes(6).toString('hex')}`;
const badPercent = pw('50%off');
const badPercentEnv = pw('99%xx');
const badPercentSnapshot = pw('7%zz');
const badPercentTarget = pw('1%q');
const badPercentScratch = pw('2%r');
const badPercentEnvironment = pw('3%s');
const typoPassword = pw('typo');
const closedPort = () => `postgresql://postgres:${encodeURIComponent(fx.secrets[0]!)}@127.0.0.1:9/${fx.production.name}`;

const CASES: Case[] = [
  // ---- commands, flags and values ---------------------------------------------------------------
  { name: 'a misspelt command', argv: () => ['deplyo', '--environment', 'production'], exit: 2, says: /unknown command 'deplyo'[\s\S]*Did you mean deploy/ },
  { name: 'a misspelt subcommand', argv: () => ['backup', 'verfy', '--latest'], exit: 2, says: /unknown command 'verfy'/ },
  { name: 'a misspelt flag', argv: () => ['lint', '--al'], exit: 2, says: /unknown option '--al'/ },
  { name: 'a flag without its value', argv: () => ['lint', '--base'], exit: 2, says: /option '--base <value>' argument missing/ },
  {
    name: 'a misspelt flag carrying a URL with a password',
    argv: () => ['migrate', 'status', `--databse-url=postgresql://app:${typoPassword}@db:5432/x`],
    exit: 2,
    says: /unknown option '--databse-url=postgresql:\/\/app:\*\*\*@db/,
    secrets: [typoPassword],
  },
  { name: 'gate without --environment', argv: () => ['gate'], exit: 2, says: '--environment is required, e.g. dbops gate --environment production' },
  { name: 'deploy without --environment', argv: () => ['deploy'], exit: 2, says: '--environment is required, e.g. dbops deploy --environment' },
  {
    name: 'rollback without --to',
    argv: () => ['rollback', '--environment', 'staging'],
    exit: 2,
    says: '--to is required, e.g. dbops rollback --environment production --to',
  },
  {
    name: 'backup restore without --target-url',
    argv: () => ['backup', 'restore', '--latest'],
    exit: 2,
    says: '--target-url is required, e.g. dbops backup restore',
  },
  { name: 'evidence reconcile without --environment', argv: () => ['evidence', 'reconcile'], exit: 2, says: '--environment is required' },
  { name: '--last that is not a number', argv: () => ['lint', '--last', 'abc'], exit: 2, says: '--last:' },
  { name: '--last 0', argv: () => ['lint', '--last', '0'], exit: 2, says: '--last:' },
  { name: 'a negative --scale', argv: () => ['seed', '--scale', '-1', '--database-url', fx.production.url], exit: 2, says: '--scale:' },
  { name: 'an unknown --format', argv: () => ['report', '--format', 'html'], exit: 2, says: '--format:' },
  {
    name: 'a --wait-timeout that is no duration',
    argv: () => ['deploy', '--environment', 'production', '--wait', '--wait-timeout', '5minutes'],
    exit: 2,
    says: 'expected a duration such as 30min',
  },
  { name: 'two backup ids', argv: () => ['backup', 'verify', 'a', 'b'], exit: 2, says: 'give one backup id' },
  { name: 'an unknown backup tier', argv: () => ['backup', 'list', '--tier', 'yearly'], exit: 2, says: '--tier:' },
  { name: 'an argument a command does not take', argv: () => ['migrate', 'deploy', 'now'], exit: 2, says: /too many arguments/ },
  {
    name: 'a log level that does not exist',
    argv: () => ['lint', '--all'],
    env: () => ({ DBOPS_LOG_LEVEL: 'warnn' }),
    exit: 2,
    says: 'DBOPS_LOG_LEVEL=warnn is not a log level. Did you mean "warn"?',
  },
  { name: 'demo --last 0', argv: () => ['demo', '--last', '0'], exit: 2, says: '--last:' },

  // ---- database URLs: never a crash, never the password ------------------------------------------
  {
    name: 'a % in --database-url that starts no escape',
    argv: () => ['migrate', 'status', '--database-url', `postgresql://u:${badPercent}@db/x`],
    exit: 2,
    says: '--database-url is not a valid PostgreSQL URL: a % in it does not start a %XX escape',
    secrets: [badPercent],
  },
  {
    name: 'a % in DATABASE_URL that starts no escape',
    argv: () => ['migrate', 'deploy'],
    env: () => ({ DATABASE_URL: `postgresql://u:${badPercentEnv}@db/x` }),
    exit: 2,
    says: 'DATABASE_URL is not a valid PostgreSQL URL',
    secrets: [badPercentEnv],
  },
  {
    name: 'a MySQL URL',
    argv: () => ['migrate', 'deploy', '--database-url', 'mysql://root:secret@db/x'],
    exit: 2,
    says: '--database-url must start with postgresql:// or postgres://',
  },
  {
    name: 'something that is no URL',
    argv: () => ['seed', '--database-url', 'localhost:5432'],
    exit: 2,
    says: /--database-url (is not a valid PostgreSQL URL|must start with postgresql)/,
  },
  {
    name: 'a % in --snapshot-url',
    argv: () => ['rehearse', '--last', '1', '--snapshot-url', `postgresql://u:${badPercentSnapshot}@db/x`],
    exit: 2,
    says: '--snapshot-url is not a valid PostgreSQL URL',
    secrets: [badPercentSnapshot],
  },
  {
    name: 'a % in STAGING_SNAPSHOT_URL',
    argv: () => ['rehearse', '--last', '1'],
    env: () => ({ STAGING_SNAPSHOT_URL: `postgresql://u:${badPercentSnapshot}x@db/x` }),
    exit: 2,
    says: 'STAGING_SNAPSHOT_URL is not a valid PostgreSQL URL',
    secrets: [`${badPercentSnapshot}x`],
  },
  {
    name: 'a % in --target-url',
    argv: () => ['backup', 'restore', '--latest', '--target-url', `postgresql://u:${badPercentTarget}@db/x`],
    exit: 2,
    says: '--target-url is not a valid PostgreSQL URL',
    secrets: [badPercentTarget],
  },
  {
    name: 'a % in --scratch-url',
    argv: () => ['backup', 'verify', '--latest', '--restore', '--scratch-url', `postgresql://u:${badPercentScratch}@db/x`],
    exit: 2,
    says: '--scratch-url is not a valid PostgreSQL URL',
    secrets: [badPercentScratch],
  },
  {
    name: "a % in an environment's URL variable",
    argv: () => ['gate', '--environment', 'production'],
    env: () => ({ PRODUCTION_DATABASE_URL: `postgresql://u:${badPercentEnvironment}@db/x` }),
    exit: 2,
    says: 'PRODUCTION_DATABASE_URL (the database URL of environment "production") is not a valid PostgreSQL URL',
    secrets: [badPercentEnvironment],
  },
  { name: 'a server that does not answer', argv: () => ['migrate', 'status', '--database-url', closedPort()], exit: 3, says: 'P1001' },
  {
    name: 'a wrong password',
    argv: () => ['migrate', 'status', '--database-url', fx.production.url.replace(/:[^:@/]+@/, `:${encodeURIComponent(typoPassword)}x@`)],
    exit: 3,
    says: 'P1000',
    secrets: [`${typoPassword}x`],
  },
  {
    name: 'a database that does not exist',
    argv: () => ['migrate', 'status', '--database-url', fx.production.url.replace(/\/[^/?]+(\?|$)/, '/no_such_database$1')],
    exit: 3,
    says: 'P1003',
  },

  // ---- folders and files: a typo never falls back to defaults --------------------------------------
  {
    name: 'a misspelt --migrations-dir',
    argv: () => ['migrate', 'status', '--migrations-dir', 'prisma/migratons'],
    exit: 2,
    says: '--migrations-dir prisma/migratons does not exist. Did you mean "prisma/migrations"?',
  },
  {
    name: 'a misspelt --policies-dir',
    argv: () => ['lint', '--all', '--policies-dir', 'polices'],
    exit: 2,
    says: '--policies-dir polices does not exist. Did you mean "policies"?',
  },
  {
    name: 'a misspelt --rollbacks-dir',
    argv: () => ['rollbacks', 'check', '--rollbacks-dir', 'rolbacks'],
    exit: 2,
    says: '--rollbacks-dir rolbacks does not exist. Did you mean "rollbacks"?',
  },
  {
    name: 'a file as --migrations-dir',
    argv: () => ['migrate', 'deploy', '--migrations-dir', 'a-file', '--database-url', fx.production.url],
    exit: 2,
    says: '--migrations-dir a-file is a file, not a folder',
  },
  {
    name: 'a file as --policies-dir',
    argv: () => ['backup', 'list', '--policies-dir', 'a-file'],
    exit: 2,
    says: '--policies-dir a-file is a file, not a folder',
  },
  {
    name: '--reports-dir under a regular file (lint)',
    argv: () => ['lint', '--all', '--reports-dir', 'a-file/reports'],
    exit: 2,
    says: /--reports-dir a-file\/reports cannot be written: .*a-file is a file, not a folder/,
  },
  {
    name: '--reports-dir under a regular file (backup create stores nothing)',
    argv: () => ['backup', 'create', '--database-url', fx.production.url, '--reports-dir', 'a-file/reports'],
    exit: 2,
    says: 'cannot be written',
  },
  {
    name: '--reports-dir under a regular file (deploy applies nothing)',
    argv: () => ['deploy', '--environment', 'production', '--reports-dir', 'a-file/reports'],
    exit: 2,
    says: 'cannot be written',
  },
  {
    name: 'a reports folder whose evidence/ is a file (deploy applies nothing)',
    argv: async (dir) => {
      await writeTree(dir, { 'reports/evidence': 'a file\n' });
      return ['deploy', '--environment', 'production', '--reports-dir', join(dir, 'reports')];
    },
    exit: 2,
    says: /the local evidence folder of --reports-dir .* cannot be written: .*evidence is a file/,
  },
  {
    name: '--reports-dir under a regular file (demo starts no cluster)',
    argv: () => ['demo', '--reports-dir', 'a-file/reports'],
    exit: 2,
    says: 'cannot be written',
  },
  {
    name: 'report --output onto a folder',
    argv: () => ['report', '--output', 'policies'],
    exit: 2,
    says: '--output policies is a folder; name a file to write.',
  },
  {
    name: 'report --output under a regular file',
    argv: () => ['report', '--output', 'a-file/report.md'],
    exit: 2,
    says: /--output a-file\/report.md cannot be written: .*a-file is a file, not a folder/,
  },
  {
    name: 'report from an empty reports folder',
    argv: async (dir) => (await mkdir(join(dir, 'reports'), { recursive: true }), ['report', '--reports-dir', join(dir, 'reports')]),
    exit: 2,
    says: 'No reports in',
  },
  {
    name: 'report from a corrupt lint.json',
    argv: async (dir) => (await writeTree(dir, { 'reports/lint.json': '{"step": "lint",' }), ['report', '--reports-dir', join(dir, 'reports')]),
    exit: 2,
    says: 'lint.json is not valid JSON',
  },
  { name: 'evidence verify --dir that does not exist', argv: () => ['evidence', 'verify', '--dir', 'no-such-artifact'], exit: 2, says: '--dir' },
  {
    name: 'an identity file that does not exist',
    argv: () => ['backup', 'verify', '--latest', '--identity-file', 'no-such-key.txt'],
    exit: 2,
    says: 'no-such-key.txt',
  },
  {
    name: 'report from a --reports-dir that is a file',
    argv: () => ['report', '--reports-dir', 'a-file'],
    exit: 2,
    says: '--reports-dir a-file is a file, not a folder',
  },
  {
    name: 'an identity file that is a folder',
    argv: () => ['backup', 'verify', '--latest', '--identity-file', 'policies'],
    exit: 2,
    says: 'cannot read identity file policies (EISDIR)',
  },
  {
    name: 'a snapshot file that is a folder (the embedded cluster is not started)',
    argv: () => ['rehearse', '--last', '1', '--snapshot-file', 'prisma'],
    exit: 2,
    says: '--snapshot-file prisma is a folder, not a file',
  },
  {
    name: 'a snapshot file that does not exist',
    argv: () => ['rehearse', '--last', '1', '--snapshot-file', 'no-such-dump.pgdump', '--database-url', fx.staging.url],
    exit: 2,
    says: 'no-such-dump.pgdump',
  },

  // ---- migration and rollback files the executor refuses: lint and deploy agree --------------------
  {
    name: 'lint: a Latin-1 migration',
    argv: async (dir) => ['lint', '--all', ...flags(await variant(dir, { 'migrations/20260103000000_label/migration.sql': LATIN1 }))],
    exit: 2,
    says: /is not valid UTF-8: byte 0xE9 at offset 55 \(line 1, column 56\)[\s\S]*iconv -f LATIN1 -t UTF-8/,
  },
  {
    name: 'migrate deploy: a Latin-1 migration',
    argv: async (dir) => [
      'migrate',
      'deploy',
      '--database-url',
      fx.production.url,
      ...migrationsFlag(await variant(dir, { 'migrations/20260103000000_label/migration.sql': LATIN1 })),
    ],
    exit: 2,
    says: /Nothing was applied[\s\S]*not valid UTF-8: byte 0xE9 at offset 55/,
  },
  {
    name: 'rehearse: a Latin-1 migration',
    argv: async (dir) => [
      'rehearse',
      '--last',
      '1',
      '--database-url',
      fx.staging.url,
      ...flags(await variant(dir, { 'migrations/20260103000000_label/migration.sql': LATIN1 })),
    ],
    exit: 2,
    says: /Nothing was rehearsed[\s\S]*not valid UTF-8/,
  },
  {
    name: 'gate: a Latin-1 migration',
    argv: async (dir) => ['gate', '--environment', 'production', ...flags(await variant(dir, { 'migrations/20260103000000_label/migration.sql': LATIN1 }))],
    exit: 2,
    says: /The gate cannot judge the deploy of production[\s\S]*not valid UTF-8/,
  },
  {
    name: 'deploy: a Latin-1 migration',
    argv: async (dir) => ['deploy', '--environment', 'production', ...flags(await variant(dir, { 'migrations/20260103000000_label/migration.sql': LATIN1 }))],
    exit: 2,
    says: /not valid UTF-8: byte 0xE9/,
  },
  {
    name: 'deploy: a NUL byte in a migration',
    argv: async (dir) => [
      'deploy',
      '--environment',
      'production',
      ...flags(await variant(dir, { 'migrations/20260103000000_nul/migration.sql': Buffer.from('SELECT 1;\n\0\n') })),
    ],
    exit: 2,
    says: 'holds a NUL byte at offset 10 (line 2, column 1)',
  },
  {
    name: 'lint: a migration with a byte order mark',
    argv: async (dir) => ['lint', '--all', ...flags(await variant(dir, { 'migrations/20260103000000_bom/migration.sql': '\uFEFFSELECT 1;\n' }))],
    exit: 2,
    says: /file\/bom .*starts with a UTF-8 byte order mark/,
  },
  {
    name: 'migrate deploy: a migration with a byte order mark',
    argv: async (dir) => [
      'migrate',
      'deploy',
      '--database-url',
      fx.production.url,
      ...migrationsFlag(await variant(dir, { 'migrations/20260103000000_bom/migration.sql': '\uFEFFSELECT 1;\n' })),
    ],
    exit: 2,
    says: 'byte order mark',
  },
  {
    name: 'lint: migration_lock.toml names MySQL',
    argv: async (dir) => ['lint', '--all', ...flags(await variant(dir, { 'migrations/migration_lock.toml': 'provider = "mysql"\n' }))],
    exit: 2,
    says: /migrations\/provider .*does not match the one specified in the migration_lock.toml, `mysql`/,
  },
  {
    name: 'migrate deploy: migration_lock.toml names MySQL',
    argv: async (dir) => [
      'migrate',
      'deploy',
      '--database-url',
      fx.production.url,
      ...migrationsFlag(await variant(dir, { 'migrations/migration_lock.toml': 'provider = "mysql"\n' })),
    ],
    exit: 2,
    says: 'P3019',
  },
  {
    name: 'lint: a migration folder without migration.sql',
    argv: async (dir) => ['lint', '--all', ...flags(await variant(dir, { 'migrations/20260103000000_empty': null }))],
    exit: 2,
    says: /migrations\/missing-script .*P3015: Could not find the migration file/,
  },
  {
    name: 'migrate deploy: a migration folder without migration.sql',
    argv: async (dir) => [
      'migrate',
      'deploy',
      '--database-url',
      fx.production.url,
      ...migrationsFlag(await variant(dir, { 'migrations/20260103000000_empty': null })),
    ],
    exit: 2,
    says: 'P3015',
  },
  {
    name: 'lint: a Latin-1 rollback',
    argv: async (dir) => [
      'lint',
      '--all',
      ...flags(await variant(dir, { [`rollbacks/${M2}.sql`]: Buffer.from('ALTER TABLE "Ledger" DROP COLUMN note; -- \xe9t\xe9\n', 'latin1') })),
    ],
    exit: 2,
    says: /rollbacks\/20260102000000_ledger_note.sql is not valid UTF-8: byte 0xE9 at offset 42 \(line 1, column 43\)/,
  },
  {
    name: 'rollbacks check: a Latin-1 rollback',
    argv: async (dir) => [
      'rollbacks',
      'check',
      ...flags(await variant(dir, { [`rollbacks/${M2}.sql`]: Buffer.from('ALTER TABLE "Ledger" DROP COLUMN note; -- \xe9t\xe9\n', 'latin1') })),
    ],
    exit: 2,
    says: 'file/encoding',
  },
  {
    name: 'rollback: a Latin-1 rollback script',
    argv: async (dir) => [
      'rollback',
      '--environment',
      'staging',
      '--to',
      M1,
      ...flags(await variant(dir, { [`rollbacks/${M2}.sql`]: Buffer.from('ALTER TABLE "Ledger" DROP COLUMN note; -- \xe9t\xe9\n', 'latin1') })),
    ],
    exit: 2,
    says: /The gate cannot judge the rollback of staging[\s\S]*not valid UTF-8/,
  },
  {
    name: 'migrate deploy: a BEGIN that is never committed',
    argv: async (dir) => [
      'migrate',
      'deploy',
      '--database-url',
      fx.production.url,
      ...migrationsFlag(await variant(dir, { 'migrations/20260103000000_open/migration.sql': 'BEGIN;\nCREATE INDEX CONCURRENTLY "i" ON "Ledger"(amount);\n' })),
    ],
    exit: 2,
    says: 'opens a transaction (BEGIN) that it never commits',
  },

  // ---- policies ------------------------------------------------------------------------------------
  {
    name: 'a policy that is not YAML',
    argv: async (dir) => (
      await writeTree(dir, { 'policies/migrations.yaml': 'version: 1\nexecutor: [unclosed\n' }),
      ['migrate', 'deploy', '--policies-dir', join(dir, 'policies'), '--database-url', fx.production.url]
    ),
    exit: 2,
    says: 'migrations.yaml',
  },
  {
    name: 'a misspelt policy key',
    argv: async (dir) => (
      await writeTree(dir, { 'policies/migrations.yaml': 'version: 1\nexecuter:\n  lock_timeout: 2s\n' }),
      ['lint', '--all', '--policies-dir', join(dir, 'policies')]
    ),
    exit: 2,
    says: 'executer',
  },
  {
    name: 'a storage target of an unknown type',
    argv: async (dir) => (
      await writeTree(dir, { 'policies/backups.yaml': 'version: 1\ntargets:\n  nas:\n    type: ftp\n    path: /mnt/nas\n' }),
      ['backup', 'list', '--policies-dir', join(dir, 'policies')]
    ),
    exit: 2,
    says: 'targets.nas',
  },
  {
    name: 'environments.yaml with a word for a number',
    argv: async (dir) => (
      await writeTree(dir, {
        'policies/environments.yaml': 'version: 1\nenvironments:\n  production:\n    database_url_env: PRODUCTION_DATABASE_URL\n    approvals: two\n',
      }),
      ['deploy', '--environment', 'production', '--policies-dir', join(dir, 'policies')]
    ),
    exit: 2,
    says: 'approvals',
  },
  {
    name: 'an evidence retention that is no duration',
    argv: async (dir) => (
      await cp(join(fx.root, 'policies'), join(dir, 'policies'), { recursive: true }),
      await writeTree(dir, { 'policies/environments.yaml': 'version: 1\nevidence:\n  retention: forever\n' }),
      ['evidence', 'prune', '--policies-dir', join(dir, 'policies')]
    ),
    exit: 2,
    says: 'retention',
  },
  {
    name: 'a backup recipient that is no age key',
    argv: async (dir) => (
      await writeTree(dir, {
        'policies/backups.yaml': json({
          version: 1,
          encryption: { recipients: [{ name: 'x', key: 'age1bogus' }] },
          targets: { server: { type: 'directory', path: join(fx.root, 'storage'), primary: true } },
        }),
      }),
      ['backup', 'create', '--database-url', fx.production.url, '--policies-dir', join(dir, 'policies')]
    ),
    exit: 2,
    says: 'encryption.recipients.0.key: expected an age X25519 recipient',
  },

  // ---- environments ----------------------------------------------------------------------------------
  {
    name: 'gate: a misspelt environment',
    argv: () => ['gate', '--environment', 'prodution'],
    exit: 2,
    says: 'Unknown environment "prodution"; policies/environments.yaml defines "staging", "production". Did you mean "production"?',
  },
  { name: 'deploy: an environment that is not a name', argv: () => ['deploy', '--environment', 'Prod!'], exit: 2, says: 'Unknown environment "Prod!"' },
  {
    name: 'evidence verify: a misspelt environment',
    argv: () => ['evidence', 'verify', '--environment', 'prodution'],
    exit: 2,
    says: '--environment prodution: no such environment; policies/environments.yaml does not define it and target "server" holds no evidence of it. Did you mean "production"?',
  },
  { name: 'evidence list: a misspelt environment', argv: () => ['evidence', 'list', '--environment', 'stagin'], exit: 2, says: 'Did you mean "staging"?' },
  {
    name: 'evidence reconcile: a misspelt environment',
    argv: () => ['evidence', 'reconcile', '--environment', 'prodution'],
    exit: 2,
    says: 'Did you mean "production"?',
  },
  {
    name: "gate: the environment's URL variable is unset",
    argv: () => ['gate', '--environment', 'production'],
    env: () => ({ PRODUCTION_DATABASE_URL: undefined }),
    exit: 3,
    says: 'the variable PRODUCTION_DATABASE_URL is empty',
  },
  {
    name: 'rollback --to a migration that is not applied',
    argv: () => ['rollback', '--environment', 'staging', '--to', '20260101000000_ledgr'],
    exit: 2,
    says: 'that migration is not applied on staging',
  },

  // ---- backups -----------------------------------------------------------------------------------
  {
    name: 'backup verify: an id that does not exist',
    argv: () => ['backup', 'verify', '20260101T000000Z-daily-0000'],
    exit: 1,
    says: 'No backup 20260101T000000Z-daily-0000 on target "server"',
  },
  { name: 'backup verify: a target that does not exist', argv: () => ['backup', 'verify', '--latest', '--target', 'offsite'], exit: 2, says: 'offsite' },
  {
    name: 'backup verify: no identity at all',
    argv: () => ['backup', 'verify', '--latest'],
    env: () => ({ DBOPS_BACKUP_IDENTITY: undefined }),
    exit: 2,
    says: 'DBOPS_BACKUP_IDENTITY',
  },
  {
    name: 'backup verify: an identity that is not the key',
    argv: async (dir) => (
      await writeTree(dir, { 'key.txt': `${(await ageKey()).identity}\n` }),
      ['backup', 'verify', '--latest', '--identity-file', join(dir, 'key.txt')]
    ),
    env: () => ({ DBOPS_BACKUP_IDENTITY: undefined }),
    exit: 2,
    says: /no given identity|does not decrypt|identit/i,
  },
  {
    name: 'backup restore into a database that has tables, without --force',
    argv: () => ['backup', 'restore', '--latest', '--target-url', fx.staging.url],
    exit: 1,
    says: '--force',
  },
  {
    name: 'gate --take-backup without the key that verifies it (no backup is taken)',
    argv: () => ['gate', '--environment', 'production', '--take-backup'],
    env: () => ({ DBOPS_BACKUP_IDENTITY: undefined }),
    exit: 2,
    says: 'no identity to decrypt backups with',
  },
  { name: 'backup replicate to a target that does not exist', argv: () => ['backup', 'replicate', '--to', 'offsite'], exit: 2, says: 'offsite' },
  { name: 'backup prune of a target that does not exist', argv: () => ['backup', 'prune', '--target', 'ofsite'], exit: 2, says: 'ofsite' },
  {
    name: 'backup create to a target that does not exist',
    argv: () => ['backup', 'create', '--database-url', fx.production.url, '--target', 'ofsite'],
    exit: 2,
    says: 'ofsite',
  },
  {
    name: 'backup notify with a webhook variable that holds no URL',
    argv: () => ['backup', 'notify', '--reports-dir', 'backup-run'],
    env: () => ({ DBOPS_BACKUP_WEBHOOK: 'hooks.example.com/abc' }),
    exit: 2,
    says: 'DBOPS_BACKUP_WEBHOOK',
  },

  // ---- the developer loop: migrate new, drift --------------------------------------------------------
  {
    name: 'migrate new without --name',
    argv: () => ['migrate', 'new'],
    exit: 2,
    says: '--name',
  },
  {
    name: 'migrate new with a name that has no letter or digit',
    argv: () => ['migrate', 'new', '--name', ' -- '],
    exit: 2,
    says: 'no letter or digit',
  },
  {
    name: 'migrate new in a repository without prisma/schema.prisma',
    argv: () => ['migrate', 'new', '--name', 'add_note'],
    exit: 2,
    says: 'prisma/schema.prisma',
  },
  {
    name: 'migrate new with a schema.prisma that does not parse',
    argv: async (dir) => (
      await writeTree(dir, {
        'schema.prisma': 'datasource db {\n  provider = "postgresql"\n}\n\nmodel Ledger {\n  id Int @id\n  amount Decimal\n  note Strin?\n}\n',
      }),
      ['migrate', 'new', '--name', 'add_note', '--prisma-schema', join(dir, 'schema.prisma'), '--database-url', adminUrl()]
    ),
    exit: 2,
    says: /schema\.prisma is not a valid Prisma schema[\s\S]*Strin/,
  },
  {
    name: 'migrate new with its throwaway server unreachable',
    argv: async (dir) => (
      await writeTree(dir, { 'schema.prisma': 'datasource db {\n  provider = "postgresql"\n}\n\nmodel Ledger {\n  id Int @id\n}\n' }),
      ['migrate', 'new', '--name', 'add_note', '--prisma-schema', join(dir, 'schema.prisma'), '--database-url', closedPort()]
    ),
    exit: 3,
    says: '127.0.0.1:9',
  },
  {
    name: 'drift with a migration folder that has no migration.sql',
    argv: async (dir) => ['drift', ...migrationsFlag(await variant(dir, { 'migrations/20260103000000_empty': null }))],
    exit: 2,
    says: '20260103000000_empty',
  },
  {
    name: 'drift with --environment and --database-url both',
    argv: () => ['drift', '--environment', 'staging', '--database-url', closedPort()],
    exit: 2,
    says: '--environment and --database-url',
  },
  {
    name: 'drift --record without --environment',
    argv: () => ['drift', '--record', '--database-url', closedPort()],
    exit: 2,
    says: '--record',
  },
  {
    name: 'drift of an environment the policy does not define',
    argv: () => ['drift', '--environment', 'prodution'],
    exit: 2,
    says: 'prodution',
  },
  {
    name: 'drift with its scratch server unreachable',
    argv: async (dir) => (
      await writeTree(dir, { 'schema.prisma': 'datasource db {\n  provider = "postgresql"\n}\n\nmodel Ledger {\n  id Int @id\n}\n' }),
      ['drift', '--prisma-schema', join(dir, 'schema.prisma'), '--scratch-url', closedPort()]
    ),
    exit: 3,
    says: '127.0.0.1:9',
  },

  // ---- the embedded cluster ------------------------------------------------------------------------
  {
    name: 'local down --destroy with DBOPS_LOCAL_DIR a regular file',
    argv: () => ['local', 'down', '--destroy'],
    env: () => ({ DBOPS_LOCAL_DIR: join(fx.root, 'a-file') }),
    exit: 0,
    says: 'Nothing to destroy',
  },
  {
    name: 'local up with DBOPS_LOCAL_DIR a regular file',
    argv: () => ['local', 'up'],
    env: () => ({ DBOPS_LOCAL_DIR: join(fx.root, 'a-file') }),
    exit: 2,
    says: 'a-file',
  },
  {
    name: 'a command on the embedded cluster with DBOPS_LOCAL_DIR a regular file',
    argv: () => ['migrate', 'status'],
    env: () => ({ DBOPS_LOCAL_DIR: join(fx.root, 'a-file') }),
    exit: 2,
    says: 'DBOPS_LOCAL_DIR',
  },
  {
    name: 'local status with a corrupt cluster.json',
    argv: async (dir) => (await writeTree(dir, { 'local/cluster.json': '{"port": 5432, "password": "' }), ['local', 'status']),
    env: (dir) => ({ DBOPS_LOCAL_DIR: join(dir, 'local') }),
    exit: 0,
    says: 'cluster.json',
  },
];

describe('the bad-input catalogue', () => {
  it('has at least 60 cases, each named once', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(60);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  it.each(CASES.map((c, i) => [c.name, c, i] as const))(
    '%s',
    async (_name, c, i) => {
      const dir = join(fx.root, 'cases', String(i));
      await mkdir(dir, { recursive: true });
      const argv = await c.argv(dir);
      const env = { ...fx.env, ...c.env?.(dir) };
      for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
      const before = await state();
      const run = await dbops(argv, env);
      expect(run.code, run.all).toBe(c.exit);
      if (typeof c.says === 'string') expect(run.all).toContain(c.says);
      else expect(run.all).toMatch(c.says);
      expect(await state()).toEqual(before);
      const written = run.all + (await reportsText());
      for (const secret of [...fx.secrets, ...(c.secrets ?? [])]) expect(written).not.toContain(secret);
    },
    60_000,
  );
});

// Every kind of file the executor refuses, through each command that reads it: lint fails exactly the files
// migrate deploy, the gate and deploy refuse (exit 2, the same file named), and none of them changes anything.
const MALFORMED: Array<[string, Record<string, string | Buffer | null>, string]> = [
  ['a Latin-1 migration', { 'migrations/20260103000000_bad/migration.sql': LATIN1 }, 'migrations/20260103000000_bad/migration.sql'],
  ['a NUL byte', { 'migrations/20260103000000_bad/migration.sql': Buffer.from('SELECT 1;\0\n') }, 'migrations/20260103000000_bad/migration.sql'],
  ['a byte order mark', { 'migrations/20260103000000_bad/migration.sql': '\uFEFFSELECT 1;\n' }, 'migrations/20260103000000_bad/migration.sql'],
  ['a folder without migration.sql', { 'migrations/20260103000000_bad': null }, 'migrations/20260103000000_bad/migration.sql'],
  ['a BEGIN never committed', { 'migrations/20260103000000_bad/migration.sql': 'BEGIN;\nSELECT 1;\n' }, 'migrations/20260103000000_bad/migration.sql'],
  ['migration_lock.toml of another provider', { 'migrations/migration_lock.toml': 'provider = "sqlite"\n' }, 'migrations/migration_lock.toml'],
];

describe('lint and deploy agree on every malformed file', () => {
  it.each(MALFORMED)(
    '%s',
    async (_label, extra, file) => {
      const dir = join(fx.root, 'agree', file.replace(/\W+/g, '-') + randomBytes(3).toString('hex'));
      const v = await variant(dir, { ...extra, 'rollbacks/20260103000000_bad.sql': 'SELECT 1;\n' });
      const before = await state();
      const runs = {
        lint: await dbops(['lint', '--all', ...flags(v)], fx.env),
        'migrate deploy': await dbops(['migrate', 'deploy', '--database-url', fx.production.url, ...migrationsFlag(v)], fx.env),
        gate: await dbops(['gate', '--environment', 'production', ...flags(v)], fx.env),
        deploy: await dbops(['deploy', '--environment', 'production', ...flags(v)], fx.env),
      };
      for (const [command, run] of Object.entries(runs)) {
        expect({ command, code: run.code }, run.all).toEqual({ command, code: 2 });
        expect(run.all, command).toContain(join(dir, file));
      }
      expect(await state()).toEqual(before);
    },
    60_000,
  );
});
