import { readFileSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { encodingFault, type EncodingFault } from '../../core/encoding.ts';
import { ConfigError } from '../../core/errors.ts';
import { planExecution, warmParser, type ExecutionPlan } from './plan.ts';
import { plural } from '../../core/format.ts';
import { type Finding } from '../../core/result.ts';

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
  /** Set when migration.sql is not valid UTF-8 or holds a NUL byte (the script then holds U+FFFD replacements). */
  fault?: EncodingFault | undefined;
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
 * wrong --migrations-dir). `willPlan`: the caller plans the files next, so the parser starts loading now (warmParser).
 */
export async function readMigrationsFolder(dir: string, opts: { willPlan?: boolean } = {}): Promise<MigrationsFolder> {
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
      let bytes: Buffer;
      try {
        bytes = readFileSync(file);
      } catch {
        return { name, file, script: undefined };
      }
      return { name, file, ...decodeSql(bytes) };
    }),
  );
  if (opts.willPlan) warmParser(migrations.map((m) => m.script));
  const lockfile = await readFile(join(dir, 'migration_lock.toml'), 'utf8').catch(() => null);
  return { dir, lockfile, migrations, warnings };
}

/** The provider as Prisma's strict line-based parse reads it (spec §2.4), or `<PROVIDER NOT FOUND>`. */
export function lockfileProvider(content: string): string {
  const line = content
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .find((l) => l.startsWith('provider'));
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

/**
 * A SQL file decoded as Prisma ≥ 6.6 decodes it (Node's utf8: the checksum is over this string, spec §3),
 * with where it is not valid UTF-8: the text then holds U+FFFD where the author wrote something else.
 */
export function decodeSql(bytes: Buffer): { script: string; fault?: EncodingFault } {
  const script = bytes.toString('utf8');
  const fault = encodingFault(bytes, script);
  return fault ? { script, fault } : { script };
}

/**
 * A reason the executor refuses to run a migration or rollback file. Lint reports exactly these (always as
 * errors, whatever the policy says), so a pull request is never green with a file the deploy will refuse.
 */
export interface FileProblem {
  rule: MalformedRule;
  /** Prisma's code, when the condition has one. */
  code?: 'P3015' | 'P3019' | undefined;
  migration?: string | undefined;
  file: string;
  /** 1-based. */
  line?: number | undefined;
  column?: number | undefined;
  message: string;
  hint: string;
}

/** The lint rules of malformed files; the policy cannot turn them off. */
export const MALFORMED_RULES = [
  'migrations/missing-script',
  'migrations/name-too-long',
  'migrations/provider',
  'file/bom',
  'file/encoding',
  'executor/invalid-file',
] as const;
export type MalformedRule = (typeof MALFORMED_RULES)[number];

const BOM = '\uFEFF';

/** What is wrong with the text of one SQL file (BOM, encoding), before it is parsed. */
export function textProblems(file: string, script: string, fault: EncodingFault | undefined, migration?: string): FileProblem[] {
  const problems: FileProblem[] = [];
  if (script.startsWith(BOM)) {
    problems.push({
      rule: 'file/bom',
      migration,
      file,
      line: 1,
      column: 1,
      message: `${file} starts with a UTF-8 byte order mark (BOM). PostgreSQL rejects it as a syntax error (42601), and Prisma would record a failed migration.`,
      hint: `Save the file as UTF-8 without BOM: sed -i '1s/^\\xEF\\xBB\\xBF//' ${file}`,
    });
  }
  if (fault) {
    const at = `at offset ${fault.offset} (line ${fault.line}, column ${fault.column})`;
    problems.push({
      rule: 'file/encoding',
      migration,
      file,
      line: fault.line,
      column: fault.column,
      ...(fault.kind === 'invalid-utf8'
        ? {
            message: `${file} is not valid UTF-8: byte ${fault.byte} ${at}. Applied as it is, the database would hold the replacement character U+FFFD instead of what the author wrote.`,
            hint: `Convert the file to UTF-8 (here from Latin-1): iconv -f LATIN1 -t UTF-8 ${file} > ${file}.utf8 && mv ${file}.utf8 ${file}`,
          }
        : {
            message: `${file} holds a NUL byte ${at}, which PostgreSQL cannot receive in a query.`,
            hint: `Remove it (tr -d '\\000' < ${file} > ${file}.clean && mv ${file}.clean ${file}), or re-save the file as UTF-8 text if it was saved as UTF-16.`,
          }),
    });
  }
  return problems;
}

/** What the executor refuses about a migration folder before parsing its SQL: missing file, name, BOM, encoding. */
function migrationProblems(m: LocalMigration): FileProblem[] {
  if (m.script === undefined) {
    return [
      {
        rule: 'migrations/missing-script',
        code: 'P3015',
        migration: m.name,
        file: m.file,
        message: `P3015: Could not find the migration file at ${m.file}.`,
        hint: 'Every migration folder needs its migration.sql: restore the file or delete the folder.',
      },
    ];
  }
  const problems: FileProblem[] = [];
  if (m.name.length > 255) {
    problems.push({
      rule: 'migrations/name-too-long',
      migration: m.name,
      file: m.file,
      message: `${m.name}: the folder name is longer than the 255 characters _prisma_migrations.migration_name can hold.`,
      hint: 'Rename the folder (keep its timestamp prefix).',
    });
  }
  return [...problems, ...textProblems(m.file, m.script, m.fault, m.name)];
}

/** P3019 as a problem: migration_lock.toml names another provider. */
export function lockfileProblems(folder: MigrationsFolder): FileProblem[] {
  try {
    checkLockfile(folder);
    return [];
  } catch (e) {
    const error = e as ConfigError;
    return [
      { rule: 'migrations/provider', code: 'P3019', file: join(folder.dir, 'migration_lock.toml'), line: 1, message: error.message, hint: error.hint ?? '' },
    ];
  }
}

/** How the executor would run a file whose text is sound, or why it refuses it (an unterminated BEGIN). */
async function planFile(file: string, script: string, migration?: string): Promise<{ plan: ExecutionPlan } | { problem: FileProblem }> {
  try {
    return { plan: await planExecution(script, file) };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return { problem: { rule: 'executor/invalid-file', migration, file, message: e.message, hint: e.hint ?? '' } };
  }
}

/** A rollback script as the executor sees it (change/rollbacks reads them; this module only checks them). */
export interface SqlScript {
  /** The migration it belongs to. */
  name: string;
  path: string;
  text: string;
  fault?: EncodingFault | undefined;
}

export interface FileCheck {
  /** Every reason the executor would refuse one of the files. */
  problems: FileProblem[];
  /** How the executor runs each sound file, by its path. */
  plans: Map<string, ExecutionPlan>;
}

/**
 * Every reason the executor would refuse to run these migrations and rollback scripts, all at once (P3015,
 * folder names, BOM, encoding, unterminated transactions), and the plan of each sound file. Shared by
 * migrate deploy, lint, rehearse, the gate and deploy, so they refuse exactly the same files.
 */
export async function checkSqlFiles(migrations: LocalMigration[], rollbacks: SqlScript[] = []): Promise<FileCheck> {
  const problems: FileProblem[] = [];
  const plans = new Map<string, ExecutionPlan>();
  const files = [
    ...migrations.map((m) => ({ file: m.file, script: m.script, migration: m.name, own: migrationProblems(m) })),
    ...rollbacks.map((r) => ({ file: r.path, script: r.text, migration: r.name, own: textProblems(r.path, r.text, r.fault, r.name) })),
  ];
  for (const f of files) {
    problems.push(...f.own);
    if (f.own.length > 0 || f.script === undefined) continue;
    const planned = await planFile(f.file, f.script, f.migration);
    if ('problem' in planned) problems.push(planned.problem);
    else plans.set(f.file, planned.plan);
  }
  return { problems, plans };
}

/** The problems of the named migrations of a folder (with its lock file) and of the given rollbacks (a missing rollback is the pairing's business). */
export async function malformedFiles(folder: MigrationsFolder, names: Iterable<string>, rollbacks: SqlScript[] = []): Promise<FileProblem[]> {
  const wanted = new Set(names);
  const { problems } = await checkSqlFiles(
    folder.migrations.filter((m) => wanted.has(m.name)),
    rollbacks,
  );
  return [...lockfileProblems(folder), ...problems];
}

/** A problem as a lint finding: always an error. */
export const problemFinding = (p: FileProblem): Finding => ({
  rule: p.rule,
  severity: 'error',
  message: p.message,
  file: p.file,
  ...(p.line !== undefined ? { line: p.line, column: p.column ?? 1 } : {}),
  ...(p.migration !== undefined ? { migration: p.migration } : {}),
  help: p.hint,
});

/** One problem as a bullet: where, what, and the fix. */
const describeProblem = (p: FileProblem): string => `${p.message}\n      fix: ${p.hint}`;

/** The exit-2 error of a command that refuses malformed files before it changes anything. */
export function malformedError(problems: FileProblem[], lead: string): ConfigError {
  const files = new Set(problems.map((p) => p.file)).size;
  return new ConfigError(`${lead}: ${plural(files, 'file')} ${files === 1 ? 'is' : 'are'} malformed.\n  - ${problems.map(describeProblem).join('\n  - ')}`, {
    code: problems.every((p) => p.code === 'P3015') ? 'P3015' : problems.every((p) => p.code === 'P3019') ? 'P3019' : undefined,
    hint: 'Fix every file above (the lint rules migrations/*, file/* and executor/invalid-file report the same), then run again.',
  });
}
