import { sleep } from '../../core/duration.ts';
import { ConfigError } from '../../core/errors.ts';
import { names } from '../../core/format.ts';
import type { Runtime } from '../../core/runtime.ts';
import { withClient } from '../../infra/db/client.ts';
import type { DbTarget } from '../../infra/db/url.ts';
import { ensureInclude, includeFilePath, renderSettingsFile, writeServerFile } from '../../infra/pg/conf.ts';
import type { BackupsPolicy } from '../../policy/backups.ts';
import type { PostgresqlPolicy } from '../../policy/postgresql.ts';
import { surveySettings } from './facts.ts';
import type { SettingsPlan, WantedSetting } from './plan.ts';

/**
 * The settings applier: writes what policies/postgresql.yaml wants into dbops-settings.conf beside
 * postgresql.conf and reloads, for a cluster on this machine; never restarts (a setting that needs one is
 * named), and proves the result by checking again. For a server elsewhere it returns the file to install.
 */

export const SETTINGS_FILE = 'dbops-settings.conf';
const HEADER = 'Written by `dbops settings apply` from policies/postgresql.yaml. dbops rewrites this file; edit the policy instead.';
/** The postmaster applies a reload asynchronously: polled this long for the new values. */
const SETTLE_MS = 5000;

export interface SettingsApplyData {
  database: string;
  environment: string;
  /** Before and after (the same plan when nothing was written). */
  before: SettingsPlan;
  after: SettingsPlan;
  /** The include file, when the cluster is on this machine. */
  file: string | null;
  /** The file's text (for a server elsewhere: what to install there). */
  text: string;
  actions: string[];
  /** Settings written that take effect only at a restart, which dbops does not do. */
  needsRestart: string[];
  /** The server is elsewhere: nothing was changed, `text` is to be installed there. */
  remote: boolean;
}

/** The settings dbops-settings.conf holds: everything wanted that `settings apply` writes (archiving is pitr enable's). */
export const fileSettings = (wanted: WantedSetting[]): Record<string, string> =>
  Object.fromEntries(wanted.filter((w) => w.writer === 'settings').map((w) => [w.name, w.value]));

/** Values the server would reject: written into postgresql.conf they would stop the next start, so nothing is written. */
function refuseInvalid(plan: SettingsPlan): void {
  const bad = plan.checks.filter((c) => c.writer === 'settings' && (c.status === 'invalid' || (c.status === 'unknown' && !c.name.includes('.'))));
  if (bad.length === 0) return;
  throw new ConfigError(
    `policies/postgresql.yaml: ${names(bad.map((c) => `${c.name} = '${c.value}' (${c.problem})`))}. Nothing was written: PostgreSQL refuses to start with an invalid setting in its configuration.`,
    { hint: bad.map((c) => c.fix).join('; ') },
  );
}

export async function applySettings(
  target: DbTarget,
  policies: { postgresql: PostgresqlPolicy; backups: BackupsPolicy },
  environment: string,
  rt: Runtime,
): Promise<SettingsApplyData> {
  const survey = await surveySettings(target, policies, environment, rt);
  refuseInvalid(survey.plan);
  const wanted = survey.plan.checks;
  const text = renderSettingsFile(HEADER, fileSettings(wanted));
  const data: SettingsApplyData = {
    database: `${target.host}:${target.port}/${target.database}`,
    environment,
    before: survey.plan,
    after: survey.plan,
    file: null,
    text,
    actions: [],
    needsRestart: [],
    remote: false,
  };
  const site = survey.site;
  if (!site)
    throw new ConfigError(`settings apply must find the server's configuration file: ${survey.notes[0] ?? 'it could not be read'}.`, {
      hint: 'Connect as a superuser (or a member of pg_read_all_settings with EXECUTE on pg_control_system()).',
    });
  if (site.kind !== 'local') return { ...data, remote: true };

  const file = includeFilePath(site.configFile, SETTINGS_FILE);
  data.file = file;
  if (await writeServerFile(file, text, site.runAs)) data.actions.push(`wrote ${file}`);
  if (await ensureInclude(site.configFile, SETTINGS_FILE, 'dbops settings: policies/postgresql.yaml', site.runAs))
    data.actions.push(`included ${SETTINGS_FILE} from ${site.configFile}`);
  const drifted = survey.plan.checks.some((c) => c.status === 'drift');
  if (data.actions.length === 0 && !drifted) return data;

  await withClient(target, { log: rt.log, applicationName: 'dbops settings apply' }, (c) => c.query('SELECT pg_reload_conf()'));
  data.actions.push('reloaded the server configuration');
  // Until every setting the reload can change is in force, or the postmaster says it waits for a restart.
  const judge = async () => (await surveySettings(target, policies, environment, rt, survey)).plan;
  let after = await judge();
  for (const deadline = Date.now() + SETTLE_MS; after.checks.some((c) => c.status === 'drift' && !c.restart) && Date.now() < deadline;) {
    await sleep(100, rt.signal);
    after = await judge();
  }
  data.after = after;
  // A postmaster setting dbops wrote is pending_restart once reloaded; one still drifting is overridden (auto.conf), not waiting.
  data.needsRestart = after.checks.filter((c) => c.status === 'pending-restart').map((c) => c.name);
  return data;
}
