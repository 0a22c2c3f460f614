import { join, resolve } from 'node:path';
import type { z } from 'zod';
import { RefusedError } from '../../core/errors.ts';
import { parseDatabaseUrl } from '../../infra/db/url.ts';
import { ensureLocalDatabase } from '../../infra/pg/local.ts';
import type { DemoInputs } from './spec.ts';
import { worstVerdict, renderMarkdown, readReports } from '../../report/index.ts';
import { writeFileAtomic } from '../../core/fs.ts';
import { lintChange, renderLint } from '../../change/lint/index.ts';
import {
  deployMigrations,
  renderDeploy,
  type DeployData,
  checkLockfile,
  readMigrationsFolder,
  migrationStatus,
  renderStatus,
  type StatusData,
} from '../../change/migrations/index.ts';
import { checkDrift, renderDrift, type DriftData } from '../../change/drift/index.ts';
import { rehearseChange, render as renderRehearsal } from '../../change/rehearsal/index.ts';
import { renderSeed, seedDatabase } from '../../seed/index.ts';
import type { StepContext } from '../../cli/contract.ts';
import type { StepResult, Verdict } from '../../core/result.ts';
import { recordStep } from '../../cli/record.ts';

export interface DemoData {
  cluster: { dir: string; port: number; major: number };
  deploy: DeployData;
  seeded: boolean;
  /** Absent when the deploy failed and the demo stopped there. */
  status?: StatusData;
  /** The pull request part: absent when the demo stopped before it. */
  pr?: { migrations: string[]; drift: Verdict; lint: Verdict; rehearse: Verdict; markdown: string };
}

/**
 * The first thing to run on a new machine: the embedded cluster with the AstroFinance migrations and a
 * small dataset, then the pull request path (drift, lint, rehearsal, report) with the newest migrations playing the
 * PR, through the same steps the individual commands run. It always uses the embedded cluster, whatever
 * DATABASE_URL or STAGING_SNAPSHOT_URL say: a demo must never write to, or clone, a real database.
 */
export async function run(input: z.output<typeof DemoInputs>, ctx: StepContext): Promise<StepResult<DemoData>> {
  const local = await ensureLocalDatabase(ctx.log, ctx.env);
  const target = parseDatabaseUrl(local.url);
  const { STAGING_SNAPSHOT_URL: _snapshot, DATABASE_URL: _database, ...env } = ctx.env;
  const localCtx: StepContext = { ...ctx, env, database: async () => target };
  ctx.progress(`Embedded PostgreSQL ${local.major} in ${local.dir}, port ${local.port} (\`dbops local status\`, \`dbops local psql\`).\n`);

  const dirs = { migrationsDir: input.migrationsDir, policiesDir: input.policiesDir, rollbacksDir: input.rollbacksDir, reportsDir: input.reportsDir };
  const { migrations: policy } = await ctx.policies('migrations');
  const folder = await readMigrationsFolder(resolve(input.migrationsDir));
  checkLockfile(folder);
  ctx.progress('── 1/6 dbops migrate deploy');
  const deployed = await deployMigrations({ migrationsDir: input.migrationsDir, folder, target, executor: policy.value.executor }, localCtx);
  ctx.progress(renderDeploy(deployed));
  const cluster = { dir: local.dir, port: local.port, major: local.major };
  if (deployed.error)
    return { verdict: 'fail', findings: [], data: { cluster, deploy: deployed.data, seeded: false }, error: deployed.error, exitCode: deployed.exitCode };

  ctx.progress(`── 2/6 dbops seed --scale ${input.scale}`);
  let seeded = true;
  try {
    ctx.progress(renderSeed(await seedDatabase(target, { scale: input.scale, seed: 42 }, localCtx)));
  } catch (e) {
    if (!(e instanceof RefusedError)) throw e;
    seeded = false;
    ctx.progress(`Skipped: ${e.message}\n`);
  }
  const st = await migrationStatus({ migrationsDir: input.migrationsDir, folder, target }, localCtx);
  ctx.progress(renderStatus(st));

  ctx.progress(`── 3/6 dbops drift --database-url <the embedded database>   (schema.prisma, the migrations and the database agree)`);
  const drifted = await recordStep(input.reportsDir, 'drift', 'drift', localCtx, () =>
    checkDrift({ prismaSchema: input.prismaSchema, migrationsDir: input.migrationsDir, live: { target }, policies: policy.value }, localCtx),
  );
  ctx.progress(renderDrift(drifted as StepResult<DriftData>));

  ctx.progress(
    `── 4/6 dbops lint --last ${input.last}${input.labels ? ` --labels ${input.labels}` : ''}   (the newest ${input.last} migrations play the pull request)`,
  );
  const lintRequest = { ...dirs, all: false, last: input.last, labels: input.labels, policy: policy.value.lint };
  const linted = await recordStep(input.reportsDir, 'lint', 'lint', localCtx, () => lintChange(lintRequest, localCtx));
  ctx.progress(renderLint(linted, lintRequest));

  ctx.progress(`── 5/6 dbops rehearse --last ${input.last} --scale ${input.scale}`);
  const rehearseRequest = { ...dirs, all: false, last: input.last, scale: input.scale, keep: false, policies: policy.value };
  const rehearsed = await recordStep(input.reportsDir, 'rehearse', 'rehearse', localCtx, () => rehearseChange(rehearseRequest, localCtx));
  ctx.progress(renderRehearsal(rehearsed));

  const markdownPath = join(input.reportsDir, 'report.md');
  ctx.progress(`── 6/6 dbops report --format markdown --output ${markdownPath}\n`);
  const markdown = renderMarkdown(await readReports(input.reportsDir, ['drift', 'lint', 'rehearse']));
  await writeFileAtomic(markdownPath, markdown);
  ctx.progress(markdown);

  return {
    verdict: worstVerdict([st.verdict, drifted.verdict, linted.verdict, rehearsed.verdict]),
    findings: [...st.findings, ...drifted.findings, ...linted.findings, ...rehearsed.findings],
    data: {
      cluster,
      deploy: deployed.data,
      seeded,
      status: st.data,
      pr: { migrations: rehearsed.data.pending, drift: drifted.verdict, lint: linted.verdict, rehearse: rehearsed.verdict, markdown: markdownPath },
    },
  };
}

export function render(result: StepResult<DemoData>): string {
  const pr = result.data.pr;
  if (!pr) return '';
  return `
Demo pull request (${pr.migrations.join(', ')}): drift ${pr.drift}, lint ${pr.lint}, rehearsal ${pr.rehearse}. The report above is in ${pr.markdown}.
Next:
  dbops report                       # the same reports, as the terminal shows them
  dbops migrate new --name <change>  # after editing prisma/schema.prisma: the migration and its rollback
  dbops lint --all                   # every migration and rollback
  dbops rehearse --last 1 --scale 0.1
  dbops local psql -- -c 'SELECT status, count(*) FROM "JournalEntry" GROUP BY 1'
  dbops local down                   # stop the cluster (--destroy deletes it)
`;
}
