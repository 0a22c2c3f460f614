// `dbops lint` end to end: the real squawk binary, real git repositories in temporary directories, and the
// test cluster for the applied-checksum check. Runs the CLI code path in-process from inside each repository.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dbops, ROOT, testEnv, type CliRun } from '../helpers/cli.ts';
import { databasePerTest, serverPassword } from '../helpers/db.ts';
import { tempDir } from '../helpers/migrations.ts';
import { LintData } from '../../pipeline/change/lint/model.ts';

const fresh = databasePerTest('lint');

// A small Prisma-style history: every file creates its tables, so the prisma profile has nothing to say.
const INIT = `-- CreateTable
CREATE TABLE "Account" (
    "id" UUID NOT NULL,
    "name" VARCHAR(100) NOT NULL,
    "note" TEXT,
    "balance" DECIMAL(19,4) NOT NULL DEFAULT 0,

    CONSTRAINT "Account_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Account_name_key" ON "Account"("name");
`;
const LEDGER = `-- CreateTable
CREATE TABLE "Entry" (
    "id" BIGSERIAL NOT NULL,
    "accountId" UUID NOT NULL,
    "amount" DECIMAL(19,4) NOT NULL,

    CONSTRAINT "Entry_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Entry_accountId_idx" ON "Entry"("accountId");

-- AddForeignKey
ALTER TABLE "Entry" ADD CONSTRAINT "Entry_accountId_fkey" FOREIGN KEY ("accountId") REFERENCES "Account"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
`;
const BASE: Record<string, string> = {
  'prisma/migrations/migration_lock.toml': 'provider = "postgresql"\n',
  'prisma/migrations/20260101000000_init/migration.sql': INIT,
  'rollbacks/20260101000000_init.sql': '-- DropTable\nDROP TABLE "Account";\n',
  'prisma/migrations/20260201000000_ledger/migration.sql': LEDGER,
  'rollbacks/20260201000000_ledger.sql': '-- DropTable\nDROP TABLE "Entry";\n',
};

const migration = (name: string) => `prisma/migrations/${name}/migration.sql`;
const rollback = (name: string) => `rollbacks/${name}.sql`;

interface Repo {
  dir: string;
  write(files: Record<string, string>): Promise<void>;
  git(...args: string[]): string;
  lint(...args: string[]): Promise<CliRun & { json: LintData & { findings: Array<Record<string, any>>; verdict: string } }>;
}

async function writeAll(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
}

/** The CLI run from inside `dir`, as a developer or a workflow runs it from the repository root. */
async function runIn(dir: string, args: string[], env = testEnv()): Promise<CliRun> {
  const previous = process.cwd();
  process.chdir(dir);
  try {
    return await dbops(args, env);
  } finally {
    process.chdir(previous);
  }
}

const parse = (run: CliRun) => {
  const out = JSON.parse(run.stdout) as { verdict: string; findings: Array<Record<string, any>>; data: unknown };
  return { ...LintData.parse(out.data), findings: out.findings, verdict: out.verdict };
};

/** A git repository whose main branch holds BASE; work happens on the branch `pr`. */
async function repo(base: Record<string, string> = BASE): Promise<Repo> {
  const dir = await tempDir('dbops-lint-git-');
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  git('init', '-q', '-b', 'main');
  git('config', 'user.email', 'dev@example.com');
  git('config', 'user.name', 'Dev');
  git('config', 'commit.gpgsign', 'false');
  await writeAll(dir, base);
  git('add', '-A');
  git('commit', '-q', '-m', 'base');
  git('checkout', '-q', '-b', 'pr');
  return {
    dir,
    git,
    write: (files) => writeAll(dir, files),
    async lint(...args) {
      const run = await runIn(dir, ['lint', '--base', 'main', '--json', ...args]);
      return { ...run, json: run.stdout.trim().startsWith('{') && run.code !== 2 ? parse(run) : (undefined as never) };
    },
  };
}

const rules = (json: { findings: Array<Record<string, any>> }) => json.findings.map((f) => `${f.severity} ${f.rule} ${f.migration ?? f.file}`);

describe('scope and history integrity against the base ref', () => {
  it('a migration added after every migration on the base ref, with its rollback, passes', async () => {
    const r = await repo();
    await r.write({
      [migration('20260301000000_account_currency')]: '-- AlterTable\nALTER TABLE "Account" ADD COLUMN "currency" CHAR(3);\n',
      [rollback('20260301000000_account_currency')]: '-- AlterTable\nALTER TABLE "Account" DROP COLUMN "currency";\n',
    });
    const run = await r.lint(); // untracked files count: a developer lints before `git add`
    expect(run.code).toBe(0);
    expect(run.json).toMatchObject({ verdict: 'pass', scope: 'changed', base: 'main', profile: 'prisma', pgVersion: '15' });
    expect(run.json.files).toEqual([
      { path: migration('20260301000000_account_currency'), kind: 'migration', migration: '20260301000000_account_currency', mode: 'atomic', change: 'added' },
      { path: rollback('20260301000000_account_currency'), kind: 'rollback', migration: '20260301000000_account_currency', mode: 'atomic', change: 'added' },
    ]);
    expect(run.json.findings).toEqual([]);
    // Rollbacks drop what the migration added by nature: no destructive finding on the rollback's DROP COLUMN.
    expect(run.json.squawk?.excluded).toContain('ban-drop-column'); // squawk's own drop rule: dbops' destructive rules replace it
  });

  it('an edited migration that is on the base ref is an error pointing at the first edited line', async () => {
    const r = await repo();
    await r.write({ [migration('20260201000000_ledger')]: LEDGER.replace('"amount" DECIMAL(19,4)', '"amount" DECIMAL(19,2)') });
    r.git('commit', '-qam', 'edit');
    const run = await r.lint();
    expect(run.code).toBe(1);
    expect(run.json.findings).toContainEqual(
      expect.objectContaining({
        rule: 'history/edited',
        severity: 'error',
        migration: '20260201000000_ledger',
        file: migration('20260201000000_ledger'),
        line: 5,
      }),
    );
    expect(run.json.files.map((f) => [f.path, f.change])).toEqual([[migration('20260201000000_ledger'), 'modified']]);
  });

  it('a renamed or a deleted base migration is an error, and the rollback it leaves behind is an orphan', async () => {
    const r = await repo();
    r.git('mv', 'prisma/migrations/20260201000000_ledger', 'prisma/migrations/20260301000000_ledger');
    r.git('mv', rollback('20260201000000_ledger'), rollback('20260301000000_ledger'));
    const renamed = await r.lint();
    expect(renamed.code).toBe(1);
    expect(rules(renamed.json)).toEqual(['error history/renamed 20260301000000_ledger']);
    expect(renamed.json.findings[0]!.message).toBe('20260201000000_ledger is on main and has been renamed to 20260301000000_ledger.');

    const d = await repo();
    d.git('rm', '-rq', 'prisma/migrations/20260201000000_ledger');
    const deleted = await d.lint();
    expect(deleted.code).toBe(1);
    expect(rules(deleted.json)).toEqual(['error history/deleted 20260201000000_ledger', `error rollbacks/orphan ${rollback('20260201000000_ledger')}`]);
  });

  it('a new migration that sorts before one already on the base ref is out of order (two pull requests racing)', async () => {
    const r = await repo();
    await r.write({
      [migration('20260115000000_account_note')]: 'ALTER TABLE "Account" ADD COLUMN "memo" TEXT;\n',
      [rollback('20260115000000_account_note')]: 'ALTER TABLE "Account" DROP COLUMN "memo";\n',
    });
    r.git('add', '-A');
    r.git('commit', '-qm', 'racing');
    const run = await r.lint();
    expect(run.code).toBe(1);
    expect(rules(run.json)).toEqual(['error history/out-of-order 20260115000000_account_note']);
    expect(run.json.findings[0]!.message).toContain('sorts before 20260201000000_ledger, which is already on main');
  });

  it('nothing changed: skip, and say so', async () => {
    const r = await repo();
    await r.write({ 'README.md': 'docs only\n' });
    const run = await runIn(r.dir, ['lint', '--base', 'main']);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('Nothing to lint: no migration or rollback changed against main (in prisma/migrations and rollbacks).\n');
    expect(parse(await runIn(r.dir, ['lint', '--base', 'main', '--json']))).toMatchObject({ verdict: 'skip', files: [], squawk: null });
  });

  it('a base ref missing from the clone is a configuration error naming the fetch', async () => {
    const r = await repo();
    const run = await runIn(r.dir, ['lint']); // default lint.base: origin/main, which this clone lacks
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('The base ref "origin/main" does not exist in this clone.');
    expect(run.stderr).toContain('git fetch origin main');
    expect(run.stderr).toContain('fetch-depth: 0');
  });

  it('squawk runs once for all files, and once more only for files the executor splits', async () => {
    const r = await repo();
    const added: Record<string, string> = {};
    for (let i = 1; i <= 6; i++) {
      added[migration(`2026030${i}000000_t${i}`)] = `CREATE TABLE "T${i}" ("id" BIGINT NOT NULL);\nCREATE INDEX "T${i}_id_idx" ON "T${i}"("id");\n`;
      added[rollback(`2026030${i}000000_t${i}`)] = `DROP TABLE "T${i}";\n`;
    }
    await r.write(added);
    const env = testEnv({ DBOPS_LOG_LEVEL: 'debug' });
    const squawkCalls = (run: CliRun) =>
      run.stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg: string; cmd?: string })
        .filter((l) => l.msg === 'exec' && /squawk/.test(l.cmd ?? ''));
    const atomicOnly = await runIn(r.dir, ['lint', '--base', 'main', '--json'], env);
    expect(parse(atomicOnly).files).toHaveLength(12);
    expect(parse(atomicOnly).squawk?.invocations).toBe(1);
    expect(squawkCalls(atomicOnly)).toHaveLength(1);
    expect(squawkCalls(atomicOnly)[0]!.cmd).toContain('--assume-in-transaction');

    await r.write({
      [migration('20260310000000_concurrent')]: 'CREATE INDEX CONCURRENTLY "Account_note_idx" ON "Account"("note");\n',
      [rollback('20260310000000_concurrent')]: 'DROP INDEX CONCURRENTLY "Account_note_idx";\n',
    });
    const mixed = await runIn(r.dir, ['lint', '--base', 'main', '--json'], env);
    expect(parse(mixed).squawk?.invocations).toBe(2);
    expect(squawkCalls(mixed).map((c) => c.cmd!.includes('--no-assume-in-transaction'))).toEqual(expect.arrayContaining([true, false]));
    expect(
      parse(mixed)
        .files.filter((f) => f.mode === 'split')
        .map((f) => f.path),
    ).toEqual([migration('20260310000000_concurrent'), rollback('20260310000000_concurrent')]);
  });
});

/** A migrations folder and rollbacks folder outside git, linted with --all. */
async function folders(migrations: Record<string, string>, rollbacks: Record<string, string | null> = {}, policy?: string) {
  const dir = await tempDir('dbops-lint-');
  await writeAll(dir, Object.fromEntries(Object.entries(migrations).map(([n, sql]) => [migration(n), sql])));
  for (const name of Object.keys(migrations)) {
    const text = name in rollbacks ? rollbacks[name] : `-- undo ${name}\nSELECT 1;\n`;
    if (text !== null && text !== undefined) await writeAll(dir, { [rollback(name)]: text });
  }
  if (policy) await writeAll(dir, { 'policies/migrations.yaml': `version: 1\n${policy}` });
  return {
    dir,
    lint: async (...args: string[]) => {
      const run = await runIn(dir, ['lint', '--all', '--json', ...args]);
      return { ...run, json: run.stdout.includes('"verdict"') ? parse(run) : (undefined as never) };
    },
  };
}

const EXISTING = { '20260101000000_init': INIT, '20260201000000_ledger': LEDGER };

describe('squawk with the transaction assumption of the executor', () => {
  it("atomic files assume a transaction (a new table's index is fine), split files do not", async () => {
    const f = await folders({
      ...EXISTING,
      '20260301000000_atomic': 'CREATE TABLE "A" ("id" BIGINT);\nCREATE INDEX "A_id_idx" ON "A"("id");\n',
      // Split by the executor because of CONCURRENTLY: the plain index on the new table is built outside
      // any transaction, so squawk must judge it without the assumption.
      '20260302000000_split':
        'CREATE TABLE "B" ("id" BIGINT);\nCREATE INDEX "B_id_idx" ON "B"("id");\nCREATE INDEX CONCURRENTLY "Account_note_idx" ON "Account"("note");\n',
      '20260303000000_alone': '-- CreateIndex\nCREATE INDEX CONCURRENTLY "Entry_amount_idx" ON "Entry"("amount");\n',
      '20260304000000_explicit': 'BEGIN;\nCREATE INDEX CONCURRENTLY "Account_balance_idx" ON "Account"("balance");\nCOMMIT;\n',
    });
    const run = await f.lint();
    const modes = Object.fromEntries(run.json.files.filter((x) => x.kind === 'migration').map((x) => [x.migration, x.mode]));
    expect(modes).toMatchObject({
      '20260301000000_atomic': 'atomic',
      '20260302000000_split': 'split',
      '20260303000000_alone': 'split',
      '20260304000000_explicit': 'split',
    });
    const at = (m: string) =>
      run.json.findings.filter((x) => x.migration === m && x.file === migration(m)).map((x) => `${x.line}:${x.column} ${x.severity} ${x.rule}`);
    expect(at('20260301000000_atomic')).toEqual([]);
    // It also runs in two steps, so a failure in the second leaves the first committed: re-runnable statements matter.
    expect(at('20260302000000_split')).toEqual([
      '1:1 warning squawk/prefer-robust-stmts',
      '2:1 warning squawk/prefer-robust-stmts',
      '2:1 warning squawk/require-concurrent-index-creation',
      '3:1 warning squawk/prefer-robust-stmts',
    ]);
    expect(at('20260303000000_alone')).toEqual([]); // CONCURRENTLY alone in its file is not "in a transaction"
    expect(at('20260304000000_explicit')).toEqual(['2:1 warning squawk/prefer-robust-stmts', '2:14 error squawk/ban-concurrent-index-creation-in-transaction']);
    expect(run.code).toBe(1);

    // The same multi-statement file judged as atomic (what plain squawk with --assume-in-transaction does)
    // would claim the CONCURRENTLY statement fails inside the transaction: the executor never runs it so.
    const raw = spawnSync(
      join(ROOT, 'node_modules/.bin/squawk'),
      ['--reporter', 'json', '--assume-in-transaction', join(f.dir, migration('20260302000000_split'))],
      { encoding: 'utf8' },
    );
    expect(raw.stdout).toContain('ban-concurrent-index-creation-in-transaction');
  }, 60_000);
});

describe('rules, levels and policy', () => {
  const ALTER = '-- CreateIndex\nCREATE INDEX "Account_note_idx" ON "Account"("note");\n';

  it('a lock finding on an existing table is a warning; `-- squawk-ignore` above the statement silences it', async () => {
    const f = await folders({
      ...EXISTING,
      '20260301000000_index': ALTER, // squawk reads the ignore comment on the line right above the statement (below Prisma's "-- CreateIndex").
      '20260302000000_ignored': '-- CreateIndex\n-- squawk-ignore require-concurrent-index-creation\nCREATE INDEX "Account_note2_idx" ON "Account"("note");\n',
    });
    const run = await f.lint();
    expect(run.code).toBe(0);
    expect(run.json.verdict).toBe('warn');
    expect(run.json.findings.map((x) => `${x.file}:${x.line}:${x.column} ${x.severity} ${x.rule}`)).toEqual([
      `${migration('20260301000000_index')}:2:1 warning squawk/require-concurrent-index-creation`,
    ]);
    expect(run.json.counts).toEqual({ error: 0, warning: 1, notice: 0 });
  });

  it('lint.rules in the policy changes a level, turns a rule off, or on, by squawk name or squawk/<name>', async () => {
    const f = await folders(
      { ...EXISTING, '20260301000000_index': ALTER },
      {},
      'lint:\n  rules:\n    require-concurrent-index-creation: error\n    squawk/prefer-text-field: notice\n    prefer-txt-field: "off"\n',
    );
    const run = await f.lint();
    expect(run.code).toBe(1);
    const shown = run.json.findings.map((x) => `${x.severity} ${x.rule}`);
    expect(shown).toContain('error squawk/require-concurrent-index-creation');
    expect(shown).toContain('notice squawk/prefer-text-field'); // off in the profile, on by policy
    expect(run.json.findings).toContainEqual(expect.objectContaining({ rule: 'lint/unknown-rule', severity: 'notice', file: 'policies/migrations.yaml' }));
    const silenced = await (
      await folders({ ...EXISTING, '20260301000000_index': ALTER }, {}, 'lint:\n  rules:\n    require-concurrent-index-creation: "off"\n')
    ).lint();
    expect(silenced.json).toMatchObject({ verdict: 'pass', counts: { error: 0, warning: 0, notice: 0 } });
  });

  it('destructive statements are errors, warnings when the pull request carries an allow label; never on rollbacks', async () => {
    const drop =
      '-- AlterTable\nALTER TABLE "Account" DROP COLUMN "note";\n\n-- AlterTable\nALTER TABLE "Account" ALTER COLUMN "name" SET DATA TYPE VARCHAR(20);\n';
    const f = await folders(
      { ...EXISTING, '20260301000000_drop_note': drop },
      {
        '20260301000000_drop_note':
          '-- dbops:irreversible drops "Account"."note" with its data\nALTER TABLE "Account" ADD COLUMN "note" TEXT;\nALTER TABLE "Account" ALTER COLUMN "name" SET DATA TYPE VARCHAR(100);\n',
      },
    );
    const refused = await f.lint();
    expect(refused.code).toBe(1);
    const destructive = (run: typeof refused) =>
      run.json.findings.filter((x) => x.rule.startsWith('destructive/')).map((x) => `${x.file}:${x.line}:${x.column} ${x.severity} ${x.rule}`);
    expect(destructive(refused)).toEqual([
      `${migration('20260301000000_drop_note')}:2:23 error destructive/drop-column`,
      `${migration('20260301000000_drop_note')}:5:36 error destructive/narrow-type`,
    ]);
    expect(refused.json.findings.find((x) => x.rule === 'destructive/narrow-type')!.message).toContain('narrows from varchar(100) to varchar(20)');
    const allowed = await f.lint('--labels', 'ready, allow-destructive');
    expect(allowed.code).toBe(0);
    expect(destructive(allowed)).toEqual([
      `${migration('20260301000000_drop_note')}:2:23 warning destructive/drop-column`,
      `${migration('20260301000000_drop_note')}:5:36 warning destructive/narrow-type`,
    ]);
    expect(allowed.json.findings.find((x) => x.rule === 'destructive/drop-column')!.message).toContain(
      'Allowed for this pull request by the label "allow-destructive".',
    );
    expect(allowed.json.irreversible).toEqual([{ migration: '20260301000000_drop_note', reason: 'drops "Account"."note" with its data' }]);
    expect(await f.lint('--labels', 'destructive')).toMatchObject({ code: 1 }); // not a label the policy names
  });

  it('an irreversible rollback is a notice listed in data; the marker without a reason is an error', async () => {
    const f = await folders(
      {
        ...EXISTING,
        '20260301000000_purge': 'DELETE FROM "Entry" WHERE "amount" = 0;\n',
        '20260302000000_purge_more': 'DELETE FROM "Entry" WHERE "amount" < 0;\n',
      },
      {
        '20260301000000_purge': '-- dbops:irreversible deleted zero-amount entries cannot be recreated\n',
        '20260302000000_purge_more': '-- dbops:irreversible\n',
      },
    );
    const run = await f.lint();
    expect(run.code).toBe(1);
    expect(run.json.irreversible).toEqual([{ migration: '20260301000000_purge', reason: 'deleted zero-amount entries cannot be recreated' }]);
    expect(run.json.findings.filter((x) => x.rule.startsWith('rollbacks/')).map((x) => `${x.severity} ${x.rule} ${x.file}:${x.line}`)).toEqual([
      `notice rollbacks/irreversible ${rollback('20260301000000_purge')}:1`,
      `error rollbacks/irreversible-without-reason ${rollback('20260302000000_purge_more')}:1`,
    ]);
  });

  it('a migration creating a table policies/access.yaml does not cover, and one granting to PUBLIC: errors at their lines', async () => {
    const f = await folders({
      ...EXISTING,
      '20260301000000_secrets': '-- CreateTable\nCREATE TABLE "ApiSecret" (\n    "id" UUID NOT NULL,\n    CONSTRAINT "ApiSecret_pkey" PRIMARY KEY ("id")\n);\n',
      '20260302000000_public_read': '-- Reporting\nGRANT SELECT ON "Account" TO PUBLIC;\nGRANT SELECT ON "Entry" TO app_ro;\n',
    });
    await writeAll(f.dir, {
      'policies/access.yaml': [
        'version: 1',
        'owner: migrator',
        'roles:',
        '  migrator: { login: true }',
        '  app_ro:',
        '    grants:',
        '      - { on: tables, schema: public, except: [_prisma_migrations, ApiSecret], privileges: [SELECT] }',
        '',
      ].join('\n'),
    });
    const run = await f.lint();
    expect(run.code).toBe(1);
    const access = run.json.findings.filter((x) => x.rule.startsWith('access/')).map((x) => `${x.file}:${x.line}:${x.column} ${x.severity} ${x.rule}`);
    expect(access).toEqual([
      `${migration('20260301000000_secrets')}:2:1 error access/table-not-covered`,
      `${migration('20260302000000_public_read')}:2:1 error access/grant-to-public`,
      `${migration('20260302000000_public_read')}:3:1 error access/in-migration`,
    ]);
    expect(run.json.findings.find((x) => x.rule === 'access/table-not-covered')!.message).toContain(
      '"public"."ApiSecret" is not covered by policies/access.yaml',
    );
    // Without policies/access.yaml the coverage rule does nothing.
    const bare = await folders({ ...EXISTING, '20260301000000_secrets': 'CREATE TABLE "ApiSecret" ("id" UUID);\n' });
    expect((await bare.lint()).json).toMatchObject({ verdict: 'pass', findings: [] });
    // A level in lint.rules changes them like any dbops rule.
    await writeAll(f.dir, {
      'policies/migrations.yaml':
        'version: 1\nlint:\n  rules:\n    access/table-not-covered: warning\n    access/grant-to-public: "off"\n    access/in-migration: notice\n',
    });
    const relaxed = await f.lint();
    expect(relaxed.code).toBe(0);
    expect(relaxed.json.findings.filter((x) => x.rule.startsWith('access/')).map((x) => `${x.severity} ${x.rule}`)).toEqual([
      'warning access/table-not-covered',
      'notice access/in-migration',
    ]);
  }, 60_000);

  it('invalid SQL and files the executor would refuse are findings with their location, not crashes (exit 2: the file is malformed)', async () => {
    const f = await folders({
      ...EXISTING,
      '20260301000000_typo': '-- AlterTable\nALTER TABLE "Account" ADD COLUMN "x" TEXT;\nALTER TABLE "Account" DROP COLUM "note";\n',
      '20260302000000_open_tx': 'BEGIN;\nCREATE INDEX CONCURRENTLY "i" ON "Account"("note");\n',
    });
    const run = await f.lint();
    expect(run.code).toBe(2);
    const typo = run.json.findings.filter((x) => x.migration === '20260301000000_typo' && x.severity === 'error');
    // One finding: squawk's parser reports follow-up errors after the first, which are dropped.
    expect(typo).toEqual([expect.objectContaining({ rule: 'squawk/syntax-error', file: migration('20260301000000_typo'), line: 3, column: 34 })]);
    const open = run.json.findings.filter((x) => x.migration === '20260302000000_open_tx' && x.severity === 'error').map((x) => x.rule);
    expect(open).toContain('executor/invalid-file');
    expect(run.json.files.find((x) => x.migration === '20260302000000_open_tx' && x.kind === 'migration')!.mode).toBeNull();
  });
});

describe("the prisma profile on the repository's own history", () => {
  it('nine Prisma migrations and their rollbacks give a handful of findings, each one a real lock or data risk', async () => {
    const run = await runIn(ROOT, ['lint', '--all', '--json', '--reports-dir', await tempDir('dbops-lint-reports-')]);
    const json = parse(run);
    expect(run.code).toBe(1); // the legacy column drop has no allow label here
    expect(json.files.filter((f) => f.kind === 'migration')).toHaveLength(9);
    const shown = json.findings.map((f) => `${f.file.replace(/^.*migrations\/|^rollbacks\//, '').slice(0, 20)}:${f.line} ${f.severity} ${f.rule}`);
    expect(shown).toEqual([
      // CHECK on the existing, large JournalEntry table: a full scan under lock (NOT VALID + VALIDATE avoids it).
      '20260310110000_fx_ra:48 warning squawk/constraint-missing-not-valid',
      '20260714101500_invoi:2 notice squawk/require-enum-value-ordering',
      // Plain index build on the existing JournalEntry table blocks its writes.
      '20260818134500_journ:8 warning squawk/require-concurrent-index-creation',
      '20261020091500_drop_:8 warning squawk/require-concurrent-index-deletion',
      '20261020091500_drop_:11 error destructive/drop-column',
      // Rollbacks are linted too: a rollback that blocks writes on a production table is worth knowing.
      '20260714101500_invoi:11 warning squawk/changing-column-type',
      '20260818134500_journ:5 warning squawk/require-concurrent-index-deletion',
      '20260915160000_audit:5 warning squawk/require-concurrent-index-deletion',
      '20261020091500_drop_:1 notice rollbacks/irreversible',
      '20261020091500_drop_:9 warning squawk/require-concurrent-index-creation',
    ]);
    // What plain squawk adds (289 findings on these nine migrations): style, types, timeouts the executor sets.
    // Those rules are not even run (prefer-robust-stmts still runs for the split files: one runs in several steps).
    expect(json.squawk?.excluded).toEqual(
      expect.arrayContaining([
        'require-lock-timeout',
        'require-statement-timeout',
        'prefer-text-field',
        'prefer-bigint-over-int',
        'prefer-identity',
        'ban-char-field',
      ]),
    );
    expect(json.squawk?.invocations).toBe(2);
    const allowed = parse(
      await runIn(ROOT, ['lint', '--all', '--json', '--labels', 'allow-destructive', '--reports-dir', await tempDir('dbops-lint-reports-')]),
    );
    expect(allowed.verdict).toBe('warn');
  });
});

describe('history against a database (--database-url)', () => {
  it('an applied migration edited afterwards is an error; without the flag lint never connects', async () => {
    const db = await fresh();
    const f = await folders({ ...EXISTING, '20260301000000_memo': 'ALTER TABLE "Account" ADD COLUMN "memo" TEXT;\n' });
    const deployed = await runIn(f.dir, ['migrate', 'deploy', '--database-url', db.url]);
    expect(deployed.code).toBe(0);
    await writeAll(f.dir, { [migration('20260201000000_ledger')]: LEDGER.replace('DECIMAL(19,4) NOT NULL,\n\n', 'DECIMAL(19,2) NOT NULL,\n\n') });
    await writeAll(f.dir, { [migration('20260115000000_late')]: 'SELECT 1;\n', [rollback('20260115000000_late')]: 'SELECT 1;\n' });

    const run = await runIn(f.dir, ['lint', '--last', '1', '--json', '--database-url', db.url]);
    expect(run.code).toBe(1);
    const json = parse(run);
    expect(json.files.map((x) => x.migration)).toEqual(['20260301000000_memo', '20260301000000_memo']);
    const where = `database "${db.name}" on 127.0.0.1:${new URL(db.url).port}`;
    expect(json.findings.filter((x) => x.rule.startsWith('history/')).map((x) => [x.rule, x.migration, x.message])).toEqual([
      [
        'history/out-of-order',
        '20260115000000_late',
        `20260115000000_late is not applied to ${where} but sorts before 20260301000000_memo, which is: it would run after newer migrations there.`,
      ],
      ['history/edited', '20260201000000_ledger', `20260201000000_ledger was applied to ${where} and has been edited since (its checksum differs).`],
    ]);
    expect(run.all).not.toContain(serverPassword());

    // DATABASE_URL points nowhere: a lint that tried to connect would end with exit 3.
    const offline = await runIn(f.dir, ['lint', '--last', '1', '--json'], testEnv({ DATABASE_URL: 'postgresql://nobody:secret@127.0.0.1:1/none' }));
    expect(offline.code).toBe(0);
    expect(parse(offline).findings.filter((x) => x.rule.startsWith('history/'))).toEqual([]);
  });
});
