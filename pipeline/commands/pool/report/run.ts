import type { StepContext } from '../../../cli/contract.ts';
import { EnvError, UsageError } from '../../../core/errors.ts';
import { alignedTable } from '../../../core/format.ts';
import { verdictOf, type StepResult } from '../../../core/result.ts';
import { parseDatabaseUrl, type DbTarget } from '../../../infra/db/url.ts';
import { readPoolFacts, recommendPools, type PoolReportData } from '../../../operations/topology/index.ts';
import type { PoolReportInputs } from './spec.ts';

async function targets(input: PoolReportInputs, ctx: StepContext): Promise<{ admin: DbTarget; server: DbTarget }> {
  if (input.environment === undefined) {
    if (input.pgbouncerUrl === undefined)
      throw new UsageError('Name the pooler: --environment NAME, or --pgbouncer-url URL of its admin console (with --database-url of the server).');
    return { admin: parseDatabaseUrl(input.pgbouncerUrl, undefined, '--pgbouncer-url'), server: await ctx.database() };
  }
  if (input.pgbouncerUrl !== undefined || input.databaseUrl !== undefined)
    throw new UsageError('--environment names both the admin console and the server: pass it without --pgbouncer-url and --database-url.');
  const { environments } = await ctx.policies('environments');
  const name = input.environment;
  const env = environments.value.environments[name];
  if (!env)
    throw new UsageError(
      `Unknown environment "${name}"; policies/environments.yaml defines ${Object.keys(environments.value.environments).join(', ') || 'none'}.`,
    );
  const adminVar = env.pooler.admin_url_env;
  if (!adminVar)
    throw new UsageError(`Environment "${name}" declares no PgBouncer admin console.`, {
      hint: `Set pooler.admin_url_env of "${name}" in policies/environments.yaml, or pass --pgbouncer-url.`,
    });
  const serverVar = env.pooler.direct_url_env ?? env.database_url_env;
  const read = (v: string) => {
    const url = ctx.env[v];
    if (!url) throw new EnvError(`The variable ${v} of environment "${name}" is empty.`, { hint: `Set ${v}.` });
    return url;
  };
  return {
    admin: parseDatabaseUrl(read(adminVar), undefined, `${adminVar} (the PgBouncer admin console of environment "${name}")`),
    server: parseDatabaseUrl(read(serverVar), undefined, `${serverVar} (the server of environment "${name}")`),
  };
}

/** `dbops pool report`: undersized pools warn; pools over the server's budget fail (exit 1). */
export async function run(input: PoolReportInputs, ctx: StepContext): Promise<StepResult<PoolReportData>> {
  const { admin, server } = await targets(input, ctx);
  ctx.progress(`Reading PgBouncer at ${admin.display} and the sessions of ${server.display} …`);
  const { data, findings } = recommendPools(await readPoolFacts({ admin, server }, ctx.log));
  return { verdict: verdictOf(findings), findings, data };
}

export function render(result: StepResult<PoolReportData>): string {
  const d = result.data;
  const lines = [
    `PgBouncer ${d.pgbouncer} (pool_mode ${d.config.poolMode}, default_pool_size ${d.config.defaultPoolSize}, reserve_pool_size ${d.config.reservePoolSize}, max_client_conn ${d.config.maxClientConn}) in front of ${d.database}.`,
    `Server: max_connections ${d.server.maxConnections}, ${d.server.reserved} reserved: the pools with their reserves must stay below ${d.server.budget}; peak client sessions ${d.server.peakSessions} over ${d.server.samples} samples.`,
    '',
  ];
  if (d.pools.length === 0) lines.push('No pools yet: no client has connected through PgBouncer.');
  else
    lines.push(
      ...alignedTable(
        ['pool', 'mode', 'clients active', 'waiting', 'max wait', 'servers active', 'idle', 'server peak', 'size', 'suggested'],
        d.pools.map((p) => [
          `${p.database}/${p.user}`,
          p.mode,
          String(p.clActive),
          String(p.clWaiting),
          `${p.maxWaitMs} ms`,
          String(p.svActive),
          String(p.svIdle),
          String(p.serverPeak),
          String(p.size),
          `${p.suggested}${p.undersized ? ' (undersized)' : ''}`,
        ]),
      ),
    );
  lines.push('', `Suggested pools with reserves: ${d.total} server connection(s), ${d.withinBudget ? 'below' : 'NOT below'} the budget of ${d.server.budget}.`);
  for (const f of result.findings) lines.push(`${f.severity === 'error' ? '✗' : '!'} ${f.message}`);
  return `${lines.join('\n')}\n`;
}
