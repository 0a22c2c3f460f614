import { findBackup, openTargets, recordVerification } from './catalog.ts';
import type { BackupManifest, VerificationRecord } from './manifest.ts';
import type { BackupVerifyData } from './report.ts';
import {
  amcheck,
  archiveMajor,
  archiveRoles,
  type Check,
  createRoles,
  createWorkspace,
  databaseManifest,
  failureSummary,
  interruptedError,
  manifestCheck,
  messageOf,
  readForCommand,
  restoreArchive,
  sweepWorkspaces,
} from './restore.ts';
import { disposeScratch, scratchDatabaseName, startThrowawayCluster, urlServer, withScratchDatabase, type ScratchServer } from './scratch.ts';
import { EnvError } from '../../core/errors.ts';
import { loadIdentities } from '../../infra/crypto/age.ts';
import { clientTool, findPgBinaries, pgTool } from '../../infra/pg/binaries.ts';
import type { BackupsPolicy } from '../../policy/backups.ts';
import { formatBytes } from '../../core/format.ts';
import { type Finding, type StepResult } from '../../core/result.ts';
import type { Runtime } from '../../core/runtime.ts';
import { dbopsBuild } from '../../infra/git/base.ts';

/**
 * Verifies a backup (`dbops backup verify`, and the gate's --take-backup): reads the stored backup back in one streamed pass (ciphertext SHA-256, age
 * decryption that authenticates every chunk, a full pg_restore read) and, with --restore, restores it into a
 * scratch database, compares the table manifest exactly and runs pg_amcheck. The result is recorded beside
 * the backup on the target that was verified, passed or failed: list, prune and the gate read it from there.
 *
 * A damaged backup is a verdict (exit 1, recorded); a broken environment (no identity, a wrong identity,
 * an unreachable scratch server, Ctrl-C) is an error (exit 2/3) and records nothing, so it never makes a good
 * backup look bad.
 */
export interface VerifyBackupRequest {
  /** The backup: its id, or the newest or oldest (of a tier). */
  args: string[];
  latest: boolean;
  oldest: boolean;
  tier?: BackupManifest['tier'] | undefined;
  /** Also restore it into a scratch database, compare the manifest and run pg_amcheck (a restore test). */
  restore: boolean;
  scratchUrl?: string | undefined;
  jobs?: number | undefined;
  identityFile?: string | undefined;
  /** Storage target name (default: the primary). */
  target?: string | undefined;
  policy: BackupsPolicy;
}

export async function verifyBackup(input: VerifyBackupRequest, ctx: Runtime): Promise<StepResult<BackupVerifyData>> {
  const env = ctx.env;
  // Each of these starts a process or two (pg_config, postgres --version, git); on a busy 2-core runner that is
  // a few hundred milliseconds, so they run while the policy is read and the backup is looked up and read.
  const binaries = findPgBinaries(env);
  binaries.catch(() => undefined);
  const build = dbopsBuild(ctx.sh);
  build.catch(() => undefined);
  const { policy } = input;
  const storage = openTargets(policy, env).get(input.target);
  const [id] = input.args;
  const entry = await findBackup(
    storage,
    { ...(id ? { id } : {}), latest: input.latest, oldest: input.oldest, ...(input.tier ? { tier: input.tier } : {}) },
    ctx.log,
  );
  const manifest = entry.manifest;
  const identities = await loadIdentities({
    ...(input.identityFile ? { identityFile: input.identityFile } : {}),
    env,
    envName: policy.encryption.identity_env,
  });
  const bins = await binaries;
  const pgRestore = await pgTool(bins, 'pg_restore');
  // pg_restore must be at least as new as the pg_dump that wrote the archive; checked while the read runs.
  const versionCheck = clientTool(bins, 'pg_restore', archiveMajor(manifest), 'archive');
  versionCheck.catch(() => undefined);
  const jobs = input.jobs ?? policy.verify.restore_jobs;
  const level: VerificationRecord['level'] = input.restore ? 'restore' : 'read';

  ctx.progress(
    `Verifying ${manifest.id} (${manifest.tier}, database ${manifest.database.name}, ${formatBytes(manifest.object.ciphertextBytes)}) on target ${storage.name} (${storage.location})${input.restore ? ', with a restore test' : ''}`,
  );
  await sweepWorkspaces(ctx.log);
  const started = performance.now();
  // A read-only verification writes nothing locally; only a restore test needs a folder (archive, cluster).
  const workspace = input.restore ? await createWorkspace('verify', !input.scratchUrl) : undefined;
  let scratch: Promise<ScratchServer> | undefined;
  const checks: Check[] = [];
  let restoreMs: number | undefined;
  let readyMs: number | undefined;
  try {
    // initdb and start run while the backup downloads; the cluster is discarded if the read checks fail.
    if (input.restore) {
      scratch = input.scratchUrl ? urlServer(input.scratchUrl, ctx.log) : startThrowawayCluster(workspace!.dir, ctx.log);
      scratch.catch(() => undefined);
    }
    const read = await readForCommand(ctx, policy.encryption.identity_env, policy.progress_interval, {
      storage,
      manifest,
      identities,
      pgRestore,
      env,
      plaintext: workspace?.plaintext(manifest.id),
      readArchive: !input.restore,
    });
    await versionCheck;
    checks.push(...read.checks);
    if (input.restore) {
      if (!read.ok || !read.file) {
        const why = `not run: the backup did not read back intact (${read.checks
          .filter((c) => !c.ok)
          .map((c) => c.name)
          .join(', ')})`;
        const skipped: Check['name'][] = ['archive', 'restore', 'manifest', ...(policy.verify.amcheck === 'off' ? [] : (['amcheck'] as const))];
        for (const name of skipped) checks.push({ name, ok: false, durationMs: 0, message: why });
      } else {
        const server = await scratch!;
        const result = await restoreTest(server, read.file, manifest, { pgRestore, jobs, amcheckMode: policy.verify.amcheck, bins, env, ctx });
        checks.push(...result.checks);
        restoreMs = result.restoreMs;
        readyMs = result.restoredAt - started;
      }
    }
  } finally {
    await disposeScratch(scratch, ctx.log);
    await workspace?.dispose();
  }
  if (ctx.signal.aborted) throw interruptedError(`verification of ${manifest.id} was stopped`);

  const ok = checks.every((c) => c.ok);
  const record: VerificationRecord = {
    formatVersion: 1,
    backupId: manifest.id,
    target: storage.name,
    at: new Date().toISOString(),
    level,
    ok,
    checks,
    durationMs: Math.round(performance.now() - started),
    ...(restoreMs !== undefined ? { restoreMs: Math.round(restoreMs) } : {}),
    ...(readyMs !== undefined ? { readyMs: Math.round(readyMs) } : {}),
    dbops: await build,
  };
  try {
    await recordVerification(storage, record);
  } catch (e) {
    throw new EnvError(
      `The verification of ${manifest.id} ${ok ? 'passed' : 'FAILED'} (${ok ? checks.map((c) => c.name).join(', ') : failureSummary(checks)}), but could not be recorded on target "${storage.name}": ${messageOf(e)}`,
      {
        hint: 'Make the target writable and run the verification again; until it is recorded the backup counts as unverified.',
        cause: e,
      },
    );
  }
  const findings: Finding[] = checks
    .filter((c) => !c.ok)
    .map((c) => ({ rule: `backup/${c.name}`, severity: 'error', message: `${manifest.id}: ${c.name}: ${c.message ?? 'failed'}` }));
  const data: BackupVerifyData = {
    target: { name: storage.name, location: storage.location },
    backupId: manifest.id,
    tier: manifest.tier,
    database: manifest.database.name,
    ciphertextBytes: manifest.object.ciphertextBytes,
    record,
  };
  return {
    verdict: ok ? 'pass' : 'fail',
    findings,
    data,
    ...(ok
      ? {}
      : {
          error: {
            message: `Backup ${manifest.id} failed verification: ${failureSummary(checks)}`,
            hint: `Do not rely on this copy. Verify the other copies (dbops backup verify ${manifest.id} --target <name>) and take a new backup (dbops backup create).`,
          },
        }),
  };
}

interface RestoreTestOptions {
  pgRestore: string;
  jobs: number;
  amcheckMode: 'heapallindexed' | 'basic' | 'off';
  bins: Awaited<ReturnType<typeof findPgBinaries>>;
  env: NodeJS.ProcessEnv;
  ctx: Runtime;
}

/** Restore into a scratch database, compare the manifest, amcheck; each a timed check. The database is dropped afterwards. */
async function restoreTest(
  server: ScratchServer,
  file: string,
  manifest: BackupManifest,
  o: RestoreTestOptions,
): Promise<{ checks: Check[]; restoreMs: number; restoredAt: number }> {
  const { ctx } = o;
  const name = scratchDatabaseName(manifest.id);
  const app = 'dbops backup verify';
  ctx.progress(`Restoring into ${name} on ${server.description} (pg_restore -j ${o.jobs})`);
  // The archive was read with a pg_restore as new as its pg_dump; the server it restores into may be newer still.
  await clientTool(o.bins, 'pg_restore', server.major);
  const roles = await archiveRoles(o.pgRestore, file, { env: o.env, signal: ctx.signal, log: ctx.log });
  return withScratchDatabase(server, name, ctx.log, async (db, admin) => {
    const checks: Check[] = [];
    const created = await createRoles(admin, roles, server.description);
    if (created.length > 0) ctx.progress(`  created the roles the archive names as NOLOGIN: ${created.join(', ')}`);
    const restored = await restoreArchive({
      pgRestore: o.pgRestore,
      file,
      target: db,
      jobs: o.jobs,
      clean: false,
      env: o.env,
      signal: ctx.signal,
      log: ctx.log,
      applicationName: app,
    });
    const restoredAt = performance.now();
    // The restore read every entry of the archive: that is the archive check of a restore test.
    checks.push({
      name: 'archive',
      ok: restored.ok,
      durationMs: 0,
      message: restored.ok ? 'pg_restore read and restored every entry' : 'not completed: the restore failed (see restore)',
    });
    checks.push({
      name: 'restore',
      ok: restored.ok,
      durationMs: Math.round(restored.durationMs),
      message: restored.ok ? `${restored.message} on ${server.description}` : restored.message,
    });
    const skipped = (n: 'manifest' | 'amcheck') => ({ name: n, ok: false, durationMs: 0, message: 'not run: the restore failed' });
    if (!restored.ok) {
      checks.push(skipped('manifest'));
      if (o.amcheckMode !== 'off') checks.push(skipped('amcheck'));
      return { checks, restoreMs: restored.durationMs, restoredAt };
    }
    const manifestStarted = performance.now();
    const actual = await databaseManifest(db, manifest.tableHash, {
      bins: o.bins,
      serverMajor: server.major,
      env: o.env,
      signal: ctx.signal,
      log: ctx.log,
      applicationName: app,
    });
    checks.push(manifestCheck(manifest.tables, actual, Math.round(performance.now() - manifestStarted)).check);
    if (ctx.signal.aborted) throw interruptedError(`verification of ${manifest.id} was stopped`);
    if (o.amcheckMode !== 'off') {
      const pgAmcheck = await clientTool(o.bins, 'pg_amcheck', server.major);
      const checked = await amcheck({
        pgAmcheck,
        target: db,
        heapallindexed: o.amcheckMode === 'heapallindexed',
        jobs: o.jobs,
        env: o.env,
        signal: ctx.signal,
        log: ctx.log,
        applicationName: app,
      });
      checks.push({ name: 'amcheck', ok: checked.ok, durationMs: Math.round(checked.durationMs), message: checked.message });
    }
    return { checks, restoreMs: restored.durationMs, restoredAt };
  });
}
