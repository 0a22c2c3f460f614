import type { z } from 'zod';
import { ExitCode, RefusedError } from '../../core/errors.ts';
import { serverMajor, withClient } from '../../infra/db/client.ts';
import { parseDatabaseUrl } from '../../infra/db/url.ts';
import { clientTool } from '../../infra/pg/binaries.ts';
import { clusterUrl } from '../../infra/pg/cluster.ts';
import { downLocalCluster, ensureLocalCluster, localStatus, type LocalDown, type LocalStatus } from '../../infra/pg/local.ts';
import type { LocalDownInputs } from './down/spec.ts';
import type { LocalInputs } from '../flags.ts';
import type { LocalPsqlInputs } from './psql/spec.ts';
import { type StepModule } from '../../cli/contract.ts';
import { type StepResult } from '../../core/result.ts';

export type { LocalStatus };

const renderStatus = (s: LocalStatus) =>
  s.problem
    ? `${s.problem.message}${s.exists ? ` Its server is ${s.running ? 'running' : 'not running'}.` : ''}\nFix: ${s.problem.hint}\n`
    : !s.exists
      ? `No embedded cluster in ${s.dir}. Create and start it with \`dbops local up\`.\n`
      : [
          `Embedded PostgreSQL ${s.version} in ${s.dir}: ${s.running ? 'running' : 'stopped'}`,
          `  port      ${s.port}`,
          `  database  ${s.database}`,
          `  url       ${s.url}   (password in ${s.dir}/cluster.json)`,
          `  binaries  ${s.binDir}`,
          '',
        ].join('\n');

const listed = (names: string[], max = 10) => (names.length > max ? `${names.slice(0, max).join(', ')} and ${names.length - max} more` : names.join(', '));

function renderDown(d: LocalDown, destroy: boolean): string {
  const fix = d.problem ? `${d.problem.message}\nFix: ${d.problem.hint}\n` : '';
  if (d.destroyed) {
    const what = `${d.stopped ? 'Stopped and deleted' : 'Deleted'} the ${d.found === 'broken' ? 'unusable ' : ''}embedded cluster in ${d.dir}`;
    if (d.folderRemoved) return `${what}.\n`;
    return `${what} (removed ${listed(d.removed) || 'nothing'}).\nKept the folder and what dbops did not create in it: ${listed(d.kept) || 'nothing, but the folder could not be removed'}.\n`;
  }
  switch (d.found) {
    case 'absent':
      return destroy ? `No embedded cluster in ${d.dir}: nothing to destroy.\n` : `The embedded cluster in ${d.dir} was not running.\n`;
    case 'foreign':
      return destroy
        ? `${d.dir} does not look like a dbops cluster (no cluster.json, no data/PG_VERSION): nothing was removed.\n`
        : `The embedded cluster in ${d.dir} was not running.\n`;
    case 'not-a-folder':
      return `Nothing to ${destroy ? 'destroy' : 'stop'}: dbops did not create what is at ${d.dir} and leaves it untouched.\n${fix}`;
    case 'broken':
      return `${d.stopped ? 'Stopped the server of' : 'No server was running in'} the embedded cluster in ${d.dir}.\n${fix}`;
    case 'cluster':
      return d.stopped ? `Stopped the embedded cluster in ${d.dir}.\n` : `The embedded cluster in ${d.dir} was not running.\n`;
  }
}

export const up: StepModule<z.output<typeof LocalInputs>, LocalStatus & { created: boolean }> = {
  async run(_input, ctx) {
    const env = ctx.env;
    const { created } = await ensureLocalCluster(ctx.log, env);
    return { verdict: 'pass', findings: [], data: { ...(await localStatus(env)), created } };
  },
  render: (r) => `${r.data.created ? 'Created and started' : 'Started'} the embedded cluster.\n${renderStatus(r.data)}`,
};

export const down: StepModule<z.output<typeof LocalDownInputs>, LocalDown> = {
  async run(input, ctx) {
    const data = await downLocalCluster(ctx.log, ctx.env, { destroy: input.destroy });
    return { verdict: data.problem ? 'warn' : 'pass', findings: [], data };
  },
  render: ({ data }, input) => renderDown(data, input.destroy),
};

export const status: StepModule<z.output<typeof LocalInputs>, LocalStatus> = {
  async run(_input, ctx) {
    const data = await localStatus(ctx.env);
    return { verdict: data.problem ? 'warn' : 'pass', findings: [], data };
  },
  render: (r: StepResult<LocalStatus>) => renderStatus(r.data),
};

export const psql: StepModule<z.output<typeof LocalPsqlInputs>, { exitCode: number }> = {
  async run(input, ctx) {
    const env = ctx.env;
    const { cluster } = await ensureLocalCluster(ctx.log, env);
    const target = parseDatabaseUrl(clusterUrl(cluster, input.database));
    const major = await withClient(target, { log: ctx.log, applicationName: 'dbops local psql' }, serverMajor);
    const bin = await clientTool(cluster.bins, 'psql', major);
    // The password travels in the environment, never on the command line (visible in ps).
    const code = await ctx.interactive(
      bin,
      ['-h', '127.0.0.1', '-p', String(cluster.state.port), '-U', cluster.state.superuser, '-d', input.database, ...input.args],
      {
        ...env,
        PGPASSWORD: cluster.state.password,
      },
    );
    if (code !== 0) throw new RefusedError(`psql exited with code ${code}.`);
    return { verdict: 'pass', findings: [], data: { exitCode: code }, exitCode: ExitCode.Ok };
  },
  render: () => '',
};
