import { z } from 'zod';
import type { Environment, ReleasePolicies } from '../change/release/index.ts';
import type { StepContext } from '../cli/contract.ts';
import { UsageError } from '../core/errors.ts';
import type { DbTarget } from '../infra/db/url.ts';
import type { MaintenanceWindow } from '../operations/maintenance/index.ts';
import type { QueriesTarget } from '../operations/queries/index.ts';
import type { MaskedSnapshotLocation } from '../protection/masking/index.ts';

// Flag groups shared by commands. Keys are camelCase here and --kebab-case on the command line.
export const connection = {
  databaseUrl: z.string().min(1).optional().describe('PostgreSQL URL (default: $DATABASE_URL, else the embedded cluster in .dbops/)'),
  schema: z.string().min(1).optional().describe("schema to migrate (default: the URL's ?schema= parameter, else public)"),
};
export const dirs = {
  migrationsDir: z.string().default('prisma/migrations').describe('Prisma migrations folder'),
  policiesDir: z.string().default('policies').describe('policy files folder'),
};
/** schema.prisma, which `migrate new` and `drift` compare with the migrations (not --schema: that names the database schema). */
export const prismaSchema = {
  prismaSchema: z.string().min(1).default('prisma/schema.prisma').describe('the Prisma schema: a file, or a folder of .prisma files (multi-file schema)'),
};
export const json = { json: z.boolean().default(false).describe('print the result as JSON on stdout') };
export const rollbacks = { rollbacksDir: z.string().default('rollbacks').describe('folder of paired rollback scripts, rollbacks/<migration>.sql') };
export const reports = { reportsDir: z.string().default('reports').describe('folder the step writes <step>.json into (and `dbops report` reads)') };
export const scope = {
  base: z.string().min(1).optional().describe('git ref the change is compared with (default: lint.base in policies/migrations.yaml, origin/main)'),
  all: z.boolean().default(false).describe('every migration, not only those the change adds or edits'),
  last: z.coerce.number().int().positive().optional().describe('treat the newest N migrations as the change (no git needed)'),
};
/** The synthetic AstroFinance volume: 1 ≈ 1,000,000 journal lines (seed, demo). */
export const scale = z.coerce.number().positive().describe('volume multiplier: 1 ≈ 1,000,000 journal lines');
export const MigrateInputs = z.object({ ...connection, ...dirs, ...json });
export type MigrateInputs = z.output<typeof MigrateInputs>;
export const LocalInputs = z.object({ ...json });
export const policiesOnly = { policiesDir: dirs.policiesDir };
/** `maintain plan` and `maintain run`: the scopes of operations/maintenance/plan.ts (`all` when omitted). */
export const maintenanceScope = {
  only: z
    .enum(['tables', 'indexes'])
    .optional()
    .describe('only the table actions (vacuum-analyze, analyze) or only the index actions (reindex, drop-invalid); default: both'),
};
/** `--environment` instead of `--database-url`, for a command that also applies what the environment has in another policy. */
const environmentFlag = (applies: string) =>
  z
    .string()
    .min(1)
    .optional()
    .describe(`environment of policies/environments.yaml (its database URL comes from the variable the policy names) ${applies}; not with --database-url`);

/** `maintain plan` and `maintain run`: the database by URL, or an environment with its maintenance window. */
export const maintenanceDatabase = {
  databaseUrl: connection.databaseUrl,
  environment: environmentFlag('whose maintenance window (windows.<name> of policies/maintenance.yaml) applies'),
};

/**
 * The database `maintain plan` / `maintain run` work on and the window that applies: `--environment NAME`
 * resolves it through policies/environments.yaml (and its window through policies/maintenance.yaml);
 * otherwise --database-url, DATABASE_URL or the embedded cluster, which have no window.
 */
export async function maintenanceTarget(
  input: { databaseUrl?: string | undefined; environment?: string | undefined; policiesDir: string },
  ctx: StepContext,
): Promise<{ target: DbTarget; environment?: string; window?: MaintenanceWindow }> {
  const { target, environment } = await environmentTarget(input, ctx, 'and applies its maintenance window; --database-url has no window');
  if (!environment) return { target };
  const { environments, maintenance } = await ctx.policies('environments', 'maintenance');
  // Loaded only here, so `maintain plan` without --environment loads none of the release domain.
  const { maintenanceWindowOf } = await import('../operations/maintenance/index.ts');
  const window = maintenanceWindowOf(maintenance.value, environments.value, environment.name, `${input.policiesDir}/maintenance.yaml`);
  return { target, environment: environment.name, ...(window ? { window } : {}) };
}
export const backupTarget = { target: z.string().min(1).optional().describe('storage target name from policies/backups.yaml (default: the primary)') };
export const identity = {
  identityFile: z
    .string()
    .min(1)
    .optional()
    .describe(
      'file holding the age identity (AGE-SECRET-KEY-1…) that decrypts backups (default: the variable named by encryption.identity_env, DBOPS_BACKUP_IDENTITY)',
    ),
};
export const selector = {
  latest: z.boolean().default(false).describe('the newest backup (of --tier, when given)'),
  oldest: z.boolean().default(false).describe('the oldest backup (of --tier, when given)'),
  tier: z.enum(['daily', 'weekly', 'monthly', 'pre-deploy']).optional().describe('only backups of this tier for --latest / --oldest'),
};
export const gateFlags = {
  ...dirs,
  ...rollbacks,
  ...reports,
  ...json,
  ...identity,
  environment: z.string().min(1).describe('environment of policies/environments.yaml (its database URL comes from the variable the policy names)'),
  schema: connection.schema,
  takeBackup: z
    .boolean()
    .default(false)
    .describe("take a pre-deploy backup of the environment's database and verify it first (backup create --tier pre-deploy, then backup verify)"),
  breakGlass: z
    .string()
    .min(1)
    .optional()
    .describe(
      'emergency: replace the environment approvals by this reason, when the policy allows break_glass (recorded and marked in every report and evidence bundle)',
    ),
  outsideWindow: z
    .string()
    .min(1)
    .optional()
    .describe('deploy while every change window is closed, for this reason (needs windows.outside_window.extra_approvals more approvals)'),
};
export const GateInputs = z.object(gateFlags);
export type GateInputs = z.output<typeof GateInputs>;
export const deployFlags = {
  ...gateFlags,
  wait: z
    .boolean()
    .default(false)
    .describe('when another deploy or rollback of this database is running, wait for it (up to --wait-timeout) instead of failing'),
  waitTimeout: z
    .string()
    .regex(/^\d+(ms|s|min|h)$/, 'expected a duration such as 30min')
    .default('30min')
    .describe('longest wait for a running deploy with --wait'),
};
export const DeployInputs = z.object(deployFlags);
export type DeployInputs = z.output<typeof DeployInputs>;

/** The policies of the production path, as gate, deploy and rollback pass them to change/release. */
export async function releasePolicies(ctx: StepContext): Promise<ReleasePolicies> {
  const { environments, backups, migrations, queries, access, masking } = await ctx.policies(
    'environments',
    'backups',
    'migrations',
    'queries',
    'access',
    'masking',
  );
  // The coverage rule of the access domain, for the gate's lint (access/table-not-covered), loaded only here.
  const { uncoveredTables } = await import('../operations/access/index.ts');
  // The traffic check's load measurement and profile (operations/monitoring), injected likewise.
  const { trafficGateProbe } = await import('../operations/monitoring/index.ts');
  return {
    environments: environments.value,
    backups: backups.value,
    migrations: migrations.value,
    queries: queries.value,
    accessCoverage: { policy: access.value, uncoveredTables },
    traffic: trafficGateProbe,
    // masking/personal-data-unmasked applies only when policies/masking.yaml exists.
    maskingPolicy: masking.path !== undefined ? masking.value : undefined,
  };
}
/** What every `dbops pitr` command takes: the database (its cluster is the one archived) and the policy. */
export const pitrFlags = { databaseUrl: connection.databaseUrl, ...policiesOnly, ...json };
export const PitrInputs = z.object(pitrFlags);
export type PitrInputs = z.output<typeof PitrInputs>;
/**
 * The pitr commands that write a report (status, backup, verify: what `dbops backup notify` announces) also
 * take --reports-dir; the others do not, since they would ignore it.
 */
export const PitrReportInputs = z.object({ ...pitrFlags, ...reports });
export type PitrReportInputs = z.output<typeof PitrReportInputs>;

/**
 * A command on one database, by --environment NAME (its URL from policies/environments.yaml, and what else the
 * environment brings: `applies` says what) or by --database-url / DATABASE_URL / the embedded cluster; with the
 * policies, reports and --json flags. settings, queries, access and audit commands share it.
 */
export const databaseFlags = (applies: string) => ({
  databaseUrl: connection.databaseUrl,
  environment: environmentFlag(applies),
  ...policiesOnly,
  ...reports,
  ...json,
});

/** The database named by --environment (through policies/environments.yaml), else by --database-url / DATABASE_URL / the embedded cluster. */
export async function environmentTarget(
  input: { databaseUrl?: string | undefined; environment?: string | undefined; schema?: string | undefined },
  ctx: StepContext,
  why: string,
): Promise<{ target: DbTarget; environment?: Environment }> {
  if (input.environment === undefined) return { target: await ctx.database() };
  if (input.databaseUrl !== undefined)
    throw new UsageError('--environment and --database-url both name the database: pass one of them.', {
      hint: `--environment ${input.environment} takes the URL from policies/environments.yaml (${why}).`,
    });
  const { environments } = await ctx.policies('environments');
  // Loaded only here, so a command without --environment loads none of the release domain.
  const { resolveEnvironment } = await import('../change/release/index.ts');
  const environment = resolveEnvironment(environments.value, input.environment, ctx.env, input.schema);
  return { target: environment.target, environment };
}

/** The primary, its replicas and the evidence storage of --environment; a bare URL has neither replicas nor evidence. */
export async function queriesTarget(input: { databaseUrl?: string | undefined; environment?: string | undefined }, ctx: StepContext): Promise<QueriesTarget> {
  const { target, environment } = await environmentTarget(input, ctx, 'its replicas and evidence storage');
  if (!environment) return { primary: target, replicas: [], environment: null, evidence: null };
  const { backups, environments } = await ctx.policies('backups', 'environments');
  const { environmentQueriesTarget } = await import('../operations/queries/index.ts');
  return environmentQueriesTarget(environment, { backups: backups.value, environments: environments.value }, ctx);
}

/**
 * snapshot.location and snapshot.database of policies/masking.yaml (`local`: the embedded cluster; an
 * environment name: the server of its database URL), unless --database-url names the server.
 */
export async function maskedSnapshotLocation(databaseUrl: string | undefined, ctx: StepContext): Promise<MaskedSnapshotLocation> {
  const { masking } = await ctx.policies('masking');
  const { location, database } = masking.value.snapshot;
  if (databaseUrl !== undefined) {
    const { parseDatabaseUrl } = await import('../infra/db/url.ts');
    return { server: parseDatabaseUrl(databaseUrl, undefined, '--database-url'), database, where: '--database-url' };
  }
  if (location === 'local') return { server: undefined, database, where: 'the embedded cluster' };
  const { environments } = await ctx.policies('environments');
  const { resolveEnvironment } = await import('../change/release/index.ts');
  const environment = resolveEnvironment(environments.value, location, ctx.env);
  return { server: environment.target, database, where: `the server of environment ${location} ($${environment.urlEnv})` };
}

/**
 * Adds a `monitor check` run's load sample to the weekly traffic profile (object `traffic` of the monitor
 * store beside the evidence of --environment, else the local evidence), in the zone of the environment's
 * windows. A store that cannot be written is a warning: the check's verdict stands.
 */
export async function recordMonitorTraffic(
  input: { databaseUrl?: string | undefined; environment?: string | undefined },
  load: import('../operations/monitoring/index.ts').LoadSample,
  ctx: StepContext,
): Promise<void> {
  try {
    const { target, environment } = await environmentTarget(input, ctx, 'whose traffic profile it is');
    const { backups, environments } = await ctx.policies('backups', 'environments');
    const [{ openEvidenceOf }, { monitorStore, recordTraffic }] = await Promise.all([
      import('../evidence/index.ts'),
      import('../operations/monitoring/index.ts'),
    ]);
    const evidence = await openEvidenceOf({ backups: backups.value, environments: environments.value }, environment?.name, ctx.env, ctx.log);
    await recordTraffic(monitorStore(evidence, target.database), load, { zone: environment?.policy.windows.zone ?? 'UTC' });
  } catch (e) {
    ctx.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'monitor: the traffic profile was not updated');
  }
}

/**
 * What `monitor check` and `monitor serve` watch: --environment NAME (its URL, replicas, capacity, thresholds
 * and the checks of its backups, archive, query snapshots and audit trail) or a bare database, whose
 * environment-tied checks are not configured.
 */
export async function monitorTarget(
  input: { databaseUrl?: string | undefined; environment?: string | undefined },
  ctx: StepContext,
): Promise<import('../operations/monitoring/index.ts').MonitorRequest> {
  const { target, environment } = await environmentTarget(input, ctx, 'whose checks apply');
  const { monitoring } = await ctx.policies('monitoring');
  const { checksFor } = await import('../policy/monitoring.ts');
  const name = environment?.name ?? null;
  // The lag the gate tolerates is the monitor's critical one too, where replicas are declared.
  const topology = environment && environment.policy.replicas.length > 0 ? { maxLag: environment.policy.replication.max_lag } : undefined;
  const checks = checksFor(monitoring.value, name, topology);
  const request: import('../operations/monitoring/index.ts').MonitorRequest = {
    target: {
      database: target,
      environment: name,
      checks,
      capacity: (name !== null ? monitoring.value.environments[name]?.capacity : undefined) ?? {},
      replicas: environment?.policy.replicas.map((r) => r.name) ?? [],
    },
  };
  if (environment) {
    const { backups, queries, audit, environments } = await ctx.policies('backups', 'queries', 'audit', 'environments');
    const [{ openEvidence }, { environmentChecks }] = await Promise.all([import('../evidence/index.ts'), import('../operations/monitoring/index.ts')]);
    const evidence = openEvidence({ backups: backups.value, environments: environments.value }, environment.name, ctx.env, ctx.log);
    const sources = {
      database: target,
      environment: environment.name,
      replicas: environment.policy.replicas,
      policies: { backups: backups.value, queries: queries.value, audit: audit.value },
      evidence: { storage: evidence.storage, folder: evidence.folder },
    };
    request.environmentChecks = () => environmentChecks(sources, checks, ctx);
  }
  return request;
}

/**
 * The database of a command that needs a server session of its own (maintenance, backups, PITR): refused
 * with exit 2 and the direct URL when it goes through a transaction pooler, declared (pooler.mode of
 * `environment`) or detected.
 */
export async function ownSessionDatabase(ctx: StepContext, command: string, target?: DbTarget, environment?: string): Promise<DbTarget> {
  const database = target ?? (await ctx.database());
  let pooler: import('../infra/db/pooler.ts').PoolerPolicy | undefined;
  if (environment !== undefined) {
    const { environments } = await ctx.policies('environments');
    pooler = environments.value.environments[environment]?.pooler;
  }
  const { requireOwnSession } = await import('../infra/db/pooler.ts');
  await requireOwnSession(database, { log: ctx.log, command, pooler, environment });
  return database;
}
