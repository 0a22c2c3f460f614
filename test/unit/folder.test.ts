import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../pipeline/core/errors.ts';
import { checkLockfile, lockfileProvider, readMigrationsFolder } from '../../pipeline/change/migrations/folder.ts';

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe('migration_lock.toml', () => {
  it.each([
    ['# c\n# c\nprovider = "postgresql"\n', 'postgresql'],
    ['provider = "postgresql"\r\n', 'postgresql'],
    ['provider="postgresql"\n', 'provider="postgresql'],
    ['  provider = "postgresql"\n', '<PROVIDER NOT FOUND>'],
    ['provider = "mysql"\nprovider = "postgresql"\n', 'mysql'],
    ['', '<PROVIDER NOT FOUND>'],
  ])('%j reads as %s', (content, provider) => expect(lockfileProvider(content)).toBe(provider));

  it('P3019 is a configuration error naming the provider', () => {
    expect(() => checkLockfile({ dir: 'm', lockfile: 'provider = "sqlite"\n', migrations: [], warnings: [] })).toThrow(ConfigError);
    expect(() => checkLockfile({ dir: 'm', lockfile: null, migrations: [], warnings: [] })).not.toThrow();
  });
});

describe('readMigrationsFolder', () => {
  it('reads directories only, in localeCompare order, keeps a BOM, skips symlinks, warns about byte order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dbops-folder-'));
    dirs.push(dir);
    for (const name of ['20240101000000_B', '20240101000000_a', '.hidden', 'no_sql']) await mkdir(join(dir, name));
    await writeFile(join(dir, '20240101000000_B', 'migration.sql'), 'B');
    await writeFile(join(dir, '20240101000000_a', 'migration.sql'), Buffer.from([0xef, 0xbb, 0xbf, 0x61]));
    await writeFile(join(dir, '.hidden', 'migration.sql'), 'h');
    await writeFile(join(dir, 'README.md'), 'not a migration');
    await symlink(join(dir, '20240101000000_B'), join(dir, 'zz_link'));
    const folder = await readMigrationsFolder(dir);
    expect(folder.migrations.map((m) => m.name)).toEqual(['.hidden', '20240101000000_a', '20240101000000_B', 'no_sql']);
    expect(folder.migrations[1]!.script).toBe('\uFEFFa');
    expect(folder.migrations[3]!.script).toBeUndefined();
    expect(folder.lockfile).toBeNull();
    expect(folder.warnings[0]).toContain('byte order');
  });

  it('a folder that does not exist is a configuration error', async () => {
    await expect(readMigrationsFolder('/nonexistent/prisma/migrations')).rejects.toThrow(/does not exist/);
  });
});
