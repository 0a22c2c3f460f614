// `dbops migrate new`: Prisma's own schema engine (WebAssembly) writes the migration exactly as `prisma migrate
// dev --create-only` would, and its reverse diff the rollback, which restores the previous schema; offline.
import { spawn } from 'node:child_process';
import { cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { NewMigrationData } from '../../pipeline/change/authoring/index.ts';
import { diffFingerprints, schemaFingerprint } from '../../pipeline/infra/db/fingerprint.ts';
import { parseDatabaseUrl } from '../../pipeline/infra/db/url.ts';
import { loadMigrationsList, openSchemaEngine } from '../../pipeline/infra/prisma/schema-engine.ts';
import { BIN, ROOT, dbops, testEnv, type CliRun } from '../helpers/cli.ts';
import { adminUrl, databasePerTest, queryUrl } from '../helpers/db.ts';
import { tempDir } from '../helpers/migrations.ts';
import pino from 'pino';

const fresh = databasePerTest('migrate_new');
const DROP = '20261020091500_drop_organization_legacy_erp_id';

/** A copy of this repository's prisma/, rollbacks/ and policies/: the developer's checkout. */
async function checkout(): Promise<{ root: string; schema: string; migrations: string; rollbacks: string; flags: string[] }> {
  const root = await tempDir('dbops-migrate-new-');
  await Promise.all(['prisma', 'rollbacks', 'policies'].map((d) => cp(join(ROOT, d), join(root, d), { recursive: true })));
  const r = { root, schema: join(root, 'prisma/schema.prisma'), migrations: join(root, 'prisma/migrations'), rollbacks: join(root, 'rollbacks') };
  const flags = [
    '--prisma-schema',
    r.schema,
    '--migrations-dir',
    r.migrations,
    '--rollbacks-dir',
    r.rollbacks,
    '--policies-dir',
    join(root, 'policies'),
    '--reports-dir',
    join(root, 'reports'),
    '--database-url',
    adminUrl(),
  ];
  return { ...r, flags };
}

async function editSchema(path: string, edits: Array<[string, string]>): Promise<void> {
  let text = await readFile(path, 'utf8');
  for (const [from, to] of edits) {
    expect(text, `schema.prisma holds ${from}`).toContain(from);
    text = text.replace(from, to);
  }
  await writeFile(path, text);
}

/** The package's bin in its own process, with every non-loopback connection failing and recorded. */
function offlineDbops(args: string[], netlog: string): Promise<CliRun> {
  const child = spawn(process.execPath, ['--require', join(ROOT, 'test/helpers/no-network.cjs'), BIN, ...args], {
    cwd: ROOT,
    env: testEnv({ DBOPS_TEST_NETLOG: netlog, PRISMA_ENGINES_MIRROR: 'https://binaries.prisma.invalid' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr, all: stdout + stderr })));
}

/** `prisma migrate diff --from-migrations … --to-schema-datamodel … --script`, from the engine. */
async function engineDiff(migrationsDir: string, schema: string): Promise<string> {
  const session = await openSchemaEngine(parseDatabaseUrl(adminUrl()), pino({ level: 'silent' }) as never);
  try {
    const list = await loadMigrationsList(migrationsDir);
    return (
      await session.diff({ tag: 'migrations', ...list }, { tag: 'schemaDatamodel', files: [{ path: 'schema.prisma', content: schema }] }, { script: true })
    ).text;
  } finally {
    await session.close();
  }
}

const exec = async (url: string, sql: string) => {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
};
const fingerprint = async (url: string) => {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await schemaFingerprint(c as never, 'public');
  } finally {
    await c.end();
  }
};

describe('dbops migrate new', () => {
  it('writes the migration Prisma writes for a new model, a new optional column, a renamed index and a dropped column, and a rollback that restores the schema, with the network unreachable', async () => {
    const repo = await checkout();
    const before = new Set(await readdir(repo.migrations));
    await editSchema(repo.schema, [
      [
        'model Currency {\n  code       String  @id @db.Char(3)\n',
        'model Tag {\n  id   Int    @id @default(autoincrement())\n  name String\n}\n\nmodel Currency {\n  code       String  @id @db.Char(3)\n  country    String?\n',
      ],
      ['  slug                 String   @unique @db.VarChar(64)\n  name                 String\n', '  slug                 String   @unique @db.VarChar(64)\n'],
      ['  @@index([baseCurrencyCode])\n}', '  @@index([baseCurrencyCode], map: "Organization_currency_idx")\n}'],
    ]);
    const netlog = join(repo.root, 'network.log');
    await writeFile(netlog, '');
    const run = await offlineDbops(['migrate', 'new', '--name', 'Reshape Currencies', '--create-only', '--json', ...repo.flags], netlog);
    expect(run.code, run.all).toBe(0);
    expect(await readFile(netlog, 'utf8')).toBe('');
    const data = (JSON.parse(run.stdout) as { data: NewMigrationData }).data;
    expect(data.migration).toMatch(/^\d{14}_reshape_currencies$/);
    const added = (await readdir(repo.migrations)).filter((n) => !before.has(n));
    expect(added).toEqual([data.migration]);

    // The same SQL as Prisma's engine gives for `migrate diff`, under the warnings header `migrate dev` writes.
    const forward = await readFile(join(repo.migrations, data.migration!, 'migration.sql'), 'utf8');
    const base = await tempDir('dbops-migrate-new-base-');
    await cp(repo.migrations, base, { recursive: true, filter: (src) => !src.includes(data.migration!) });
    const expected = await engineDiff(base, await readFile(repo.schema, 'utf8'));
    expect(forward).toMatch(
      /^\/\*\n {2}Warnings:\n\n {2}- You are about to drop the column `name` on the `Organization` table\. All the data in the column will be lost\.\n\n\*\/\n/,
    );
    expect(forward.replace(/^\/\*[\s\S]*?\*\/\n/, '')).toBe(expected);
    expect(forward).toMatch(/ALTER INDEX "Organization_baseCurrencyCode_idx" RENAME TO "Organization_currency_idx"/);
    expect(forward).toMatch(/CREATE TABLE "Tag"/);

    // The rollback: irreversible marker naming the dropped column, which comes back nullable.
    const rollback = await readFile(join(repo.rollbacks, `${data.migration}.sql`), 'utf8');
    expect(rollback.split('\n')[0]).toBe(
      `-- dbops:irreversible ${data.migration} drops column "Organization"."name" with its data; this rollback re-creates it empty`,
    );
    expect(data.nullable).toEqual(['"Organization"."name"']);
    expect(rollback).toMatch(/ALTER TABLE "Organization" ADD COLUMN\s+"name" TEXT;/);
    expect(rollback).not.toMatch(/"public"\./);

    // Forward then rollback on a database with rows: the schema before, except the dropped column's place and NOT NULL.
    const db = await fresh();
    const deployed = await dbops(['migrate', 'deploy', '--database-url', db.url, '--migrations-dir', base, '--policies-dir', join(repo.root, 'policies')]);
    expect(deployed.code, deployed.all).toBe(0);
    await exec(
      db.url,
      `INSERT INTO "Currency"(code, name) VALUES ('EUR', 'Euro'); INSERT INTO "Organization"(id, slug, name, "baseCurrencyCode", "updatedAt") VALUES (gen_random_uuid(), 'acme', 'Acme', 'EUR', now())`,
    );
    const original = await fingerprint(db.url);
    await exec(db.url, forward);
    const migrated = await fingerprint(db.url);
    await exec(db.url, rollback);
    const restored = diffFingerprints(original, await fingerprint(db.url));
    const order = (fp: string[]) => fp.find((l) => l.startsWith('columns of "Organization"'));
    expect(restored.missing.sort()).toEqual(['column "Organization".name text not null', order(original.lines)].sort());
    expect(restored.unexpected).toHaveLength(2);
    expect(restored.unexpected).toContain('column "Organization".name text');
    expect(restored.unexpected.find((l) => l.startsWith('columns of'))).toMatch(/^columns of "Organization": .*"updatedAt", name$/);
    // And forward again: the same schema as the first time.
    await exec(db.url, forward);
    expect(diffFingerprints(migrated, await fingerprint(db.url))).toEqual({ missing: [], unexpected: [] });
  });

  it('writes nothing and exits 0 when schema.prisma matches the migrations', async () => {
    const repo = await checkout();
    const before = [await readdir(repo.migrations), await readdir(repo.rollbacks)];
    const run = await dbops(['migrate', 'new', '--name', 'nothing', ...repo.flags]);
    expect(run.code, run.all).toBe(0);
    expect(run.stdout).toContain('No schema change');
    expect([await readdir(repo.migrations), await readdir(repo.rollbacks)]).toEqual(before);
  });

  it('writes the dropped column of the committed history exactly as it was committed (generated by Prisma), then lints and rehearses it', async () => {
    const repo = await checkout();
    const committed = await readFile(join(repo.migrations, DROP, 'migration.sql'), 'utf8');
    await Promise.all([rm(join(repo.migrations, DROP), { recursive: true }), rm(join(repo.rollbacks, `${DROP}.sql`))]);
    const run = await dbops(['migrate', 'new', '--name', 'drop organization legacyErpId', '--scale', '0.01', '--json', ...repo.flags]);
    const data = (JSON.parse(run.stdout) as { data: NewMigrationData }).data;
    expect(data.migration).toMatch(/^\d{14}_drop_organization_legacy_erp_id$/);
    expect(await readFile(join(repo.migrations, data.migration!, 'migration.sql'), 'utf8')).toBe(committed);
    // Lint reports the destructive change as the pull request would (no allow-destructive label here): exit 1.
    expect(run.code, run.all).toBe(1);
    expect(data.lint?.verdict).toBe('fail');
    expect(JSON.parse(run.stdout).findings.map((f: { rule: string }) => f.rule)).toContain('destructive/drop-column');
    // The rehearsal ran on a clone: the marked rollback is reported irreversible, as on the pull request.
    const rehearsed = data.rehearsal!.data.migrations;
    expect(rehearsed.map((m) => [m.name, m.status, m.rollback.status])).toEqual([[data.migration, 'applied', 'irreversible']]);
  });

  it('rehearses a reversible change forward, back and forward on a clone and passes', async () => {
    const repo = await checkout();
    await editSchema(repo.schema, [
      ['model Currency {\n  code       String  @id @db.Char(3)\n', 'model Currency {\n  code       String  @id @db.Char(3)\n  country    String?\n'],
    ]);
    const run = await dbops(['migrate', 'new', '--name', 'currency_country', '--scale', '0.01', '--json', ...repo.flags]);
    expect(run.code, run.all).toBe(0);
    const data = (JSON.parse(run.stdout) as { data: NewMigrationData }).data;
    expect(data.irreversible).toBeNull();
    expect(data.lint?.verdict).toBe('pass');
    expect(data.rehearsal!.data.migrations.map((m) => [m.status, m.rollback.status, m.rollback.reapply])).toEqual([['applied', 'proven', 'matched']]);
    const human = await dbops(['migrate', 'new', '--name', 'again', ...repo.flags]);
    expect(human.code, human.all).toBe(0);
    expect(human.stdout).toContain('No schema change');
  });

  it('killed with -9 while the engine works: nothing written; the next run drops its throwaway databases and succeeds', async () => {
    const repo = await checkout();
    await editSchema(repo.schema, [
      ['model Currency {\n  code       String  @id @db.Char(3)\n', 'model Currency {\n  code       String  @id @db.Char(3)\n  country    String?\n'],
    ]);
    const before = [await readdir(repo.migrations), await readdir(repo.rollbacks)];
    const child = spawn(process.execPath, [BIN, 'migrate', 'new', '--name', 'killed', '--create-only', ...repo.flags], {
      cwd: ROOT,
      env: testEnv(),
      stdio: 'ignore',
    });
    const closed = new Promise((resolve) => child.on('close', resolve));
    const leftBy = async (pid: number) =>
      (
        await queryUrl<{ datname: string }>(
          adminUrl(),
          `SELECT datname FROM pg_database WHERE datname LIKE 'dbops_engine_%' AND (shobj_description(oid, 'pg_database')::jsonb ->> 'pid')::int = $1`,
          [pid],
        )
      ).map((r) => r.datname);
    let seen: string[] = [];
    for (let i = 0; i < 600 && seen.length === 0; i++) {
      seen = await leftBy(child.pid!);
      if (seen.length === 0) await new Promise((r) => setTimeout(r, 20));
    }
    expect(seen.length, 'the run created its throwaway databases').toBeGreaterThan(0);
    child.kill('SIGKILL');
    await closed;
    expect(await leftBy(child.pid!)).not.toEqual([]);
    expect([await readdir(repo.migrations), await readdir(repo.rollbacks)]).toEqual(before);

    const again = await dbops(['migrate', 'new', '--name', 'again', '--create-only', ...repo.flags]);
    expect(again.code, again.all).toBe(0);
    expect(await leftBy(child.pid!)).toEqual([]);
    expect((await readdir(repo.migrations)).filter((n) => !before[0]!.includes(n))).toEqual([expect.stringMatching(/_again$/)]);
  });

  it('refuses to write a migration that would sort before one dated in the future', async () => {
    const repo = await checkout();
    await cp(join(repo.migrations, DROP), join(repo.migrations, '29990101000000_from_the_future'), { recursive: true });
    await editSchema(repo.schema, [
      ['model Currency {\n  code       String  @id @db.Char(3)\n', 'model Currency {\n  code       String  @id @db.Char(3)\n  country    String?\n'],
    ]);
    const before = [await readdir(repo.migrations), await readdir(repo.rollbacks)];
    // The future folder repeats the drop, which the engine replays on an empty shadow database: make it a no-op.
    await writeFile(join(repo.migrations, '29990101000000_from_the_future', 'migration.sql'), 'SELECT 1;\n');
    const run = await dbops(['migrate', 'new', '--name', 'late', '--create-only', ...repo.flags]);
    expect(run.code, run.all).toBe(2);
    expect(run.all).toContain('29990101000000_from_the_future');
    expect([await readdir(repo.migrations), await readdir(repo.rollbacks)]).toEqual(before);
  });

  it('refuses an invalid schema.prisma with its line, and a name without letters, writing nothing', async () => {
    const repo = await checkout();
    const bad = await dbops(['migrate', 'new', '--name', '!!!', ...repo.flags]);
    expect(bad.code).toBe(2);
    expect(bad.all).toContain('--name');
    await writeFile(repo.schema, `${await readFile(repo.schema, 'utf8')}\nmodel Broken {\n  id Int @id\n  other Strin\n}\n`);
    const before = await readdir(repo.migrations);
    const run = await dbops(['migrate', 'new', '--name', 'broken', ...repo.flags]);
    expect(run.code, run.all).toBe(2);
    expect(run.all).toContain(repo.schema);
    expect(run.all).toMatch(/Strin/);
    expect(await readdir(repo.migrations)).toEqual(before);
  });
});
