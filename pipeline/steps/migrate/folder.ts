import { readFileSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../../core/errors.ts';

export interface LocalMigration {
  /** The directory name, exactly: Prisma's migration name. */
  name: string;
  /** Path of migration.sql, for messages. */
  file: string;
  /**
   * migration.sql decoded as Prisma ≥ 6.6 decodes it (Node's utf8: a BOM is kept as U+FEFF, invalid bytes
   * become U+FFFD), or undefined when the directory has no readable migration.sql.
   */
  script: string | undefined;
}

export interface MigrationsFolder {
  dir: string;
  /** migration_lock.toml content, or null when there is none. */
  lockfile: string | null;
  migrations: LocalMigration[];
  /** Things worth telling without failing (e.g. an order that differs from byte order). */
  warnings: string[];
}

/**
 * Reads the folder as Prisma does (spec §2): every directory is a migration (no name validation,
 * symlinks skipped), sorted with `localeCompare`; only `migration.sql` is read. A folder that does not
 * exist is an error here (Prisma would silently see "no migrations"; with dbops that is almost always a
 * wrong --migrations-dir).
 */
export async function readMigrationsFolder(dir: string): Promise<MigrationsFolder> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new ConfigError(`The migrations folder ${dir} does not exist or is not a directory.`, {
      hint: 'Run from the repository root or pass --migrations-dir (default prisma/migrations).',
    });
  }
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name);
  names.sort((a, b) => a.localeCompare(b));
  const warnings: string[] = [];
  const byteOrder = [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (byteOrder.some((n, i) => n !== names[i])) {
    warnings.push(
      `Migration names sort differently by locale and by byte order (${names.join(', ')}); dbops applies them in locale order, as Prisma ≥ 6.6 does. Use Prisma's 14-digit timestamp prefixes to avoid the ambiguity.`,
    );
  }
  const migrations = await Promise.all(
    names.map(async (name): Promise<LocalMigration> => {
      const file = join(dir, name, 'migration.sql');
      // Synchronous on purpose: for hundreds of small files it is several times faster than fs.promises,
      // which pays a thread-pool round trip for each open, stat, read and close.
      let script: string | undefined;
      try {
        script = readFileSync(file, 'utf8');
      } catch {
        script = undefined;
      }
      return { name, file, script };
    }),
  );
  const lockfile = await readFile(join(dir, 'migration_lock.toml'), 'utf8').catch(() => null);
  return { dir, lockfile, migrations, warnings };
}

/** The provider as Prisma's strict line-based parse reads it (spec §2.4), or `<PROVIDER NOT FOUND>`. */
export function lockfileProvider(content: string): string {
  const line = content.split('\n').map((l) => l.replace(/\r$/, '')).find((l) => l.startsWith('provider'));
  if (line === undefined) return '<PROVIDER NOT FOUND>';
  return line.replace(/^provider = /, '').replace(/^"+|"+$/g, '');
}

/** P3019 when migration_lock.toml names another provider; checked before any connection or write. */
export function checkLockfile(folder: MigrationsFolder): void {
  if (folder.lockfile === null) return;
  const provider = lockfileProvider(folder.lockfile);
  if (provider === 'postgresql') return;
  throw new ConfigError(
    `The datasource provider \`postgresql\` specified in your schema does not match the one specified in the migration_lock.toml, \`${provider}\`. Please remove your current migration directory and start a new migration history with prisma migrate dev. Read more: https://pris.ly/d/migrate-provider-switch`,
    {
      code: 'P3019',
      hint: `${join(folder.dir, 'migration_lock.toml')} must contain the line \`provider = "postgresql"\` exactly (Prisma's parse is strict about the spaces and quotes).`,
    },
  );
}
