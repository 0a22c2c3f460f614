import {
  archiveMajor,
  archiveRoles,
  createRoles,
  createWorkspace,
  databaseManifest,
  describeDifference,
  failureSummary,
  interruptedError,
  manifestCheck,
  messageOf,
  missingRoles,
  readForCommand,
  restoreArchive,
  sweepWorkspaces,
} from './restore.ts';
import { EnvError, RefusedError } from '../../core/errors.ts';
import { loadIdentities } from '../../infra/crypto/age.ts';
import { connect, isPgError, serverMajor, withClient, type Client } from '../../infra/db/client.ts';
import { dropDatabase, onDatabase } from '../../infra/db/clone.ts';
import { quoteIdent, type DbTarget } from '../../infra/db/url.ts';
import { clientTool, findPgBinaries } from '../../infra/pg/binaries.ts';
import type { BackupsPolicy } from '../../policy/backups.ts';
import { formatBytes, formatMs, plural } from '../../core/format.ts';
import type { Finding, StepResult } from '../../core/result.ts';
import type { Runtime } from '../../core/runtime.ts';
import { phaseTimer } from '../../core/time.ts';
import { dbopsBuild } from '../../infra/git/base.ts';
import { findBackup, recordVerification } from './catalog.ts';
import { openTargets } from '../../infra/storage/open.ts';
import { USER_RELATION } from './tables.ts';
import { BackupManifest, VerificationRecord } from './manifest.ts';
import { BackupRestoreData } from './report.ts';

const APP = 'dbops backup restore';

/** Tables a restore would collide with: ordinary and partitioned tables outside the system schemas and extensions. */
async function userTables(client: Client): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(`
    SELECT n.nspname || '.' || c.relname AS name
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND ${USER_RELATION}
     ORDER BY 1`);
  return rows.map((r) => r.name);
}

interface TargetState {
  exists: boolean;
  tables: string[];
  major: number;
}

/** A connection to the target's server that does not need the target database: `postgres`, else `template1`. */
async function connectServer(target: DbTarget, ctx: Runtime): Promise<Client> {
  const candidates = ['postgres', 'template1'].filter((d) => d !== target.database);
  for (const [i, database] of candidates.entries()) {
    try {
      return await connect(onDatabase(target, database), { log: ctx.log, applicationName: APP });
    } catch (e) {
      if (!(e instanceof EnvError) || e.code !== 'P1003' || i === candidates.length - 1) throw e;
    }
  }
  throw new EnvError(`No maintenance database to connect to on ${target.host}:${target.port}.`);
}

/** Looks at the target through a maintenance database, so a missing target database is an answer, not an error. */
async function inspectTarget(target: DbTarget, ctx: Runtime): Promise<TargetState> {
  const admin = await connectServer(target, ctx);
  let major: number;
  try {
    major = await serverMajor(admin);
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [target.database]);
    if (!rowCount) return { exists: false, tables: [], major };
  } finally {
    await admin.end().catch(() => undefined);
  }
  return { exists: true, tables: await withClient(target, { log: ctx.log, applicationName: APP }, userTables), major };
}

/**
 * `dbops backup restore`: restores a backup into a database (created when missing), after printing what it
 * will do. A database that already has tables is refused unless --force, which has pg_restore drop and
 * recreate the backup's objects (--clean --if-exists). The backup is decrypted to a private temporary file
 * that gets its final name only once every chunk is authenticated, so pg_restore never reads a damaged
 * archive; the restored tables are compared with the manifest and analysed.
 */
/** Which backup to restore, into which database, and how. */
export interface RestoreRequest {
  args: string[];
  latest: boolean;
  tier?: BackupManifest['tier'] | undefined;
  /** Storage target name (default: the primary). */
  target?: string | undefined;
  identityFile?: string | undefined;
  /** The database to restore into (created when missing). */
  into: DbTarget;
  /** Restore into a database that already has tables (pg_restore --clean --if-exists). */
  force: boolean;
  jobs?: number | undefined;
  policy: BackupsPolicy;
}

/** Restores a backup into a database: plan, decrypt to a temporary file, pg_restore, manifest compare, ANALYZE. */
export async function restoreBackup(input: RestoreRequest, ctx: Runtime): Promise<StepResult<BackupRestoreData>> {
  const env = ctx.env;
  const target = input.into;
  const binaries = findPgBinaries(env);
  binaries.catch(() => undefined);
  const { policy } = input;
  const storage = openTargets(policy, env).get(input.target);
  const [id] = input.args;
  const entry = await findBackup(storage, { ...(id ? { id } : {}), latest: input.latest, ...(input.tier ? { tier: input.tier } : {}) }, ctx.log);
  const manifest = entry.manifest;
  const identities = await loadIdentities({
    ...(input.identityFile ? { identityFile: input.identityFile } : {}),
    env,
    envName: policy.encryption.identity_env,
  });
  const jobs = input.jobs ?? policy.verify.restore_jobs;

  // Nothing is downloaded or changed before the target is known to be acceptable.
  const state = await inspectTarget(target, ctx);
  const bins = await binaries;
  const pgRestore = await clientTool(bins, 'pg_restore', Math.max(archiveMajor(manifest), state.major));
  if (state.tables.length > 0 && !input.force) {
    throw new RefusedError(
      `Database ${target.database} on ${target.host}:${target.port} already has ${plural(state.tables.length, 'table')} (${state.tables.slice(0, 5).join(', ')}${state.tables.length > 5 ? ', …' : ''}); nothing was changed.`,
      {
        hint: `Restore into a new or empty database (it is created when it does not exist), or pass --force to drop and recreate the backup's objects in it (pg_restore --clean --if-exists; tables that are not in the backup stay).`,
      },
    );
  }
  printPlan(ctx, manifest, storage, target, state, input.force, jobs);

  await sweepWorkspaces(ctx.log);
  const workspace = await createWorkspace('restore', false);
  const { phases, timed } = phaseTimer();
  let createdDatabase = false;
  let keepCreated = false;
  let restoreStarted = false;
  let rolesCreated: string[] = [];
  try {
    ctx.progress(`Downloading and decrypting ${manifest.id} (${formatBytes(manifest.object.ciphertextBytes)})`);
    const read = await timed('download and decrypt', () =>
      readForCommand(ctx, policy.encryption.identity_env, policy.progress_interval, {
        storage,
        manifest,
        identities,
        pgRestore,
        env,
        plaintext: workspace.plaintext(manifest.id),
      }),
    );
    if (!read.ok || !read.file) {
      await recordDamage(storage, manifest, read.checks, read.durationMs, ctx);
      throw new RefusedError(`Backup ${manifest.id} is damaged, nothing was changed on ${target.host}:${target.port}: ${failureSummary(read.checks)}`, {
        hint: `Restore another copy of it (--target <name>) or another backup (dbops backup list); the failure was recorded on target "${storage.name}".`,
      });
    }
    const file = read.file;
    const roles = await archiveRoles(pgRestore, file, { env, signal: ctx.signal, log: ctx.log });

    const serverAdmin = await connectServer(target, ctx);
    try {
      const missing = await missingRoles(serverAdmin, roles);
      const present = roles.filter((r) => !missing.includes(r));
      ctx.progress(
        [
          `  roles     the archive names ${roles.length === 0 ? 'none' : roles.join(', ')}`,
          ...(present.length > 0 ? [`            on the server already: ${present.join(', ')}`] : []),
          ...(missing.length > 0 ? [`            missing, created now as NOLOGIN (no password, cannot log in): ${missing.join(', ')}`] : []),
        ].join('\n'),
      );
      if (!state.exists) {
        try {
          await serverAdmin.query(`CREATE DATABASE ${quoteIdent(target.database)} TEMPLATE template0`);
          createdDatabase = true;
        } catch (e) {
          if (isPgError(e) && e.code === '42501') {
            throw new EnvError(`${target.user} may not create databases on ${target.host}:${target.port}: ${e.message}`, {
              hint: 'Create the database first (it may stay empty), or connect as a role with CREATEDB.',
              cause: e,
            });
          }
          throw e;
        }
      }
      rolesCreated = await createRoles(serverAdmin, roles, `${target.host}:${target.port}`);
    } finally {
      await serverAdmin.end().catch(() => undefined);
    }

    ctx.progress(`Restoring into ${target.display} (pg_restore -j ${jobs}${input.force ? ' --clean --if-exists' : ''} --exit-on-error)`);
    restoreStarted = true;
    const restored = await timed('restore', () =>
      restoreArchive({ pgRestore, file, target, jobs, clean: input.force, env, signal: ctx.signal, log: ctx.log, applicationName: APP }),
    );
    await workspace.dispose();
    if (!restored.ok) {
      if (createdDatabase) await dropCreated(target, ctx);
      return failed(`pg_restore failed after ${formatMs(restored.durationMs)}: ${restored.message}`, {
        hint: createdDatabase
          ? `The database dbops created was dropped again, so nothing is left behind. Fix the cause above (a missing extension or a role privilege, typically) and run the restore again.`
          : `Database ${target.database} now holds part of the backup. Fix the cause above, then restore again with --force (or drop and recreate the database).`,
      });
    }
    ctx.progress(`  restored in ${formatMs(restored.durationMs)}`);
    // From here on the database is the restore's result: a later failure or Ctrl-C leaves it for inspection.
    keepCreated = true;
    const comparison = await timed('manifest', async () =>
      manifestCheck(
        manifest.tables,
        await databaseManifest(target, manifest.tableHash, { bins, serverMajor: state.major, env, signal: ctx.signal, log: ctx.log, applicationName: APP }),
        0,
        { ignoreUnexpected: true },
      ),
    );
    await timed('analyze', () => withClient(target, { log: ctx.log, applicationName: APP }, (c) => c.query('ANALYZE')));
    if (ctx.signal.aborted)
      throw interruptedError(
        `restore of ${manifest.id} was stopped after pg_restore completed; ${target.database} holds the restored backup, but it was not compared with the manifest nor analysed`,
      );

    const findings: Finding[] = [
      ...comparison.differences.map((d) => ({ rule: 'backup/manifest', severity: 'error' as const, message: describeDifference(d) })),
      ...comparison.unexpected.map((d) => ({
        rule: 'backup/extra-table',
        severity: 'notice' as const,
        message: `${describeDifference(d)}: it was in the database before the restore and was left as it is`,
      })),
    ];
    const matched = comparison.differences.length === 0;
    ctx.progress(`  manifest: ${comparison.check.message}`);
    const data: BackupRestoreData = {
      source: { name: storage.name, location: storage.location },
      backupId: manifest.id,
      tier: manifest.tier,
      targetUrl: target.display,
      createdDatabase,
      forced: input.force,
      rolesCreated,
      phases,
      manifestMatched: matched,
      tables: manifest.tables.length,
    };
    return {
      verdict: matched ? 'pass' : 'fail',
      findings,
      data,
      ...(matched
        ? {}
        : {
            error: {
              message: `The restored database does not match the manifest of ${manifest.id}: ${comparison.check.message}`,
              hint: 'Do not put this copy into service. Verify the backup (dbops backup verify --restore) and restore another one.',
            },
          }),
    };

    function failed(message: string, extra: { hint: string }): StepResult<BackupRestoreData> {
      return {
        verdict: 'fail',
        findings: [{ rule: 'backup/restore', severity: 'error', message }],
        data: {
          source: { name: storage.name, location: storage.location },
          backupId: manifest.id,
          tier: manifest.tier,
          targetUrl: target.display,
          createdDatabase: false,
          forced: input.force,
          rolesCreated,
          phases,
          manifestMatched: false,
          tables: manifest.tables.length,
        },
        error: { message, hint: extra.hint },
      };
    }
  } catch (e) {
    if (createdDatabase && !keepCreated) await dropCreated(target, ctx);
    if (ctx.signal.aborted && restoreStarted && !createdDatabase && !keepCreated) {
      throw new EnvError(`Interrupted: pg_restore into ${target.database} was stopped; the database now holds part of the backup.`, {
        hint: 'Restore again with --force (it drops and recreates the objects of the backup), or drop and recreate the database first.',
        cause: e,
      });
    }
    throw e;
  } finally {
    await workspace.dispose();
  }
}

async function dropCreated(target: DbTarget, ctx: Runtime): Promise<void> {
  try {
    const admin = await connectServer(target, ctx);
    await dropDatabase(admin, target.database).finally(() => admin.end().catch(() => undefined));
  } catch (e) {
    ctx.log.warn({ database: target.database, err: messageOf(e) }, 'could not drop the database created for the restore');
  }
}

/** A damaged backup must stop counting as verified wherever it is listed; recording is best effort (a read-only copy in a disaster). */
async function recordDamage(
  storage: ReturnType<ReturnType<typeof openTargets>['get']>,
  manifest: BackupManifest,
  checks: VerificationRecord['checks'],
  durationMs: number,
  ctx: Runtime,
): Promise<void> {
  try {
    await recordVerification(storage, {
      formatVersion: 1,
      backupId: manifest.id,
      target: storage.name,
      at: new Date().toISOString(),
      level: 'read',
      ok: false,
      checks,
      durationMs: Math.round(durationMs),
      dbops: await dbopsBuild(ctx.sh),
    });
  } catch (e) {
    ctx.log.warn({ target: storage.name, err: messageOf(e) }, 'could not record the failed read of the backup');
  }
}

function printPlan(
  ctx: Runtime,
  m: BackupManifest,
  storage: { name: string; location: string },
  target: DbTarget,
  state: TargetState,
  force: boolean,
  jobs: number,
): void {
  const database = !state.exists
    ? `${target.database} does not exist: it will be created (TEMPLATE template0)`
    : state.tables.length === 0
      ? `${target.database} exists and has no tables`
      : `${target.database} has ${plural(state.tables.length, 'table')}: --force drops and recreates the backup's objects (pg_restore --clean --if-exists); tables that are not in the backup stay`;
  const rows = m.tables.reduce((sum, t) => sum + BigInt(t.rows), 0n);
  ctx.progress(
    [
      `Restore plan`,
      `  backup    ${m.id} (${m.tier}, taken ${m.startedAt}, database ${m.database.name} on PostgreSQL ${m.database.serverVersion})`,
      `  size      ${formatBytes(m.object.ciphertextBytes)} encrypted, ${formatBytes(m.dump.plaintextBytes)} archive, ${plural(m.tables.length, 'table')}, ${rows.toLocaleString('en-US')} rows`,
      `  from      target ${storage.name} (${storage.location})`,
      `  into      ${target.display}`,
      `  database  ${database}`,
      `  roles     those the archive names and the server lacks are created NOLOGIN (listed after decryption)`,
      `  then      pg_restore -j ${jobs} --exit-on-error${force ? ' --clean --if-exists' : ''}, compare every table with the manifest, ANALYZE`,
    ].join('\n'),
  );
}
