import type { PostgresqlPolicy } from '../../policy/postgresql.ts';
import { tuningAdvice, type Advice } from './advice.ts';
import { listOf, sameValue, type ServerSetting } from './values.ts';

/**
 * What the server should run with, and how far it is from it. Pure: the wanted settings are merged from
 * their sources (advice from resources < file-wide settings < the environment's settings; the archiving
 * settings of pitr:; shared_preload_libraries as a set), then judged against pg_settings.
 */

export interface WantedSetting {
  name: string;
  value: string;
  /** Where the value comes from, for humans: `advice: 25 % of memory (64GB)`, `policies/postgresql.yaml settings`. */
  source: string;
  /** What dbops writes it with: `settings apply` (dbops-settings.conf) or `pitr enable` (dbops-pitr.conf). */
  writer: 'settings' | 'pitr';
  /** The advice for this setting when a declared value overrides it (shown beside, never enforced). */
  advice?: Advice | undefined;
}

export type SettingStatus = 'ok' | 'drift' | 'pending-restart' | 'unknown' | 'invalid';

export interface SettingCheck extends WantedSetting {
  status: SettingStatus;
  /** How SHOW prints the server's value (null when the server knows no such setting). */
  server: string | null;
  /** The server applies it only at a restart (context postmaster). */
  restart: boolean;
  /** What is wrong, when something is. */
  problem?: string;
  /** The command or change that fixes it. */
  fix?: string;
}

export interface SettingsPlan {
  /** The postgresql.yaml environment the settings were taken from (`local` for a bare database URL). */
  environment: string;
  /** Whether that environment declares resources (otherwise there is no advice). */
  advised: boolean;
  checks: SettingCheck[];
  counts: Record<SettingStatus, number>;
}

/** The setting that holds the libraries to preload; a set, never replaced. */
export const PRELOAD = 'shared_preload_libraries';

/**
 * The wanted settings of `environment` by precedence: advice < file-wide settings < the environment's own;
 * then the archiving settings (`archive`, from pitr:, when the database is archived by dbops) and the preload
 * libraries: the declared ones added to those the server already has (`serverPreload`).
 */
export function wantedSettings(
  policy: PostgresqlPolicy,
  environment: string,
  archive: Record<string, string> | undefined,
  serverPreload: string[],
): WantedSetting[] {
  const env = policy.environments[environment];
  const wanted = new Map<string, WantedSetting>();
  const advice = env?.resources ? tuningAdvice(env.resources) : [];
  for (const a of advice) wanted.set(a.name, { name: a.name, value: a.value, source: `advice: ${a.rule}`, writer: 'settings' });
  const declare = (settings: Record<string, string>, where: string) => {
    for (const [name, value] of Object.entries(settings)) {
      const a = advice.find((x) => x.name === name);
      wanted.set(name, { name, value, source: `policies/postgresql.yaml ${where}`, writer: 'settings', ...(a ? { advice: a } : {}) });
    }
  };
  declare(policy.settings, 'settings');
  if (env) declare(env.settings, `environments.${environment}.settings`);
  for (const [name, value] of Object.entries(archive ?? {}))
    wanted.set(name, { name, value, source: 'pitr: in policies/backups.yaml (dbops pitr enable)', writer: 'pitr' });
  const declared = [...policy.shared_preload_libraries, ...(env?.shared_preload_libraries ?? [])];
  const missing = declared.filter((l) => !serverPreload.includes(l));
  wanted.set(PRELOAD, {
    name: PRELOAD,
    value: [...serverPreload, ...new Set(missing)].join(','),
    source: `policies/postgresql.yaml shared_preload_libraries (${declared.join(', ') || 'none'}), kept with the server's own`,
    writer: 'settings',
  });
  return [...wanted.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Judges each wanted setting against the server's (`server` by name; a name absent is unknown to the server). */
export function checkSettings(environment: string, advised: boolean, wanted: WantedSetting[], server: Map<string, ServerSetting>): SettingsPlan {
  const checks = wanted.map((w): SettingCheck => {
    const s = server.get(w.name);
    const writerFix = w.writer === 'pitr' ? '`dbops pitr enable`' : '`dbops settings apply`';
    if (!s) {
      const module = w.name.includes('.') ? w.name.split('.')[0] : undefined;
      return {
        ...w,
        status: 'unknown',
        server: null,
        restart: false,
        problem: `the server knows no setting ${w.name}`,
        fix: module
          ? `preload its module: add ${module} to shared_preload_libraries (then restart), or correct the name`
          : 'correct the name in policies/postgresql.yaml',
      };
    }
    const restart = s.context === 'postmaster';
    const base = { ...w, server: s.shown, restart };
    if (w.name === PRELOAD) {
      const missing = listOf(w.value).filter((l) => !listOf(s.setting).includes(l));
      if (s.pendingRestart)
        return { ...base, status: 'pending-restart', problem: 'changed in the configuration, in force only after a restart', fix: 'restart PostgreSQL' };
      if (missing.length > 0)
        return { ...base, status: 'drift', problem: `not preloaded: ${missing.join(', ')}`, fix: `${writerFix}, then restart PostgreSQL` };
      return { ...base, status: 'ok' };
    }
    const same = sameValue(w.value, s);
    if (same === undefined)
      return {
        ...base,
        status: 'invalid',
        problem: `'${w.value}' is not a valid ${s.vartype}${s.unit ? ` in ${s.unit}` : ''} value`,
        fix: 'correct the value in policies/postgresql.yaml',
      };
    if (s.pendingRestart)
      return { ...base, status: 'pending-restart', problem: 'the configuration holds a new value, in force only after a restart', fix: 'restart PostgreSQL' };
    if (same) return { ...base, status: 'ok' };
    const auto = s.sourcefile?.endsWith('postgresql.auto.conf');
    const where = s.sourcefile ? ` (set by ${s.sourcefile}:${s.sourceline})` : '';
    return {
      ...base,
      status: 'drift',
      problem: `the server runs ${base.server}${where}, ${w.value} is wanted`,
      fix: auto ? `ALTER SYSTEM RESET ${w.name}; then ${writerFix}` : `${writerFix}${restart ? ', then restart PostgreSQL' : ''}`,
    };
  });
  const counts = { ok: 0, drift: 0, 'pending-restart': 0, unknown: 0, invalid: 0 } satisfies Record<SettingStatus, number>;
  for (const c of checks) counts[c.status]++;
  return { environment, advised, checks, counts };
}
