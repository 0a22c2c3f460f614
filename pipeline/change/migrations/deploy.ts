import { ExitCode } from '../../core/errors.ts';
import { describeBlocker } from './executor.ts';
import { openOwnSession } from './history.ts';
import { datasourceLine, foundLine, p3009Hint, p3009Message } from './messages.ts';
import { formatMs, noun } from '../../core/format.ts';
import type { Runtime } from '../../core/runtime.ts';
import type { DbTarget } from '../../infra/db/url.ts';
import type { ExecutorPolicy } from '../../policy/schema.ts';
import type { MigrationsFolder } from './folder.ts';
import type { StepResult } from '../../core/result.ts';
import { type Datasource, datasourceOf } from './status.ts';
import { type AppliedMigration, applyPending, type FailedMigration } from './apply.ts';

export interface DeployData {
  datasource: Datasource;
  migrationsDir: string;
  migrationsFound: number;
  applied: AppliedMigration[];
  /** Pending migrations that were not applied (after a failure or an interrupt). */
  notApplied: string[];
  failed?: FailedMigration;
  interrupted?: boolean;
}

/** `migrate deploy` (and demo): every pending migration of the folder applied on the database, as Prisma would. */
export async function deployMigrations(
  input: { migrationsDir: string; folder: MigrationsFolder; target: DbTarget; executor: ExecutorPolicy },
  ctx: Runtime,
): Promise<StepResult<DeployData>> {
  const { folder, target, executor: executorPolicy } = input;
  ctx.progress(`${datasourceLine(target)}\n\n${foundLine(folder.migrations.length, input.migrationsDir)}`);

  const s = await openOwnSession(target, ctx.log, 'dbops migrate deploy');
  const data: DeployData = {
    datasource: datasourceOf(target),
    migrationsDir: input.migrationsDir,
    migrationsFound: folder.migrations.length,
    applied: [],
    notApplied: [],
  };
  try {
    const outcome = await applyPending(s, folder.migrations, executorPolicy, { progress: (l) => ctx.progress(l), signal: ctx.signal });
    data.applied = outcome.applied;
    data.notApplied = outcome.notApplied;
    if (outcome.blockedBy) {
      return { verdict: 'fail', findings: [], data, error: { code: 'P3009', message: p3009Message(outcome.blockedBy), hint: p3009Hint(outcome.blockedBy) } };
    }
    if (outcome.interrupted) {
      data.interrupted = true;
      return {
        verdict: 'fail',
        findings: [],
        data,
        exitCode: ExitCode.Environment,
        error: {
          message: `Interrupted after ${data.applied.length} migration(s); ${data.notApplied.length} not applied.`,
          hint: 'Run `dbops migrate deploy` again to apply the rest.',
        },
      };
    }
    if (outcome.failed) {
      data.failed = outcome.failed;
      return failure(data, outcome.failed.lockTimeout, outcome.failed.recorded, executorPolicy.lock_timeout);
    }
    return { verdict: 'pass', findings: [], data };
  } finally {
    await s.close();
  }
}

function failure(data: DeployData, lockTimeout: boolean, recorded: boolean, lockTimeoutSetting: string): StepResult<DeployData> {
  const f = data.failed!;
  const partial =
    f.mode === 'split' && f.stepsCommitted > 0 ? ` ${f.stepsCommitted} of its steps committed before the failure and remain in the database.` : '';
  const hints: string[] = [];
  if (lockTimeout) {
    hints.push(
      `\`${f.name}\` could not get its locks within lock_timeout (${lockTimeoutSetting}) after ${f.lockRetries} ${noun(f.lockRetries, 'retry', 'retries')}` +
        (f.blockers.length ? `; blocked by ${f.blockers.map(describeBlocker).join('; ')}` : '') +
        (recorded
          ? '.'
          : '. Nothing of it was applied and nothing was recorded: run the deploy again when the blocking sessions are gone, or raise lock_timeout/lock_retries for it in policies/migrations.yaml (executor.overrides).'),
    );
  }
  for (const idx of f.invalidIndexes) {
    hints.push(
      `The failed statement left the index ${idx.schema}.${idx.index} on ${idx.table} INVALID (indisvalid = false): it slows writes and is never used. Remove it with \`${idx.cleanup}\` before retrying.`,
    );
  }
  if (recorded) {
    hints.push(
      f.mode === 'atomic'
        ? `Nothing of \`${f.name}\` remains in the database (it ran in one transaction). Fix the file, run \`dbops migrate resolve --rolled-back ${f.name}\`, then deploy again.`
        : `Undo what the committed steps of \`${f.name}\` did (or finish it by hand and run \`dbops migrate resolve --applied ${f.name}\`); after undoing, fix the file, run \`dbops migrate resolve --rolled-back ${f.name}\` and deploy again.${partial}`,
    );
  }
  return {
    verdict: 'fail',
    findings: [],
    data,
    exitCode: lockTimeout ? ExitCode.Environment : ExitCode.Failed,
    error: {
      code: lockTimeout && !recorded ? undefined : 'P3018',
      message: lockTimeout && !recorded ? `Lock timeout: \`${f.name}\` was not applied.\n\n${f.message}` : f.message,
      hint: hints.join('\n'),
    },
  };
}

export function renderDeploy(result: StepResult<DeployData>): string {
  const { applied } = result.data;
  if (result.error) return '';
  if (applied.length === 0) return '\nNo pending migrations to apply.\n';
  const width = Math.max(...applied.map((a) => a.name.length));
  const tree = applied
    .map(
      (a) =>
        `  └─ ${`${a.name}/`.padEnd(width + 1)}  ${formatMs(a.durationMs).padStart(9)}${a.mode === 'split' ? `  (${a.steps} steps)` : ''}\n    └─ migration.sql`,
    )
    .join('\n');
  return `\nThe following migration(s) have been applied:\n\nmigrations/\n${tree}\n\nAll migrations have been successfully applied.\n`;
}
