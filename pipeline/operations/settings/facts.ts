import { ConfigError } from '../../core/errors.ts';
import type { Runtime } from '../../core/runtime.ts';
import { withClient, type Client } from '../../infra/db/client.ts';
import type { DbTarget } from '../../infra/db/url.ts';
import type { BackupsPolicy } from '../../policy/backups.ts';
import type { PostgresqlPolicy } from '../../policy/postgresql.ts';
import { archiveSettingsOf, pitrPolicyOf, resolveSite, type PitrSite } from '../../protection/pitr/index.ts';
import { checkSettings, PRELOAD, wantedSettings, type SettingsPlan } from './plan.ts';
import { listOf, type ServerSetting, type VarType } from './values.ts';

/** The settings named, as the server reports them; a module's setting absent from pg_settings is read with current_setting (a placeholder) or left out. */
export async function serverSettings(c: Client, names: string[]): Promise<Map<string, ServerSetting>> {
  const { rows } = await c.query<{
    name: string;
    setting: string;
    shown: string;
    unit: string | null;
    vartype: VarType;
    context: string;
    pending_restart: boolean;
    sourcefile: string | null;
    sourceline: number | null;
  }>(
    `SELECT name, setting, current_setting(name) AS shown, unit, vartype, context, pending_restart, sourcefile, sourceline
       FROM pg_settings WHERE name = ANY($1::text[])`,
    [names],
  );
  const found = new Map<string, ServerSetting>(
    rows.map((r) => [
      r.name,
      {
        name: r.name,
        known: true,
        setting: r.setting,
        shown: r.shown,
        unit: r.unit,
        vartype: r.vartype,
        context: r.context,
        pendingRestart: r.pending_restart,
        sourcefile: r.sourcefile,
        sourceline: r.sourceline,
      },
    ]),
  );
  for (const name of names.filter((n) => !found.has(n) && n.includes('.'))) {
    const v = (await c.query<{ v: string | null }>('SELECT current_setting($1, true) AS v', [name])).rows[0]?.v ?? null;
    if (v !== null)
      found.set(name, {
        name,
        known: false,
        setting: v,
        shown: v,
        unit: null,
        vartype: 'string',
        context: 'user',
        pendingRestart: false,
        sourcefile: null,
        sourceline: null,
      });
  }
  return found;
}

/** What a survey learns once about a server: where it lives, the archiving settings that depend on it, and what it could not look at. */
export interface SettingsLocation {
  /** Where the cluster lives, when it could be found out (a superuser connection). */
  site?: PitrSite | undefined;
  archive?: Record<string, string> | undefined;
  /** What the survey could not look at, for the output. */
  notes: string[];
}

export interface SettingsSurvey extends SettingsLocation {
  plan: SettingsPlan;
}

type SettingsPolicies = { postgresql: PostgresqlPolicy; backups: BackupsPolicy };

/** Where the cluster lives (pgBackRest's site resolution) and what that makes of the archiving settings of pitr:. */
async function locate(target: DbTarget, policies: SettingsPolicies, environment: string, rt: Runtime): Promise<SettingsLocation> {
  const notes: string[] = [];
  let site: PitrSite | undefined;
  try {
    site = await resolveSite(target, policies.backups, rt);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    notes.push(`where the cluster lives is unknown (${e.message}); settings apply needs a superuser connection`);
  }
  let archive: Record<string, string> | undefined;
  if (pitrPolicyOf(policies.backups).configured) {
    if (site) archive = archiveSettingsOf(site);
    else notes.push('the archiving settings of pitr: were not checked: they depend on where the cluster lives');
  }
  if (!policies.postgresql.environments[environment])
    notes.push(`policies/postgresql.yaml declares no environment ${environment}: only its file-wide settings apply, and there is no tuning advice`);
  return { site, archive, notes };
}

/**
 * Reads what the server runs with and judges it against policies/postgresql.yaml for `environment` (`local`
 * for a bare URL). The archiving settings are wanted when backups.yaml has a pitr: section. `location`: what
 * an earlier survey of the same server found (apply judges again after its reload without locating again).
 */
export async function surveySettings(
  target: DbTarget,
  policies: SettingsPolicies,
  environment: string,
  rt: Runtime,
  location?: SettingsLocation,
): Promise<SettingsSurvey> {
  const where = location ?? (await locate(target, policies, environment, rt));
  return withClient(target, { log: rt.log, applicationName: 'dbops settings' }, async (c) => {
    const preload = listOf((await c.query<{ v: string }>(`SELECT current_setting('${PRELOAD}') AS v`)).rows[0]!.v);
    const wanted = wantedSettings(policies.postgresql, environment, where.archive, preload);
    const server = await serverSettings(
      c,
      wanted.map((w) => w.name),
    );
    const advised = policies.postgresql.environments[environment]?.resources !== undefined;
    return { ...where, plan: checkSettings(environment, advised, wanted, server) };
  });
}
