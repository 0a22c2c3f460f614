import type { z } from 'zod';
import { ExitCode, RefusedError } from '../../core/errors.ts';
import type { StepModule, StepResult } from '../../core/step.ts';
import { serverMajor, withClient } from '../../db/client.ts';
import { parseDatabaseUrl } from '../../db/url.ts';
import { clientTool } from '../../pg/binaries.ts';
import { clusterUrl, destroyCluster, isRunning, openCluster, stopCluster } from '../../pg/cluster.ts';
import { ensureLocalCluster, LOCAL_DATABASE, localDir } from '../../pg/local.ts';
import type { LocalDownInputs, LocalInputs, LocalPsqlInputs } from '../../registry.ts';

export interface LocalStatus {
  dir: string;
  exists: boolean;
  running: boolean;
  port: number | null;
  version: string | null;
  binDir: string | null;
  database: string;
  /** Connection URL with the password masked; the password is in cluster.json (mode 0600). */
  url: string | null;
  createdAt: string | null;
}

async function describe(): Promise<LocalStatus> {
  const dir = localDir();
  const cluster = await openCluster(dir);
  if (!cluster) return { dir, exists: false, running: false, port: null, version: null, binDir: null, database: LOCAL_DATABASE, url: null, createdAt: null };
  const running = await isRunning(cluster);
  return {
    dir,
    exists: true,
    running,
    port: cluster.state.port,
    version: cluster.bins.version,
    binDir: cluster.bins.binDir,
    database: LOCAL_DATABASE,
    url: parseDatabaseUrl(clusterUrl(cluster, LOCAL_DATABASE)).display,
    createdAt: cluster.state.createdAt,
  };
}

const renderStatus = (s: LocalStatus) =>
  !s.exists
    ? `No embedded cluster in ${s.dir}. Create and start it with \`dbops local up\`.\n`
    : [
        `Embedded PostgreSQL ${s.version} in ${s.dir}: ${s.running ? 'running' : 'stopped'}`,
        `  port      ${s.port}`,
        `  database  ${s.database}`,
        `  url       ${s.url}   (password in ${s.dir}/cluster.json)`,
        `  binaries  ${s.binDir}`,
        '',
      ].join('\n');

export const up: StepModule<z.output<typeof LocalInputs>, LocalStatus & { created: boolean }> = {
  async run(_input, ctx) {
    const { created } = await ensureLocalCluster(ctx.log);
    return { verdict: 'pass', findings: [], data: { ...(await describe()), created } };
  },
  render: (r) => `${r.data.created ? 'Created and started' : 'Started'} the embedded cluster.\n${renderStatus(r.data)}`,
};

export const down: StepModule<z.output<typeof LocalDownInputs>, { dir: string; stopped: boolean; destroyed: boolean }> = {
  async run(input, ctx) {
    const dir = localDir();
    const cluster = await openCluster(dir);
    if (!cluster) return { verdict: 'pass', findings: [], data: { dir, stopped: false, destroyed: false } };
    if (input.destroy) {
      await destroyCluster(cluster, ctx.log);
      return { verdict: 'pass', findings: [], data: { dir, stopped: true, destroyed: true } };
    }
    return { verdict: 'pass', findings: [], data: { dir, stopped: await stopCluster(cluster, ctx.log), destroyed: false } };
  },
  render: ({ data }) =>
    data.destroyed ? `Stopped and deleted the embedded cluster in ${data.dir}.\n` : data.stopped ? `Stopped the embedded cluster in ${data.dir}.\n` : `The embedded cluster in ${data.dir} was not running.\n`,
};

export const status: StepModule<z.output<typeof LocalInputs>, LocalStatus> = {
  async run() {
    return { verdict: 'pass', findings: [], data: await describe() };
  },
  render: (r: StepResult<LocalStatus>) => renderStatus(r.data),
};

export const psql: StepModule<z.output<typeof LocalPsqlInputs>, { exitCode: number }> = {
  async run(input, ctx) {
    const { cluster } = await ensureLocalCluster(ctx.log);
    const target = parseDatabaseUrl(clusterUrl(cluster, input.database));
    const major = await withClient(target, { log: ctx.log, applicationName: 'dbops local psql' }, serverMajor);
    const bin = await clientTool(cluster.bins, 'psql', major);
    // The password travels in the environment, never on the command line (visible in ps).
    const code = await ctx.interactive(bin, ['-h', '127.0.0.1', '-p', String(cluster.state.port), '-U', cluster.state.superuser, '-d', input.database, ...input.args], {
      ...process.env,
      PGPASSWORD: cluster.state.password,
    });
    if (code !== 0) throw new RefusedError(`psql exited with code ${code}.`);
    return { verdict: 'pass', findings: [], data: { exitCode: code }, exitCode: ExitCode.Ok };
  },
  render: () => '',
};
