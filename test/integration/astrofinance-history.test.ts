// The repository's own history: every AstroFinance migration deploys with dbops, and its paired rollback
// restores exactly the schema before it (compared with pg_dump), newest first down to an empty schema.
import { execFile } from 'node:child_process';
import { cp, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { findPgBinaries, pgTool } from '../../pipeline/infra/pg/binaries.ts';
import { dbops, ROOT } from '../helpers/cli.ts';
import { queryUrl, useDatabase } from '../helpers/db.ts';
import { tempDir } from '../helpers/migrations.ts';

const run = promisify(execFile);
const MIGRATIONS = join(ROOT, 'prisma', 'migrations');
const ROLLBACKS = join(ROOT, 'rollbacks');
const db = useDatabase('astrofinance');

async function schemaDump(url: string): Promise<string> {
  const pgDump = await pgTool(await findPgBinaries(), 'pg_dump');
  const { stdout } = await run(pgDump, ['--schema-only', '--no-owner', '--exclude-table=_prisma_migrations', `--dbname=${url}`], {
    maxBuffer: 64 * 1024 * 1024,
  });
  // PostgreSQL ≥ 15.14 brackets dumps with \restrict <random key>; the key differs on every run.
  return stdout
    .split('\n')
    .filter((l) => !/^\\(un)?restrict /.test(l))
    .join('\n');
}

describe('AstroFinance migrations and rollbacks', async () => {
  const names = (await readdir(MIGRATIONS, { withFileTypes: true }))
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort((a, b) => a.localeCompare(b));

  it('has at least five migrations, each with a paired rollback, and nothing orphaned', async () => {
    expect(names.length).toBeGreaterThanOrEqual(5);
    const rollbacks = (await readdir(ROLLBACKS))
      .filter((f) => f.endsWith('.sql'))
      .map((f) => f.slice(0, -4))
      .sort((a, b) => a.localeCompare(b));
    expect(rollbacks).toEqual(names);
  });

  it('deploys one migration at a time, and each rollback restores the schema before it', async () => {
    const dir = await tempDir('dbops-astro-');
    await cp(join(MIGRATIONS, 'migration_lock.toml'), join(dir, 'migration_lock.toml'));
    const dumps = [await schemaDump(db().url)];
    for (const name of names) {
      await cp(join(MIGRATIONS, name), join(dir, name), { recursive: true });
      const deployed = await dbops(['migrate', 'deploy', '--database-url', db().url, '--migrations-dir', dir]);
      expect({ name, code: deployed.code, stderr: deployed.stderr }).toEqual({ name, code: 0, stderr: '' });
      dumps.push(await schemaDump(db().url));
    }
    const status = await dbops(['migrate', 'status', '--database-url', db().url, '--migrations-dir', MIGRATIONS, '--json']);
    expect(JSON.parse(status.stdout).data.counts).toMatchObject({ applied: names.length, pending: 0, failed: 0, modified: 0 });

    for (let i = names.length - 1; i >= 0; i--) {
      await queryUrl(db().url, await readFile(join(ROLLBACKS, `${names[i]}.sql`), 'utf8'));
      expect({ rollback: names[i], schema: await schemaDump(db().url) }).toEqual({ rollback: names[i], schema: dumps[i] });
    }
  });

  it('marks as irreversible exactly the rollbacks that cannot bring data back', async () => {
    const irreversible: string[] = [];
    for (const name of names) {
      const first = (await readFile(join(ROLLBACKS, `${name}.sql`), 'utf8')).split('\n')[0]!;
      if (first.startsWith('-- dbops:irreversible ')) irreversible.push(name);
      const migration = await readFile(join(MIGRATIONS, name, 'migration.sql'), 'utf8');
      // A migration that drops a column or table destroys data no rollback can restore.
      if (/DROP COLUMN|DROP TABLE/i.test(migration)) expect(irreversible).toContain(name);
    }
    expect(irreversible.length).toBeGreaterThan(0);
  });
});
