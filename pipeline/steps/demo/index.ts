import { RefusedError } from '../../core/errors.ts';
import type { StepContext, StepResult } from '../../core/step.ts';
import { parseDatabaseUrl } from '../../db/url.ts';
import { ensureLocalDatabase } from '../../pg/local.ts';
import type { DemoInputs, MigrateInputs } from '../../registry.ts';
import * as deploy from '../migrate/deploy.ts';
import * as status from '../migrate/status.ts';
import * as seed from '../seed/index.ts';
import type { z } from 'zod';

export interface DemoData {
  cluster: { dir: string; port: number; major: number };
  deploy: deploy.DeployData;
  seeded: boolean;
  /** Absent when the deploy failed and the demo stopped there. */
  status?: status.StatusData;
}

/**
 * The first thing to run on a new machine: the embedded cluster, the AstroFinance migrations, a small
 * dataset and the resulting status, through the same steps the individual commands run. It always uses the
 * embedded cluster, whatever DATABASE_URL says: a demo must never write to a real database.
 */
export async function run(input: z.output<typeof DemoInputs>, ctx: StepContext): Promise<StepResult<DemoData>> {
  const local = await ensureLocalDatabase(ctx.log);
  const target = parseDatabaseUrl(local.url);
  const localCtx: StepContext = { ...ctx, database: async () => target };
  ctx.progress(`Embedded PostgreSQL ${local.major} in ${local.dir}, port ${local.port} (\`dbops local status\`, \`dbops local psql\`).\n`);

  const migrateInput: MigrateInputs = { migrationsDir: input.migrationsDir, policiesDir: input.policiesDir, json: false, databaseUrl: undefined, schema: undefined };
  ctx.progress('── 1/3 dbops migrate deploy');
  const deployed = await deploy.run(migrateInput, localCtx);
  ctx.progress(deploy.render(deployed));
  const cluster = { dir: local.dir, port: local.port, major: local.major };
  if (deployed.error) return { verdict: 'fail', findings: [], data: { cluster, deploy: deployed.data, seeded: false }, error: deployed.error, exitCode: deployed.exitCode };

  ctx.progress(`── 2/3 dbops seed --scale ${input.scale}`);
  let seeded = true;
  try {
    const result = await seed.run({ scale: input.scale, seed: 42, json: false, databaseUrl: undefined, schema: undefined }, localCtx);
    ctx.progress(seed.render(result));
  } catch (e) {
    if (!(e instanceof RefusedError)) throw e;
    seeded = false;
    ctx.progress(`Skipped: ${e.message}\n`);
  }

  ctx.progress('── 3/3 dbops migrate status');
  const st = await status.run(migrateInput, localCtx);
  return {
    verdict: st.verdict,
    findings: st.findings,
    data: { cluster, deploy: deployed.data, seeded, status: st.data },
  };
}

export function render(result: StepResult<DemoData>): string {
  if (!result.data.status) return '';
  return `${status.render({ ...result, data: result.data.status })}
Next:
  dbops local psql -- -c 'SELECT status, count(*) FROM "JournalEntry" GROUP BY 1'
  dbops migrate status --json
  dbops local down            # stop the cluster (--destroy deletes it)
`;
}
