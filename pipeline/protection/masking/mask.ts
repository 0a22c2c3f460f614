import { createHmac, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ConfigError, EnvError, RefusedError, UsageError } from '../../core/errors.ts';
import { formatMs, plural } from '../../core/format.ts';
import { registerSecret } from '../../core/redact.ts';
import type { Finding, StepResult } from '../../core/result.ts';
import type { Runtime } from '../../core/runtime.ts';
import { phaseTimer } from '../../core/time.ts';
import { isPgError, serverMajor, withClient, type Client } from '../../infra/db/client.ts';
import { connectMaintenance, databaseExists, dropDatabase, markOwner, onDatabase, ownership, sweepOrphans } from '../../infra/db/clone.ts';
import { foreignKeys, orphanCounts } from '../../infra/db/constraints.ts';
import { pgEnv } from '../../infra/db/libpq.ts';
import { parseDatabaseUrl, quoteIdent, type DbTarget } from '../../infra/db/url.ts';
import { clientTool, findPgBinaries } from '../../infra/pg/binaries.ts';
import { openTargets } from '../../infra/storage/open.ts';
import {
  createWorkspace,
  disposeScratch,
  listBackups,
  restoreBackup,
  scratchDatabaseName,
  startThrowawayCluster,
  sweepWorkspaces,
  urlServer,
  withScratchDatabase,
  type BackupEntry,
  type ScratchServer,
} from '../backup/index.ts';
import { maskingPolicyDigest, readMaskedSnapshot, writeMaskedSnapshot, type MaskedSnapshot } from './attest.ts';
import type { MaskRequest, SnapshotMaskData } from './model.ts';
import { columnFacts, planMasking, type MaskPlan } from './plan.ts';
import { SESSION_FUNCTIONS } from './rules.ts';
import { collectOriginals, scanForOriginals, type Leak } from './scan.ts';

const APP = 'dbops snapshot mask';
/** A seed shorter than this makes the keyed hashes of known e-mail addresses guessable. */
const MIN_SEED_LENGTH = 16;

/** The key the database sees: derived from the seed, so the seed itself never leaves this process. */
function maskingKey(input: MaskRequest, env: NodeJS.ProcessEnv): string {
  const name = input.policy.seed_env;
  const seed = env[name];
  if (!seed) {
    throw new EnvError(`The masking seed is not set: the variable ${name} (seed_env of policies/masking.yaml) is empty.`, {
      hint: `Set ${name} to a secret of at least ${MIN_SEED_LENGTH} characters (in GitHub Actions: a secret passed to the step's env). Keep it: the same seed gives the same masked values.`,
    });
  }
  registerSecret(seed);
  if (seed.length < MIN_SEED_LENGTH) {
    throw new ConfigError(`The masking seed in ${name} has ${seed.length} characters; at least ${MIN_SEED_LENGTH} are needed.`, {
      hint: 'A short seed lets anyone who guesses it recompute the hashes of known e-mail addresses. Generate one with `openssl rand -base64 32`.',
    });
  }
  const key = createHmac('sha256', seed).update('dbops masking v1').digest('hex');
  registerSecret(key);
  return key;
}

/** The backup to mask: the one named (it must be verified), or the newest verified one. */
async function chooseBackup(input: MaskRequest, ctx: Runtime): Promise<{ entry: BackupEntry; target: string }> {
  const storage = openTargets(input.backups, ctx.env, ctx.log).get(input.target ?? input.policy.snapshot.backup_target);
  const entries = await listBackups(storage, ctx.log);
  const where = `target "${storage.name}" (${storage.location})`;
  if (input.backupId !== undefined) {
    const entry = entries.find((e) => e.manifest.id === input.backupId);
    if (!entry) {
      throw new RefusedError(`No backup ${input.backupId} on ${where}.`, { hint: `\`dbops backup list --target ${storage.name}\` shows what it holds.` });
    }
    if (input.tier && entry.manifest.tier !== input.tier)
      throw new UsageError(`Backup ${input.backupId} is a ${entry.manifest.tier} backup, not ${input.tier}.`);
    if (entry.status !== 'verified') {
      throw new RefusedError(`Backup ${input.backupId} is ${entry.status}: only a verified backup is masked.`, {
        hint: `Verify it first (\`dbops backup verify ${input.backupId} --restore\`), or mask the newest verified one with --latest.`,
      });
    }
    return { entry, target: storage.name };
  }
  const candidates = input.tier ? entries.filter((e) => e.manifest.tier === input.tier) : entries;
  const entry = candidates.filter((e) => e.status === 'verified').at(-1);
  if (!entry) {
    const what = input.tier ? `${input.tier} backup` : 'backup';
    throw new RefusedError(
      `No verified ${what} on ${where}: ${candidates.length === 0 ? 'it holds none' : `its ${plural(candidates.length, what)} are unverified or failed`}.`,
      {
        hint: 'Take and verify one: `dbops backup create` then `dbops backup verify --latest --restore`.',
      },
    );
  }
  return { entry, target: storage.name };
}

/** The server the template goes to: the location's, or the embedded cluster's. */
async function templateServer(input: MaskRequest, ctx: Runtime): Promise<DbTarget> {
  if (input.location.server) return input.location.server;
  const { ensureLocalDatabase } = await import('../../infra/pg/local.ts');
  const local = await ensureLocalDatabase(ctx.log, ctx.env);
  return parseDatabaseUrl(local.url);
}

interface Masked {
  columns: SnapshotMaskData['columns'];
  originals: number;
  /** Text-like columns scanned. */
  scanned: number;
  leaks: Leak[];
  checks: SnapshotMaskData['checks'];
  replica: boolean;
}

/**
 * Masks the restored database in one session: the originals are collected, every table's masked columns
 * are rewritten by one UPDATE (in one transaction, with triggers and foreign-key checks skipped where the
 * role may: equal values mask equally, and the checks below prove the keys still join), then the scan and
 * the checks run.
 */
async function maskDatabase(
  db: DbTarget,
  input: MaskRequest,
  key: string,
  ctx: Runtime,
  timed: <T>(name: string, fn: () => Promise<T>) => Promise<T>,
): Promise<Masked> {
  return withClient(db, { log: ctx.log, applicationName: APP }, async (client) => {
    const { plan, problems } = planMasking(input.policy, await columnFacts(client), input.policy.scan.min_length);
    if (problems.length > 0) {
      throw new ConfigError(
        `${input.policyPath ?? 'policies/masking.yaml'} does not fit the database of the backup (${plural(problems.length, 'problem')}):\n  ${problems.join('\n  ')}`,
        { hint: 'Fix the rules named above (the database is the one the backup holds, so the policy must follow its schema).' },
      );
    }
    await client.query(`SET work_mem = '256MB'`);
    await client.query(`SELECT set_config('dbops.mask_key', $1, false)`, [key]);
    await client.query(SESSION_FUNCTIONS);
    const originals = await timed('collect originals', () => collectOriginals(client, plan));
    ctx.progress(`  ${plural(originals, 'distinct original value')} of ${plural(plan.needles.length, 'column')} to search for afterwards`);

    const { columns, replica } = await timed('mask', () => applyUpdates(client, plan, ctx));
    ctx.progress(`Scanning ${plural(plan.haystack.length, 'text-like column')} for any original value`);
    const leaks = await timed('scan', () => scanForOriginals(client, plan, (t) => ctx.log.debug({ table: t }, 'scanning')));
    const checks = await timed('checks', () => runChecks(client, input));
    return { columns, originals, scanned: plan.haystack.length, leaks, checks, replica };
  });
}

async function applyUpdates(client: Client, plan: MaskPlan, ctx: Runtime): Promise<{ columns: SnapshotMaskData['columns']; replica: boolean }> {
  const columns: SnapshotMaskData['columns'] = [];
  await client.query('BEGIN');
  try {
    let replica = true;
    await client.query('SAVEPOINT replica');
    try {
      await client.query(`SET LOCAL session_replication_role = replica`);
    } catch (e) {
      if (!isPgError(e) || e.code !== '42501') throw e;
      await client.query('ROLLBACK TO SAVEPOINT replica');
      replica = false;
      ctx.log.warn('the role may not set session_replication_role: triggers fire and foreign keys are checked row by row while masking');
    }
    for (const t of plan.tables) {
      if (ctx.signal.aborted) throw new EnvError('Interrupted while masking: nothing was installed.');
      const started = performance.now();
      const result = await client.query(t.sql);
      ctx.progress(
        `  ${t.schema}.${t.table}: ${plural(result.rowCount ?? 0, 'row')} masked (${t.columns.map((c) => c.fact.column).join(', ')}) in ${formatMs(performance.now() - started)}`,
      );
      for (const c of t.columns)
        columns.push({
          table: `${t.schema}.${t.table}`,
          column: c.fact.column,
          rule: c.rule.rule === 'fake' ? `fake ${c.rule.as}` : c.rule.rule,
          rows: result.rowCount ?? 0,
        });
    }
    await client.query('COMMIT');
    return { columns, replica };
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (isPgError(e) && e.code === '23505') {
      throw new RefusedError(`Masking made two rows equal where a unique index forbids it: ${e.detail ?? e.message}`, {
        hint: 'Masked values are unique only as far as the rule makes them: use hash with a larger length, or fake email (which keeps 48 bits of the hash) for that column.',
        cause: e,
      });
    }
    throw e;
  }
}

/** Every foreign key of the database, then the policy's own checks. */
async function runChecks(client: Client, input: MaskRequest): Promise<SnapshotMaskData['checks']> {
  const checks: SnapshotMaskData['checks'] = [];
  const orphans = await orphanCounts(client, await foreignKeys(client));
  for (const [name, violations] of Object.entries(orphans)) checks.push({ kind: 'foreign-key', name, violations });
  for (const check of input.policy.checks) {
    try {
      const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM (${check.sql}) AS q`);
      checks.push({ kind: 'policy', name: check.name, violations: Number(rows[0]!.n) });
    } catch (e) {
      throw new ConfigError(`The check "${check.name}" of policies/masking.yaml could not run: ${(e as Error).message}`, {
        hint: 'Its sql must be a query returning the rows that break the rule.',
        cause: e,
      });
    }
  }
  return checks;
}

async function clientTools(ctx: Runtime, serverOf: DbTarget): Promise<{ pgDump: string; pgRestore: string }> {
  const bins = await findPgBinaries(ctx.env);
  const major = await withClient(serverOf, { log: ctx.log, applicationName: APP }, serverMajor);
  return { pgDump: await clientTool(bins, 'pg_dump', major), pgRestore: await clientTool(bins, 'pg_restore', major) };
}

const lastLines = (stderr: string) => stderr.trim().split('\n').slice(-3).join(' ');

/** pg_dump of the masked scratch database (directory format, parallel, uncompressed: it is read once, locally). */
async function transferOut(from: DbTarget, dir: string, input: MaskRequest, ctx: Runtime): Promise<void> {
  const { pgDump } = await clientTools(ctx, from);
  const jobs = String(input.backups.verify.restore_jobs);
  const dump = await ctx.sh({ nothrow: true, env: pgEnv(from, ctx.env, APP) })`${pgDump} --format=directory --jobs=${jobs} --compress=0 --file=${dir}`;
  if (dump.exitCode !== 0) throw new EnvError(`pg_dump of the masked database failed (exit ${dump.exitCode}): ${lastLines(dump.stderr)}`);
}

/** pg_restore of that dump into the new database on the template's server, then ANALYZE (a restore brings no statistics). */
async function transferIn(dir: string, to: DbTarget, input: MaskRequest, ctx: Runtime): Promise<void> {
  const { pgRestore } = await clientTools(ctx, to);
  const jobs = String(input.backups.verify.restore_jobs);
  // Owners and grants name roles the snapshot's server may not have; clones are for rehearsals, not for access tests.
  const restore = await ctx.sh({
    nothrow: true,
    env: pgEnv(to, ctx.env, APP),
  })`${pgRestore} --no-owner --no-acl --exit-on-error --jobs=${jobs} --dbname=${to.database} ${dir}`;
  if (restore.exitCode !== 0) throw new EnvError(`pg_restore of the masked database failed (exit ${restore.exitCode}): ${lastLines(restore.stderr)}`);
  await withClient(to, { log: ctx.log, applicationName: APP }, (c) => c.query('ANALYZE'));
}

/** Findings of the proof: a column still holding original values, a foreign key that no longer joins, a failed check. */
function judge(masked: Masked): Finding[] {
  const findings: Finding[] = [];
  for (const l of masked.leaks) {
    const self = l.from.length === 1 && l.from[0] === `${l.table}.${l.column}`;
    findings.push({
      rule: 'masking/original-value-remains',
      severity: 'error',
      message: `${l.table}.${l.column} still holds original values in ${plural(l.cells, 'cell')} (values of ${l.from.join(', ')}).`,
      help: self
        ? `Give ${l.table.split('.').pop()}.${l.column} a masking rule in policies/masking.yaml (keep leaves its values as they are; use keep with not_personal only for a column that holds no personal data).`
        : `Mask ${l.table.split('.').pop()}.${l.column} as well: it repeats values of ${l.from.join(', ')}.`,
    });
  }
  for (const c of masked.checks.filter((x) => x.violations > 0)) {
    findings.push({
      rule: c.kind === 'foreign-key' ? 'masking/foreign-key' : 'masking/check',
      severity: 'error',
      message:
        c.kind === 'foreign-key'
          ? `Foreign key ${c.name} no longer joins for ${plural(c.violations, 'row')} after masking.`
          : `The check "${c.name}" finds ${plural(c.violations, 'row')} breaking it after masking.`,
      help:
        c.kind === 'foreign-key'
          ? 'A masked key column must have the same rule as every column referencing it (equal values then mask equally).'
          : 'Masking changed what the check relies on: keep those columns, or adapt the check.',
    });
  }
  if (!masked.replica) {
    findings.push({
      rule: 'masking/triggers',
      severity: 'notice',
      message: 'The role may not set session_replication_role, so triggers fired while masking.',
    });
  }
  return findings;
}

/**
 * Installs the build as the template in one transaction: the old template is renamed away and the build
 * takes its name, so a rehearsal cloning meanwhile gets either the old or the new one, whole; the old one
 * is marked droppable in the same transaction (a run killed before dropping it leaves it to the next sweep).
 */
async function install(admin: Client, build: string, database: string, snapshot: MaskedSnapshot): Promise<void> {
  const old = `${database}_old_${randomBytes(3).toString('hex')}`;
  const hadOld = await databaseExists(admin, database);
  await admin.query('BEGIN');
  try {
    if (hadOld) {
      await admin.query(`ALTER DATABASE ${quoteIdent(database)} RENAME TO ${quoteIdent(old)}`);
      await markOwner(admin, old, ownership(false));
    }
    await admin.query(`ALTER DATABASE ${quoteIdent(build)} RENAME TO ${quoteIdent(database)}`);
    await writeMaskedSnapshot(admin, database, snapshot);
    await admin.query('COMMIT');
  } catch (e) {
    await admin.query('ROLLBACK').catch(() => undefined);
    if (isPgError(e) && e.code === '55006') {
      throw new EnvError(`The masked snapshot ${database} is in use (${e.message}), so it was not replaced.`, {
        hint: 'A template is replaced only while nobody is connected to it: close the sessions on it, then run snapshot mask again.',
        cause: e,
      });
    }
    throw e;
  }
  if (hadOld) await dropDatabase(admin, old);
}

/** `dbops snapshot mask`: a verified backup restored into scratch space, masked, proven, installed as the masked template. */
export async function maskSnapshot(input: MaskRequest, ctx: Runtime): Promise<StepResult<SnapshotMaskData>> {
  const key = maskingKey(input, ctx.env);
  const { entry, target } = await chooseBackup(input, ctx);
  const manifest = entry.manifest;
  const policySha256 = await maskingPolicyDigest(input.policyPath, input.policy);
  const database = input.location.database;
  const { phases, timed } = phaseTimer();
  ctx.progress(
    `Masking backup ${manifest.id} (${manifest.tier}, database ${manifest.database.name}, taken ${manifest.startedAt}) from target ${target} into the masked snapshot ${database} on ${input.location.where}`,
  );

  await sweepWorkspaces(ctx.log);
  const workspace = await createWorkspace('mask', !input.scratchUrl);
  let scratch: Promise<ScratchServer> | undefined;
  try {
    scratch = input.scratchUrl ? urlServer(input.scratchUrl, ctx.log) : startThrowawayCluster(workspace.dir, ctx.log);
    scratch.catch(() => undefined);
    const server = await scratch;
    ctx.progress(`Restoring into ${server.description}: the original data never reaches the snapshot's server`);
    const outcome = await withScratchDatabase(server, scratchDatabaseName(manifest.id), ctx.log, async (db) => {
      const restored = await timed('restore', () =>
        restoreBackup(
          { args: [manifest.id], latest: false, target, identityFile: input.identityFile, into: db, force: false, policy: input.backups },
          { ...ctx, progress: (line) => ctx.log.info(line) },
        ),
      );
      if (restored.verdict === 'fail') return { restored, masked: undefined };
      ctx.progress(`  restored in ${formatMs(phases.at(-1)!.durationMs)}; masking`);
      const masked = await maskDatabase(db, input, key, ctx, timed);
      const failed = masked.leaks.length > 0 || masked.checks.some((c) => c.violations > 0);
      if (!failed) {
        if (ctx.signal.aborted) throw new EnvError('Interrupted after masking: nothing was installed.');
        await timed('dump', () => transferOut(db, join(workspace.dir, 'masked'), input, ctx));
      }
      return { restored, masked };
    });
    const data: SnapshotMaskData = {
      backup: {
        id: manifest.id,
        takenAt: manifest.startedAt,
        database: manifest.database.name,
        target,
        verifiedAt: entry.verified?.at ?? null,
      },
      template: { database, server: input.location.where, installed: false, replaced: null },
      scratch: server.description,
      policySha256,
      columns: outcome.masked?.columns ?? [],
      scan: {
        columns: outcome.masked?.scanned ?? 0,
        values: outcome.masked?.originals ?? 0,
        hits: (outcome.masked?.leaks ?? []).map((l) => ({ table: l.table, column: l.column, cells: l.cells, from: l.from })),
      },
      checks: outcome.masked?.checks ?? [],
      phases,
      snapshot: null,
    };
    if (!outcome.masked) {
      return { verdict: 'fail', findings: outcome.restored.findings, data, ...(outcome.restored.error ? { error: outcome.restored.error } : {}) };
    }
    const findings = judge(outcome.masked);
    if (findings.some((f) => f.severity === 'error')) {
      return {
        verdict: 'fail',
        findings,
        data,
        error: {
          message: `The masked database of ${manifest.id} failed its proof, so it was not installed; ${database} on ${input.location.where} is unchanged.`,
          hint: 'Fix policies/masking.yaml for the columns named above (a rule for each, or one that changes the values), then run snapshot mask again.',
        },
      };
    }

    // Only now does anything reach the snapshot's server: masked data, proven.
    const templateTarget = await templateServer(input, ctx);
    const admin = await connectMaintenance(templateTarget, ctx.log, database);
    try {
      await sweepOrphans(admin, `${database}_`, ctx.log);
      const previous = await readMaskedSnapshot(admin, database);
      const build = `${database}_build_${randomBytes(3).toString('hex')}`;
      await admin.query(`CREATE DATABASE ${quoteIdent(build)} TEMPLATE template0`);
      await markOwner(admin, build, ownership(false));
      try {
        ctx.progress(`Loading the masked database into ${build} on ${input.location.where}`);
        await timed('load', () => transferIn(join(workspace.dir, 'masked'), onDatabase(templateTarget, build), input, ctx));
        const snapshot: MaskedSnapshot = {
          database,
          backupId: manifest.id,
          backupTakenAt: manifest.startedAt,
          sourceDatabase: manifest.database.name,
          policySha256,
          maskedAt: new Date().toISOString(),
          columns: outcome.masked.columns.length,
          scan: { columns: outcome.masked.scanned, values: outcome.masked.originals, remaining: 0 },
          checks: outcome.masked.checks.length,
        };
        await timed('install', () => install(admin, build, database, snapshot));
        data.snapshot = snapshot;
        data.template = { database, server: input.location.where, installed: true, replaced: previous?.backupId ?? null };
      } catch (e) {
        await dropDatabase(admin, build).catch((err: unknown) =>
          ctx.log.warn({ database: build, err: (err as Error).message }, 'could not drop the unfinished template'),
        );
        throw e;
      }
    } finally {
      await admin.end().catch(() => undefined);
    }
    ctx.progress(
      `Installed ${database}: ${plural(outcome.masked.columns.length, 'column')} masked, no original value left in ${plural(outcome.masked.scanned, 'column')}, ${plural(outcome.masked.checks.length, 'check')} held`,
    );
    return { verdict: findings.some((f) => f.severity === 'warning') ? 'warn' : 'pass', findings, data };
  } finally {
    await disposeScratch(scratch, ctx.log);
    await workspace.dispose();
  }
}
