import type { CommandInfo, CommandSpec, StepModule } from './contract.ts';
import { withRun } from './contract.ts';

/** What each command group is about; its subcommands come from the specs below. */
export const GROUPS: Record<string, string> = {
  migrate: 'Prisma-compatible migration executor',
  local: 'the embedded PostgreSQL cluster in .dbops/',
  rollbacks: 'paired rollback scripts',
  backup: 'encrypted, verified logical backups',
  pitr: 'point-in-time recovery: WAL archiving and physical backups with pgBackRest',
  dr: 'timed disaster-recovery drills with evidence',
  evidence: 'hash-chained evidence bundles of deploys and rollbacks',
  maintain: 'VACUUM, ANALYZE and REINDEX planned from measured bloat',
  settings: 'server settings as code, with tuning advice from declared resources',
  queries: 'pg_stat_statements snapshots: slow statements, regressions per deploy, index usage over primary and replicas',
  access: 'access control as code: roles and privileges audited and applied, encryption checks',
  audit: 'database audit logging with pgaudit, kept in the evidence chain',
  pool: 'the PgBouncer pools in front of the server: usage and recommended sizes',
};

/** A command of the registry: its spec (flags and help, zod) and its implementation, each imported only when needed. */
export interface CommandEntry {
  path: readonly string[];
  spec(): Promise<CommandInfo>;
  run(): Promise<StepModule<any, unknown>>;
}

/**
 * Every command, in help order. Help and parsing use the catalog (cli/catalog.ts), so a command's spec is
 * imported when it runs and its implementation after its inputs parsed. The import paths are written out
 * because the bundler splits the code at each literal `import()`.
 */
export const REGISTRY: readonly CommandEntry[] = [
  {
    path: ['migrate', 'status'],
    spec: () => import('../commands/migrate/status/spec.ts').then((m) => m.spec),
    run: () => import('../commands/migrate/status/run.ts'),
  },
  {
    path: ['migrate', 'deploy'],
    spec: () => import('../commands/migrate/deploy/spec.ts').then((m) => m.spec),
    run: () => import('../commands/migrate/deploy/run.ts'),
  },
  {
    path: ['migrate', 'resolve'],
    spec: () => import('../commands/migrate/resolve/spec.ts').then((m) => m.spec),
    run: () => import('../commands/migrate/resolve/run.ts'),
  },
  {
    path: ['migrate', 'new'],
    spec: () => import('../commands/migrate/new/spec.ts').then((m) => m.spec),
    run: () => import('../commands/migrate/new/run.ts'),
  },
  {
    path: ['drift'],
    spec: () => import('../commands/drift/spec.ts').then((m) => m.spec),
    run: () => import('../commands/drift/run.ts'),
  },
  { path: ['lint'], spec: () => import('../commands/lint/spec.ts').then((m) => m.spec), run: () => import('../commands/lint/run.ts') },
  {
    path: ['rollbacks', 'check'],
    spec: () => import('../commands/rollbacks/check/spec.ts').then((m) => m.spec),
    run: () => import('../commands/rollbacks/check/run.ts'),
  },
  { path: ['rehearse'], spec: () => import('../commands/rehearse/spec.ts').then((m) => m.spec), run: () => import('../commands/rehearse/run.ts') },
  { path: ['report'], spec: () => import('../commands/report/spec.ts').then((m) => m.spec), run: () => import('../commands/report/run.ts') },
  {
    path: ['backup', 'create'],
    spec: () => import('../commands/backup/create/spec.ts').then((m) => m.spec),
    run: () => import('../commands/backup/create/run.ts'),
  },
  { path: ['backup', 'list'], spec: () => import('../commands/backup/list/spec.ts').then((m) => m.spec), run: () => import('../commands/backup/list/run.ts') },
  {
    path: ['backup', 'verify'],
    spec: () => import('../commands/backup/verify/spec.ts').then((m) => m.spec),
    run: () => import('../commands/backup/verify/run.ts'),
  },
  {
    path: ['backup', 'prune'],
    spec: () => import('../commands/backup/prune/spec.ts').then((m) => m.spec),
    run: () => import('../commands/backup/prune/run.ts'),
  },
  {
    path: ['backup', 'replicate'],
    spec: () => import('../commands/backup/replicate/spec.ts').then((m) => m.spec),
    run: () => import('../commands/backup/replicate/run.ts'),
  },
  {
    path: ['backup', 'restore'],
    spec: () => import('../commands/backup/restore/spec.ts').then((m) => m.spec),
    run: () => import('../commands/backup/restore/run.ts'),
  },
  {
    path: ['backup', 'notify'],
    spec: () => import('../commands/backup/notify/spec.ts').then((m) => m.spec),
    run: () => import('../commands/backup/notify/run.ts'),
  },
  {
    path: ['monitor', 'check'],
    spec: () => import('../commands/monitor/check/spec.ts').then((m) => m.spec),
    run: () => import('../commands/monitor/check/run.ts'),
  },
  {
    path: ['monitor', 'traffic'],
    spec: () => import('../commands/monitor/traffic/spec.ts').then((m) => m.spec),
    run: () => import('../commands/monitor/traffic/run.ts'),
  },
  {
    path: ['monitor', 'serve'],
    spec: () => import('../commands/monitor/serve/spec.ts').then((m) => m.spec),
    run: () => import('../commands/monitor/serve/run.ts'),
  },
  {
    path: ['monitor', 'rules'],
    spec: () => import('../commands/monitor/rules/spec.ts').then((m) => m.spec),
    run: () => import('../commands/monitor/rules/run.ts'),
  },
  {
    path: ['snapshot', 'mask'],
    spec: () => import('../commands/snapshot/mask/spec.ts').then((m) => m.spec),
    run: () => import('../commands/snapshot/mask/run.ts'),
  },
  {
    path: ['pitr', 'enable'],
    spec: () => import('../commands/pitr/enable/spec.ts').then((m) => m.spec),
    run: () => import('../commands/pitr/run.ts').then((m) => m.enable),
  },
  {
    path: ['pitr', 'backup'],
    spec: () => import('../commands/pitr/backup/spec.ts').then((m) => m.spec),
    run: () => import('../commands/pitr/run.ts').then((m) => m.backup),
  },
  {
    path: ['pitr', 'list'],
    spec: () => import('../commands/pitr/list/spec.ts').then((m) => m.spec),
    run: () => import('../commands/pitr/run.ts').then((m) => m.list),
  },
  {
    path: ['pitr', 'status'],
    spec: () => import('../commands/pitr/status/spec.ts').then((m) => m.spec),
    run: () => import('../commands/pitr/run.ts').then((m) => m.status),
  },
  {
    path: ['pitr', 'verify'],
    spec: () => import('../commands/pitr/verify/spec.ts').then((m) => m.spec),
    run: () => import('../commands/pitr/run.ts').then((m) => m.verify),
  },
  {
    path: ['pitr', 'expire'],
    spec: () => import('../commands/pitr/expire/spec.ts').then((m) => m.spec),
    run: () => import('../commands/pitr/expire/run.ts').then((m) => m.expire),
  },
  {
    path: ['pitr', 'restore'],
    spec: () => import('../commands/pitr/restore/spec.ts').then((m) => m.spec),
    run: () => import('../commands/pitr/restore/run.ts').then((m) => m.restore),
  },
  {
    path: ['pitr', 'heartbeat'],
    spec: () => import('../commands/pitr/heartbeat/spec.ts').then((m) => m.spec),
    run: () => import('../commands/pitr/run.ts').then((m) => m.heartbeat),
  },
  {
    path: ['dr', 'drill'],
    spec: () => import('../commands/dr/drill/spec.ts').then((m) => m.spec),
    run: () => import('../commands/dr/drill/run.ts'),
  },
  { path: ['gate'], spec: () => import('../commands/gate/spec.ts').then((m) => m.spec), run: () => import('../commands/gate/run.ts') },
  { path: ['deploy'], spec: () => import('../commands/deploy/spec.ts').then((m) => m.spec), run: () => import('../commands/deploy/run.ts') },
  { path: ['rollback'], spec: () => import('../commands/rollback/spec.ts').then((m) => m.spec), run: () => import('../commands/rollback/run.ts') },
  {
    path: ['evidence', 'verify'],
    spec: () => import('../commands/evidence/verify/spec.ts').then((m) => m.spec),
    run: () => import('../commands/evidence/verify/run.ts'),
  },
  {
    path: ['evidence', 'list'],
    spec: () => import('../commands/evidence/list/spec.ts').then((m) => m.spec),
    run: () => import('../commands/evidence/list/run.ts'),
  },
  {
    path: ['evidence', 'reconcile'],
    spec: () => import('../commands/evidence/reconcile/spec.ts').then((m) => m.spec),
    run: () => import('../commands/evidence/reconcile/run.ts'),
  },
  {
    path: ['evidence', 'prune'],
    spec: () => import('../commands/evidence/prune/spec.ts').then((m) => m.spec),
    run: () => import('../commands/evidence/prune/run.ts'),
  },
  {
    path: ['maintain', 'plan'],
    spec: () => import('../commands/maintain/plan/spec.ts').then((m) => m.spec),
    run: () => import('../commands/maintain/plan/run.ts'),
  },
  {
    path: ['maintain', 'run'],
    spec: () => import('../commands/maintain/run/spec.ts').then((m) => m.spec),
    run: () => import('../commands/maintain/run/run.ts'),
  },
  {
    path: ['settings', 'check'],
    spec: () => import('../commands/settings/check/spec.ts').then((m) => m.spec),
    run: () => import('../commands/settings/check/run.ts'),
  },
  {
    path: ['settings', 'apply'],
    spec: () => import('../commands/settings/apply/spec.ts').then((m) => m.spec),
    run: () => import('../commands/settings/apply/run.ts'),
  },
  {
    path: ['pool', 'report'],
    spec: () => import('../commands/pool/report/spec.ts').then((m) => m.spec),
    run: () => import('../commands/pool/report/run.ts'),
  },
  {
    path: ['queries', 'snapshot'],
    spec: () => import('../commands/queries/snapshot/spec.ts').then((m) => m.spec),
    run: () => import('../commands/queries/snapshot/run.ts'),
  },
  {
    path: ['queries', 'report'],
    spec: () => import('../commands/queries/report/spec.ts').then((m) => m.spec),
    run: () => import('../commands/queries/report/run.ts'),
  },
  {
    path: ['access', 'audit'],
    spec: () => import('../commands/access/audit/spec.ts').then((m) => m.spec),
    run: () => import('../commands/access/audit/run.ts'),
  },
  {
    path: ['access', 'apply'],
    spec: () => import('../commands/access/apply/spec.ts').then((m) => m.spec),
    run: () => import('../commands/access/apply/run.ts'),
  },
  {
    path: ['access', 'encryption'],
    spec: () => import('../commands/access/encryption/spec.ts').then((m) => m.spec),
    run: () => import('../commands/access/encryption/run.ts'),
  },
  {
    path: ['audit', 'check'],
    spec: () => import('../commands/audit/check/spec.ts').then((m) => m.spec),
    run: () => import('../commands/audit/check/run.ts'),
  },
  {
    path: ['audit', 'collect'],
    spec: () => import('../commands/audit/collect/spec.ts').then((m) => m.spec),
    run: () => import('../commands/audit/collect/run.ts'),
  },
  {
    path: ['audit', 'review'],
    spec: () => import('../commands/audit/review/spec.ts').then((m) => m.spec),
    run: () => import('../commands/audit/review/run.ts'),
  },
  {
    path: ['local', 'up'],
    spec: () => import('../commands/local/up/spec.ts').then((m) => m.spec),
    run: () => import('../commands/local/run.ts').then((m) => m.up),
  },
  {
    path: ['local', 'down'],
    spec: () => import('../commands/local/down/spec.ts').then((m) => m.spec),
    run: () => import('../commands/local/run.ts').then((m) => m.down),
  },
  {
    path: ['local', 'status'],
    spec: () => import('../commands/local/status/spec.ts').then((m) => m.spec),
    run: () => import('../commands/local/run.ts').then((m) => m.status),
  },
  {
    path: ['local', 'psql'],
    spec: () => import('../commands/local/psql/spec.ts').then((m) => m.spec),
    run: () => import('../commands/local/run.ts').then((m) => m.psql),
  },
  { path: ['seed'], spec: () => import('../commands/seed/spec.ts').then((m) => m.spec), run: () => import('../commands/seed/run.ts') },
  { path: ['demo'], spec: () => import('../commands/demo/spec.ts').then((m) => m.spec), run: () => import('../commands/demo/run.ts') },
];

/** Every command's spec with its implementation (what `dbops report` renders each report with). */
export const loadSpecs = (): Promise<CommandSpec[]> => Promise.all(REGISTRY.map(async (e) => withRun(await e.spec(), e.run)));
