import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { packagePath } from '../../core/package.ts';
import { ConfigError, EnvError, RefusedError, UsageError } from '../../core/errors.ts';
import { serverMajor, withClient, type Client } from '../../infra/db/client.ts';
import { cloneDatabase, connectMaintenance, databaseExists, dropDatabase, markOwner, onDatabase, ownership, sweepOrphans } from '../../infra/db/clone.ts';
import { parseDatabaseUrl, quoteIdent, type DbTarget } from '../../infra/db/url.ts';
import { clientTool, findPgBinaries } from '../../infra/pg/binaries.ts';
import type { ExecutorPolicy } from '../../policy/schema.ts';
import { describeMaskedSnapshot, readMaskedSnapshot, type MaskedSnapshotLocation } from '../../protection/masking/index.ts';
import type { RehearseRequest, RehearseData } from './model.ts';
import {
  checksum,
  Executor,
  assertNoUnmanagedTables,
  createMigrationsTable,
  ensureSchema,
  isFailed,
  loadRows,
  migrationsTableExists,
  openSession,
  planExecution,
} from '../migrations/index.ts';
import { executorError } from './rollback.ts';
import type { ScopedMigration } from './scope.ts';
import { assertExistingFile } from '../../core/fs.ts';
import { formatMs, noun } from '../../core/format.ts';
import type { Runtime } from '../../core/runtime.ts';

/** Prefix of every database rehearse creates: clones, cached templates and templates being built. */
export const PREFIX = 'dbops_';
const CLONE_PREFIX = `${PREFIX}rehearse_`;
const TEMPLATES_KEPT = 3;

export interface Snapshot {
  info: RehearseData['snapshot'];
  /** The server clones are made on (credentials and schema of the clones). */
  server: DbTarget;
  /** Maintenance connection to that server, never to the template. */
  admin: Client;
  /** Database the clones copy. */
  template: string;
}

export interface Clone {
  name: string;
  target: DbTarget;
  cloneMs: number;
}

const short = (hash: string) => hash.slice(0, 16);

/** The server for synthetic and file snapshots: --database-url, else the embedded cluster (never DATABASE_URL: rehearse creates databases). */
async function buildServer(input: Pick<RehearseRequest, 'databaseUrl'>, ctx: Runtime): Promise<DbTarget> {
  const { databaseServer } = await import('../../infra/pg/local.ts');
  return databaseServer(input.databaseUrl, '--database-url', 'for the snapshot and its clones', ctx);
}

export interface SnapshotOptions {
  base: ScopedMigration[];
  pendingNames: string[];
  executor: ExecutorPolicy;
  scale: number;
  seed: number;
}

/** --snapshot masked names the source alone: it cannot be combined with another one, nor with --all. */
export function checkSnapshotFlags(input: {
  snapshot?: 'masked' | undefined;
  snapshotUrl?: string | undefined;
  snapshotFile?: string | undefined;
  all?: boolean | undefined;
}): void {
  if (input.snapshot !== 'masked') return;
  const other = input.snapshotUrl !== undefined ? '--snapshot-url' : input.snapshotFile !== undefined ? '--snapshot-file' : input.all ? '--all' : undefined;
  if (other) {
    throw new UsageError(`--snapshot masked rehearses on the masked snapshot; it cannot be combined with ${other}.`, {
      hint: 'Pass one snapshot source: --snapshot masked, --snapshot-url, --snapshot-file, or --all.',
    });
  }
}

/** Resolves the snapshot source; builds (or reuses) the cached template for file and synthetic sources. */
export async function openSnapshot(input: RehearseRequest, ctx: Runtime, opts: SnapshotOptions): Promise<Snapshot> {
  if (input.masked) {
    checkSnapshotFlags({ ...input, snapshot: 'masked' });
    return maskedSnapshot(input.masked, ctx);
  }
  const snapshotUrl = input.snapshotUrl ?? ctx.env?.['STAGING_SNAPSHOT_URL'];
  if (input.snapshotFile && input.snapshotUrl) throw new UsageError('Pass either --snapshot-url or --snapshot-file, not both.');
  if (input.all && (input.snapshotFile || input.snapshotUrl)) {
    throw new UsageError('--all rehearses every migration on an empty database; it cannot be combined with --snapshot-url or --snapshot-file.', {
      hint: 'Use --last N or a base ref to rehearse the newest migrations on a snapshot.',
    });
  }
  // Before the server is started or swept of old templates.
  if (input.snapshotFile) await assertExistingFile(input.snapshotFile, '--snapshot-file');

  if (input.all) {
    const server = await buildServer(input, ctx);
    const admin = await connectMaintenance(server, ctx.log);
    return {
      info: { source: 'synthetic', label: 'empty database (--all: every migration from scratch)', scale: 0, cloneMs: 0, template: 'template0' },
      server,
      admin,
      template: 'template0',
    };
  }

  if (snapshotUrl && !input.snapshotFile) {
    const target = parseDatabaseUrl(snapshotUrl, undefined, input.snapshotUrl ? '--snapshot-url' : 'STAGING_SNAPSHOT_URL');
    const admin = await connectMaintenance(target, ctx.log, target.database);
    await sweepOrphans(admin, CLONE_PREFIX, ctx.log).catch(async (e: unknown) => {
      await admin.end().catch(() => undefined);
      throw e;
    });
    return { info: { source: 'url', label: target.display, cloneMs: 0, template: target.database }, server: target, admin, template: target.database };
  }

  const server = await buildServer(input, ctx);
  const admin = await connectMaintenance(server, ctx.log);
  try {
    await sweepOrphans(admin, PREFIX, ctx.log);
    if (input.snapshotFile) {
      const { template, reused, hash } = await fileTemplate(input.snapshotFile, server, admin, ctx);
      return {
        info: { source: 'file', label: `${basename(input.snapshotFile)} (sha256 ${hash.slice(0, 12)})`, cloneMs: 0, template, reused },
        server,
        admin,
        template,
      };
    }
    const { template, reused } = await syntheticTemplate(server, admin, ctx, opts);
    return {
      info: {
        source: 'synthetic',
        label: `synthetic AstroFinance dataset (scale ${opts.scale}, seed ${opts.seed})`,
        scale: opts.scale,
        cloneMs: 0,
        template,
        reused,
      },
      server,
      admin,
      template,
    };
  } catch (e) {
    await admin.end().catch(() => undefined);
    throw e;
  }
}

/**
 * The template `dbops snapshot mask` installed, with its attestation: a database that is missing, or that
 * carries none (not made by `snapshot mask`, so nothing proves its data is masked), is refused.
 */
async function maskedSnapshot(location: MaskedSnapshotLocation, ctx: Runtime): Promise<Snapshot> {
  const server = location.server ?? (await buildServer({ databaseUrl: undefined }, ctx));
  const admin = await connectMaintenance(server, ctx.log, location.database);
  try {
    await sweepOrphans(admin, CLONE_PREFIX, ctx.log);
    const where = `${location.where} (${server.host}:${server.port})`;
    const build = 'Run `dbops snapshot mask --latest` to restore the newest verified backup, mask it and install it as the template';
    if (!(await databaseExists(admin, location.database))) {
      throw new EnvError(`There is no masked snapshot: database ${location.database} does not exist on ${where}.`, {
        hint: `${build} (policies/masking.yaml snapshot.location and snapshot.database say where it goes), then rehearse again.`,
      });
    }
    const masked = await readMaskedSnapshot(admin, location.database);
    if (!masked) {
      throw new RefusedError(
        `Database ${location.database} on ${where} carries no masked-snapshot attestation: it was not installed by \`dbops snapshot mask\`, so nothing proves its data is masked.`,
        { hint: `${build}; it replaces ${location.database}. Or point snapshot.database of policies/masking.yaml at the masked template.` },
      );
    }
    if (masked.scan.remaining > 0) {
      throw new RefusedError(`The masked snapshot ${location.database} on ${where} records ${masked.scan.remaining} cells still holding an original value.`, {
        hint: `${build} again.`,
      });
    }
    ctx.progress(`Rehearsing on the masked snapshot ${describeMaskedSnapshot(masked)}, on ${where}`);
    return {
      info: { source: 'masked', label: `masked snapshot ${describeMaskedSnapshot(masked)}`, cloneMs: 0, template: location.database, masked },
      server,
      admin,
      template: location.database,
    };
  } catch (e) {
    await admin.end().catch(() => undefined);
    throw e;
  }
}

export async function cloneSnapshot(snap: Snapshot, keep: boolean): Promise<Clone> {
  const name = `${CLONE_PREFIX}${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const started = performance.now();
  await cloneDatabase(snap.admin, snap.template, name, ownership(keep));
  const cloneMs = Math.round(performance.now() - started);
  return { name, target: onDatabase(snap.server, name), cloneMs };
}

/** Cancels every statement running in the clone (Ctrl-C): the rehearsal then unwinds and drops it. */
export async function cancelClone(snap: Snapshot, clone: Clone): Promise<void> {
  await snap.admin.query('SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [clone.name]);
}

export async function dropClone(snap: Snapshot, clone: Clone): Promise<void> {
  await dropDatabase(snap.admin, clone.name);
}

// ---- bringing a database to the base state ---------------------------------------------------------

/**
 * Applies the base migrations the database does not have yet, with the executor (so the history is
 * written exactly as a deploy writes it). Refuses a snapshot that already holds a migration of the
 * change, or a failed one: the rehearsal would not start from the base state.
 */
export async function applyBase(target: DbTarget, base: ScopedMigration[], pendingNames: string[], policy: ExecutorPolicy, ctx: Runtime): Promise<string[]> {
  const s = await openSession(target, ctx.log, 'dbops rehearse (base)');
  try {
    const hasTable = await migrationsTableExists(s);
    if (!hasTable) await assertNoUnmanagedTables(s);
    const rows = hasTable ? await loadRows(s) : [];
    const failed = rows.filter(isFailed);
    if (failed.length > 0) {
      throw new RefusedError(`The snapshot records failed migrations (${failed.map((r) => r.migrationName).join(', ')}): it is not a consistent base state.`, {
        hint: 'Take the snapshot from a database whose migrations all succeeded.',
      });
    }
    const done = new Set(rows.filter((r) => r.finishedAt !== null && r.rolledBackAt === null).map((r) => r.migrationName));
    const already = pendingNames.filter((n) => done.has(n));
    if (already.length > 0) {
      throw new RefusedError(`The snapshot already contains ${already.join(', ')}, which the change adds: it cannot be rehearsed from there.`, {
        hint: 'Use a snapshot of the base state (staging before this change was deployed), or a synthetic snapshot (no --snapshot-url).',
      });
    }
    const todo = base.filter((m) => !done.has(m.name));
    if (todo.length === 0) return [];
    if (!hasTable) {
      await ensureSchema(s);
      await createMigrationsTable(s);
    }
    ctx.progress(`Applying ${todo.length} base ${noun(todo.length, 'migration')} to reach the base state`);
    const executor = new Executor(s, policy, { retry: () => undefined }, ctx.signal);
    try {
      for (const m of todo) {
        if (ctx.signal.aborted) throw new EnvError('Interrupted while applying the base migrations.');
        const outcome = await executor.apply(m.name, m.script, await planExecution(m.script, m.file));
        if (!outcome.ok) {
          if (ctx.signal.aborted) throw new EnvError('Interrupted while applying the base migrations.');
          throw new RefusedError(`Base migration \`${m.name}\` failed on the snapshot: ${executorError(outcome.message)}`, {
            hint: "The snapshot does not match the base ref's history; use a snapshot of the base state.",
          });
        }
      }
    } finally {
      await executor.close();
    }
    return todo.map((m) => m.name);
  } finally {
    await s.close();
  }
}

// ---- cached templates ------------------------------------------------------------------------------

/**
 * Builds a template under a temporary name and renames it when complete, so a template that exists is
 * always whole; a build interrupted by kill -9 is swept later (sweepOrphans), one that fails is dropped.
 */
async function buildTemplate(admin: Client, name: string, ctx: Runtime, fill: (db: string) => Promise<void>): Promise<boolean> {
  const building = `${name}_build_${randomBytes(3).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${quoteIdent(building)} TEMPLATE template0`);
  await markOwner(admin, building, ownership(false));
  try {
    await fill(building);
    try {
      await admin.query(`ALTER DATABASE ${quoteIdent(building)} RENAME TO ${quoteIdent(name)}`);
    } catch (e) {
      // Another rehearsal built the same template meanwhile: use theirs.
      if ((e as { code?: string }).code === '42P04') {
        await dropDatabase(admin, building);
        return true;
      }
      throw e;
    }
    await markOwner(admin, name, ownership(true));
    return false;
  } catch (e) {
    await dropDatabase(admin, building).catch((err: unknown) =>
      ctx.log.warn({ database: building, err: (err as Error).message }, 'could not drop the unfinished template'),
    );
    throw e;
  }
}

/** Keeps the newest few templates of one kind: every base change or new dump makes a new one. */
async function pruneTemplates(admin: Client, prefix: string, current: string, ctx: Runtime): Promise<void> {
  const { rows } = await admin.query<{ datname: string }>(
    `SELECT datname FROM pg_database WHERE datname LIKE $1 || '%' AND datname NOT LIKE '%\\_build\\_%' AND datname <> $2 ORDER BY oid DESC OFFSET $3`,
    [prefix, current, TEMPLATES_KEPT - 1],
  );
  for (const r of rows) {
    ctx.log.info({ database: r.datname }, 'dropping an old rehearsal template');
    await dropDatabase(admin, r.datname).catch((e: unknown) =>
      ctx.log.warn({ database: r.datname, err: (e as Error).message }, 'could not drop an old template'),
    );
  }
}

async function sha256File(path: string): Promise<string> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) throw new UsageError(`--snapshot-file ${path} does not exist or is not a file.`);
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function fileTemplate(file: string, server: DbTarget, admin: Client, ctx: Runtime): Promise<{ template: string; reused: boolean; hash: string }> {
  const hash = await sha256File(file);
  const prefix = `${PREFIX}tpl_file_`;
  const template = `${prefix}${short(hash)}`;
  if (await databaseExists(admin, template)) return { template, reused: true, hash };
  const major = await serverMajor(admin);
  const pgRestore = await clientTool(await findPgBinaries(), 'pg_restore', major);
  ctx.progress(`Restoring ${basename(file)} into a template on ${server.host}:${server.port} (once per file content)`);
  const started = performance.now();
  const reused = await buildTemplate(admin, template, ctx, async (db) => {
    const password = typeof server.config.password === 'string' ? server.config.password : undefined;
    // Owners and grants name roles the rehearsal server may not have; they are not what a rehearsal measures.
    const out = await ctx.sh({
      nothrow: true,
      env: { ...ctx.env, ...(password ? { PGPASSWORD: password } : {}), PGCONNECT_TIMEOUT: '10' },
    })`${pgRestore} --no-owner --no-acl --exit-on-error --jobs=2 --host=${server.host} --port=${String(server.port)} --username=${server.user} --dbname=${db} ${file}`;
    if (out.exitCode !== 0) {
      const message = out.stderr.trim().split('\n').slice(-5).join('\n');
      if (/not a valid archive|input file does not appear to be a valid archive|unsupported version/i.test(message)) {
        throw new ConfigError(`--snapshot-file ${file} is not a pg_dump custom-format archive: ${message}`, { hint: 'Create it with `pg_dump -Fc`.' });
      }
      throw new EnvError(`pg_restore of ${file} failed (exit ${out.exitCode}): ${message}`);
    }
    // pg_restore brings no planner statistics; the workload's plans need them.
    await withClient(onDatabase(server, db), { log: ctx.log, applicationName: 'dbops rehearse (analyze)' }, (c) => c.query('ANALYZE'));
  });
  ctx.progress(`  restored in ${formatMs(performance.now() - started)}`);
  await pruneTemplates(admin, prefix, template, ctx);
  return { template, reused, hash };
}

/** A digest of the generator's own source: a changed generator makes other data, so a new template. */
async function generatorDigest(): Promise<string> {
  const dir = packagePath('pipeline', 'seed');
  const hash = createHash('sha256');
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.ts')).sort()) hash.update(file).update(await readFile(join(dir, file)));
  return hash.digest('hex');
}

async function syntheticTemplate(server: DbTarget, admin: Client, ctx: Runtime, opts: SnapshotOptions): Promise<{ template: string; reused: boolean }> {
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        schema: server.schema,
        base: opts.base.map((m) => [m.name, checksum(m.script)]),
        scale: opts.scale,
        seed: opts.seed,
        generator: await generatorDigest(),
      }),
    )
    .digest('hex');
  const prefix = `${PREFIX}tpl_synth_`;
  const template = `${prefix}${short(key)}`;
  if (await databaseExists(admin, template)) return { template, reused: true };
  ctx.progress(
    `Building the synthetic snapshot (${opts.base.length} base migrations, scale ${opts.scale}, seed ${opts.seed}); later rehearsals of the same base only clone it`,
  );
  const started = performance.now();
  const reused = await buildTemplate(admin, template, ctx, async (db) => {
    const target = onDatabase(server, db);
    await applyBase(target, opts.base, opts.pendingNames, opts.executor, ctx);
    const { seedDatabase } = await import('../../seed/index.ts');
    // The seed's own progress lines would drown the rehearsal's: they go to the log.
    const quiet: Runtime = { ...ctx, progress: (line) => ctx.log.info(line) };
    try {
      await seedDatabase(target, { scale: opts.scale, seed: opts.seed }, quiet);
    } catch (e) {
      if (e instanceof RefusedError) {
        throw new RefusedError(`The synthetic AstroFinance dataset cannot be built on the base state (${opts.base.length} migrations): ${e.message}`, {
          hint: 'The generator needs the AstroFinance schema of the newest migrations. Rehearse fewer migrations (--last N with a smaller N), or rehearse on a real snapshot (--snapshot-url, --snapshot-file).',
          cause: e,
        });
      }
      throw e;
    }
  });
  ctx.progress(`  built in ${formatMs(performance.now() - started)}`);
  await pruneTemplates(admin, prefix, template, ctx);
  return { template, reused };
}

export { CLONE_PREFIX };
