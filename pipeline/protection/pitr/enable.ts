import { chown, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { sleep } from '../../core/duration.ts';
import { ConfigError, EnvError } from '../../core/errors.ts';
import { redact } from '../../core/redact.ts';
import type { Runtime } from '../../core/runtime.ts';
import { withClient } from '../../infra/db/client.ts';
import type { DbTarget } from '../../infra/db/url.ts';
import { localDir } from '../../infra/pg/local.ts';
import { restartServerIn } from '../../infra/pg/cluster.ts';
import { ensureInclude, renderSettingsFile, writeServerFile } from '../../infra/pg/conf.ts';
import { mustPgbackrest, renderConfig, writeConfig } from '../../infra/pgbackrest/pgbackrest.ts';
import type { BackupsPolicy } from '../../policy/backups.ts';
import { beat, CRON_JOB, ensureHeartbeatTable, scheduleHeartbeat } from './heartbeat.ts';
import {
  archiveSettings,
  archiveSettingsOf,
  databaseHostConfigOf,
  INCLUDE_COMMENT,
  INCLUDE_NAME,
  includePath,
  pgbackrestConfigOf,
  pgbackrestFor,
  repositoriesOf,
  resolveSite,
  saveSite,
  type ArchiveSetting,
  type PitrSite,
} from './site.ts';

export interface PitrEnableData {
  database: string;
  stanza: string;
  site: PitrSite['kind'];
  embedded: boolean;
  dataDir: string;
  stateDir: string;
  configPath: string;
  /** What this run changed, in order; empty when everything was already in place. */
  actions: string[];
  restarted: boolean;
  /** Who writes dbops.heartbeat: pg_cron every minute, or the `dbops pitr heartbeat` service. */
  heartbeat: 'pg_cron' | 'dbops pitr heartbeat';
  /** For a remote server: the files to install there (secrets masked). */
  install?: { pgbackrestConf: string; postgresqlConf: string; commands: string[] };
  /**
   * On a repository host (pitr.database_host): what the database host needs (secrets masked), and whether
   * archiving reaches this machine (`pgbackrest check` passed). Until it does, enable prints this and exit 0.
   */
  databaseHost?: {
    configPath: string;
    pgbackrestConf: string;
    postgresqlConf: string;
    /** The TLS server each host runs as a service: the database host's (for backups) and this machine's (for archive-push). */
    serverCommand: string;
    repositoryServerCommand: string;
    checked: boolean;
  };
}

const CONFIG_COMMENT = 'Written by `dbops pitr enable` from policies/backups.yaml (pitr:); dbops rewrites it, edit the policy instead.';

const settingsText = (wanted: Record<string, string>) =>
  renderSettingsFile(
    'Written by `dbops pitr enable`: WAL archiving through pgBackRest. dbops rewrites this file; edit policies/backups.yaml (pitr:) instead.',
    wanted,
  );

async function ensureFolder(path: string, site: PitrSite): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o750 });
  if (site.runAs) await chown(path, site.runAs.uid, site.runAs.gid);
}

const readSettings = (target: DbTarget, rt: Runtime) => withClient(target, { log: rt.log, applicationName: 'dbops pitr enable' }, archiveSettings);

const reload = (target: DbTarget, rt: Runtime) =>
  withClient(target, { log: rt.log, applicationName: 'dbops pitr enable' }, (c) => c.query('SELECT pg_reload_conf()'));

/** archive_timeout is reported in seconds, archive_mode as on/off: the wanted text compared as the server shows it. */
const effective = (wanted: string, s: ArchiveSetting | undefined) => s !== undefined && s.setting === wanted;

/**
 * After a reload, the settings the server reports: waits until each wanted one is in force or waits for a
 * restart (the postmaster applies a reload asynchronously).
 */
async function settle(target: DbTarget, wanted: Record<string, string>, rt: Runtime): Promise<Record<string, ArchiveSetting>> {
  let settings = await readSettings(target, rt);
  for (let i = 0; i < 50 && !Object.entries(wanted).every(([k, v]) => effective(v, settings[k]) || settings[k]?.pendingRestart); i++) {
    await sleep(100, rt.signal);
    settings = await readSettings(target, rt);
  }
  return settings;
}

/** Settings another file sets after dbops' include (postgresql.auto.conf, a later line): named, with the fix. */
function overridden(wanted: Record<string, string>, settings: Record<string, ArchiveSetting>, site: PitrSite): string[] {
  return Object.entries(wanted)
    .filter(
      ([k, v]) => !effective(v, settings[k]) && !settings[k]?.pendingRestart && settings[k]?.sourcefile && !settings[k]!.sourcefile!.endsWith(INCLUDE_NAME),
    )
    .map(([k]) => {
      const s = settings[k]!;
      const fix = s.sourcefile!.endsWith('postgresql.auto.conf') ? `run \`ALTER SYSTEM RESET ${k}\`` : `remove that line`;
      return `${k} is set to '${s.setting}' by ${s.sourcefile}:${s.sourceline}, which wins over ${includePath(site)}: ${fix}`;
    });
}

/**
 * Turns on WAL archiving through pgBackRest for a cluster on this machine: pgBackRest's configuration,
 * dbops' settings include file (never ALTER SYSTEM), a reload or, for archive_mode, a restart only when
 * needed, stanza-create and check. Running it again changes nothing when all is in place and rewrites what
 * drifted. For a cluster elsewhere it returns what to install there.
 */
export async function enablePitr(input: { target: DbTarget; backups: BackupsPolicy }, rt: Runtime): Promise<PitrEnableData> {
  const site = await resolveSite(input.target, input.backups, rt);
  const config = pgbackrestConfigOf(site, rt.env);
  const wanted = archiveSettingsOf(site);
  const data: PitrEnableData = {
    database: `${site.target.host}:${site.target.port}/${site.target.database}`,
    stanza: site.policy.stanza,
    site: site.kind,
    embedded: site.embedded,
    dataDir: site.dataDir,
    stateDir: site.stateDir,
    configPath: site.configPath,
    actions: [],
    restarted: false,
    heartbeat: 'dbops pitr heartbeat',
  };
  if (site.kind === 'remote') {
    data.install = {
      pgbackrestConf: redact(renderConfig(config, CONFIG_COMMENT)),
      postgresqlConf: settingsText(wanted),
      commands: [
        `pgbackrest --config=${site.configPath} --stanza=${site.policy.stanza} stanza-create`,
        `pgbackrest --config=${site.configPath} --stanza=${site.policy.stanza} check`,
      ],
    };
    return data;
  }

  for (const folder of [site.stateDir, ...['log', 'lock', 'spool'].map((f) => join(site.stateDir, f))]) await ensureFolder(folder, site);
  for (const repo of repositoriesOf(site)) if (repo.type === 'directory') await ensureFolder(resolve(repo.path), site);
  if (await writeConfig(site.configPath, renderConfig(config, CONFIG_COMMENT), site.runAs)) data.actions.push(`wrote ${site.configPath}`);
  await saveSite(site);
  if (site.kind === 'repository') return enableRepositoryHost(site, wanted, data, rt);
  // The stanza before archiving starts: on a busy server a segment can complete between the restart and
  // stanza-create, and its archive-push would fail (no archive.info yet) and stay in pg_stat_archiver.
  await createStanza(site, data, rt);

  if (await writeServerFile(includePath(site), settingsText(wanted), site.runAs)) data.actions.push(`wrote ${includePath(site)}`);
  if (await ensureInclude(site.configFile, INCLUDE_NAME, INCLUDE_COMMENT, site.runAs)) data.actions.push(`included ${INCLUDE_NAME} from ${site.configFile}`);

  let settings = site.settings;
  if (!Object.entries(wanted).every(([k, v]) => effective(v, settings[k]))) {
    await reload(site.target, rt);
    settings = await settle(site.target, wanted, rt);
    data.actions.push('reloaded the server configuration');
    const wins = overridden(wanted, settings, site);
    if (wins.length) throw new ConfigError(`dbops' archiving settings are overridden:\n${wins.map((w) => `  ${w}`).join('\n')}`);
    if (Object.keys(wanted).some((k) => settings[k]?.pendingRestart)) {
      rt.progress(`Restarting PostgreSQL (${site.dataDir}) for archive_mode …`);
      const logFile = site.embedded ? join(localDir(rt.env), 'postgres.log') : join(site.stateDir, 'postgres.log');
      await restartServerIn(site.dataDir, logFile, rt.log, rt.env);
      data.restarted = true;
      data.actions.push('restarted PostgreSQL (archive_mode takes effect only at start)');
      settings = await readSettings(site.target, rt);
    }
    const missing = Object.entries(wanted).filter(([k, v]) => !effective(v, settings[k]));
    if (missing.length)
      throw new ConfigError(
        `After the reload${data.restarted ? ' and restart' : ''} the server still reports ${missing.map(([k]) => `${k} = '${settings[k]?.setting ?? '?'}'`).join(', ')}.`,
        { hint: `Check that ${site.configFile} includes ${INCLUDE_NAME} after every other setting of these names.` },
      );
  }

  return checkAndHeartbeat(site, data, rt);
}

async function createStanza(site: PitrSite, data: PitrEnableData, rt: Runtime): Promise<void> {
  const created = await mustPgbackrest(pgbackrestFor(site, rt), 'stanza-create');
  if (!/already exists/.test(created.stdout)) data.actions.push(`created stanza ${site.policy.stanza}`);
}

/** check (WAL reaches every repository), and the heartbeat table with a first beat. */
async function checkAndHeartbeat(site: PitrSite, data: PitrEnableData, rt: Runtime): Promise<PitrEnableData> {
  rt.progress('Checking that WAL reaches every repository (pgbackrest check) …');
  await mustPgbackrest(pgbackrestFor(site, rt), 'check');
  // The heartbeat: in the target database, written once now so a restore has one to measure by.
  await withClient(site.target, { log: rt.log, applicationName: 'dbops pitr enable' }, async (c) => {
    if (await ensureHeartbeatTable(c)) data.actions.push('created dbops.heartbeat');
    await beat(c);
  });
  const cron = await scheduleHeartbeat(site.target, rt);
  if (cron === 'scheduled') data.actions.push(`scheduled the heartbeat with pg_cron (job ${CRON_JOB}, every minute)`);
  if (cron !== 'absent') data.heartbeat = 'pg_cron';
  return data;
}

/**
 * On the repository host: the configuration here is written; the database host's is printed (dbops cannot
 * write files there). Once the server reports dbops' archive_command, the stanza is created and checked from
 * here, which proves both TLS servers and archive-push; before, enable prints what to install and exits 0.
 */
async function enableRepositoryHost(site: PitrSite, wanted: Record<string, string>, data: PitrEnableData, rt: Runtime): Promise<PitrEnableData> {
  const host = site.policy.database_host!;
  data.databaseHost = {
    configPath: host.config,
    pgbackrestConf: redact(renderConfig(databaseHostConfigOf(site, rt.env), CONFIG_COMMENT)),
    postgresqlConf: settingsText(wanted),
    serverCommand: `pgbackrest --config=${host.config} server`,
    repositoryServerCommand: `pgbackrest --config=${site.configPath} server${site.runAs ? ` (as ${site.runAs.user})` : ''}`,
    checked: false,
  };
  const archiving = Object.entries(wanted).every(([k, v]) => effective(v, site.settings[k]));
  if (!archiving) return data;
  try {
    await createStanza(site, data, rt);
    await checkAndHeartbeat(site, data, rt);
  } catch (e) {
    if (e instanceof EnvError && !e.hint)
      throw new EnvError(e.message, {
        hint: `Both TLS servers must run: \`${data.databaseHost.serverCommand}\` on ${host.host} and \`${data.databaseHost.repositoryServerCommand}\` here, with the certificates of ${host.tls_dir} (CN ${host.client_cn} for the clients).`,
      });
    throw e;
  }
  data.databaseHost.checked = true;
  return data;
}
