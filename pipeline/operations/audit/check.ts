import type { Runtime } from '../../core/runtime.ts';
import { withClient, type Client } from '../../infra/db/client.ts';
import type { DbTarget } from '../../infra/db/url.ts';
import type { AuditPolicy } from '../../policy/audit.ts';
import { retentionCovers } from '../../evidence/index.ts';
import { settingIsOn } from '../settings/index.ts';
import type { AuditCheckRow } from './report.ts';
import { quoteIdent } from '../../infra/db/url.ts';

// `dbops audit check`: what the server says about pgaudit and its log (facts, read-only), judged against
// policies/audit.yaml and the evidence retention of policies/environments.yaml (pure).

/** A server setting as the check reads it: null when the server does not know it (pgaudit not loaded). */
export interface AuditFacts {
  database: string;
  settings: Record<string, string | null>;
  /** Installed version of the pgaudit extension in this database; null when it is not created. */
  extension: string | null;
  /** Whether the pgaudit library is installed on the server (pg_available_extensions). */
  available: boolean;
  /** Existing roles among those the policy names. */
  roles: string[];
  /** Table privileges the object-audit role holds directly: `schema.table` → privileges. */
  grants: Record<string, string[]>;
  /** Tables of the policy that exist: `schema.table`. */
  tables: string[];
  /** pgaudit.log per role from pg_db_role_setting: this database's value wins over the one for every database. */
  roleLog: Record<string, string>;
}

export const AUDIT_SETTINGS = [
  'shared_preload_libraries',
  'pgaudit.log',
  'pgaudit.log_parameter',
  'pgaudit.log_catalog',
  'pgaudit.log_relation',
  'pgaudit.role',
  'log_connections',
  'log_disconnections',
  'logging_collector',
  'log_destination',
  'log_timezone',
] as const;

const tableKey = (schema: string, table: string) => `${schema}.${table}`;

/** A row: `good` passes; otherwise `bad` (fail or warn) with its fix and why. */
const row = (name: string, server: string | null, wanted: string, good: boolean, bad: 'fail' | 'warn', fix: string, detail?: string): AuditCheckRow => ({
  name,
  status: good ? 'pass' : bad,
  server,
  wanted,
  ...(good ? {} : { ...(detail ? { detail } : {}), fix }),
});
const quoteTable = (schema: string, table: string) => `${schema === 'public' ? 'public' : quoteIdent(schema)}.${quoteIdent(table)}`;
const ROLE_SOURCES = new Set(['user', 'database user']);

/**
 * A setting's server-wide value: pg_settings, unless what this session sees comes from ALTER ROLE … SET of
 * the connecting role (a migrator connection would see its own pgaudit.log); then the value of the
 * configuration files (pg_file_settings, readable by a superuser or pg_read_all_settings), else the built-in default.
 */
async function serverSetting(c: Client, name: string): Promise<string | null> {
  const row = (
    await c.query<{ setting: string; source: string; boot_val: string | null }>('SELECT setting, source, boot_val FROM pg_settings WHERE name = $1', [name])
  ).rows[0];
  if (!row) return (await c.query<{ v: string | null }>('SELECT current_setting($1, true) AS v', [name])).rows[0]?.v ?? null;
  if (!ROLE_SOURCES.has(row.source)) return row.setting;
  try {
    const file = (
      await c.query<{ setting: string }>('SELECT setting FROM pg_file_settings WHERE name = $1 AND applied AND error IS NULL ORDER BY seqno DESC LIMIT 1', [
        name,
      ])
    ).rows[0];
    return file ? file.setting : row.boot_val;
  } catch {
    return row.setting;
  }
}

/** Everything the checks need from the server, read-only; needs no privilege beyond reading the catalogs. */
export async function readAuditFacts(c: Client, policy: AuditPolicy): Promise<AuditFacts> {
  const settings: Record<string, string | null> = {};
  for (const name of AUDIT_SETTINGS) settings[name] = await serverSetting(c, name);
  const database = (await c.query<{ db: string }>('SELECT current_database() AS db')).rows[0]!.db;
  const extension = (await c.query<{ v: string }>("SELECT extversion AS v FROM pg_extension WHERE extname = 'pgaudit'")).rows[0]?.v ?? null;
  const available = (await c.query("SELECT 1 FROM pg_available_extensions WHERE name = 'pgaudit'")).rows.length > 0;
  const wantedRoles = [policy.object_audit.role, ...Object.keys(policy.roles)];
  const roles = (await c.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])', [wantedRoles])).rows.map((r) => r.rolname);
  const grants: Record<string, string[]> = {};
  const auditRole = policy.object_audit.role;
  if (roles.includes(auditRole)) {
    const rows = await c.query<{ schema: string; table: string; privilege: string }>(
      `SELECT n.nspname AS schema, c.relname AS table, a.privilege_type AS privilege
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
        WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
        ORDER BY 1, 2, 3`,
      [auditRole],
    );
    for (const r of rows.rows) (grants[tableKey(r.schema, r.table)] ??= []).push(r.privilege);
  }
  const declared = policy.object_audit.tables;
  const tables = declared.length
    ? (
        await c.query<{ schema: string; table: string }>(
          `SELECT n.nspname AS schema, c.relname AS table FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE (n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[])) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')`,
          [declared.map((t) => t.schema), declared.map((t) => t.table)],
        )
      ).rows.map((r) => tableKey(r.schema, r.table))
    : [];
  const roleLog: Record<string, string> = {};
  const settingRows = await c.query<{ rolname: string; database_specific: boolean; setconfig: string[] }>(
    `SELECT r.rolname, s.setdatabase <> 0 AS database_specific, s.setconfig
       FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
      WHERE s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
      ORDER BY 2`,
  );
  for (const r of settingRows.rows) {
    const entry = r.setconfig.find((s) => s.startsWith('pgaudit.log='));
    if (entry) roleLog[r.rolname] = entry.slice('pgaudit.log='.length);
  }
  return { database, settings, extension, available, roles, grants, tables, roleLog };
}

// ---- judging -----------------------------------------------------------------------------------------

const classList = (value: string | null | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s && s !== 'none');
const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((x) => b.includes(x));
const settingFix = (name: string, value: string) => `add \`${name}: ${value}\` to settings of policies/postgresql.yaml, then \`dbops settings apply\``;

export interface AuditJudgeInput {
  policy: AuditPolicy;
  /** evidence.retention of policies/environments.yaml. */
  evidenceRetention: string;
}

/** The rows of `dbops audit check`, in the order they are shown. Pure. */
export function judgeAudit(f: AuditFacts, { policy, evidenceRetention }: AuditJudgeInput): AuditCheckRow[] {
  const rows: AuditCheckRow[] = [];
  const s = f.settings;
  const loaded = classList(s['shared_preload_libraries']).includes('pgaudit');
  rows.push({
    name: 'shared_preload_libraries',
    status: loaded ? 'pass' : 'fail',
    server: s['shared_preload_libraries'] ?? null,
    wanted: 'includes pgaudit',
    ...(loaded
      ? {}
      : {
          detail: f.available ? 'pgaudit is installed but not loaded' : 'pgaudit is not installed on the server (apt-get install postgresql-15-pgaudit)',
          fix: 'add pgaudit to shared_preload_libraries of policies/postgresql.yaml, `dbops settings apply`, then restart PostgreSQL',
        }),
  });
  rows.push({
    name: 'extension pgaudit',
    status: f.extension ? 'pass' : 'fail',
    server: f.extension,
    wanted: `created in ${f.database}`,
    ...(f.extension ? {} : { fix: 'CREATE EXTENSION pgaudit;' }),
  });

  const wantedClasses = policy.classes.join(',');
  const log = s['pgaudit.log'] ?? null;
  const logOk = log !== null && sameSet(classList(log), classList(wantedClasses));
  rows.push(row('pgaudit.log', log, wantedClasses, logOk, 'fail', settingFix('pgaudit.log', wantedClasses)));

  // pgaudit's defaults apply when it is not loaded yet: log_parameter off, log_catalog on, log_relation off.
  const param = s['pgaudit.log_parameter'] ?? null;
  rows.push(
    row(
      'pgaudit.log_parameter',
      param,
      'off',
      !settingIsOn(param),
      'fail',
      settingFix('pgaudit.log_parameter', 'off'),
      'statement parameters would write personal data into the log',
    ),
  );
  const catalog = s['pgaudit.log_catalog'] ?? null;
  rows.push(
    row(
      'pgaudit.log_catalog',
      catalog,
      'off',
      catalog !== null && !settingIsOn(catalog),
      'warn',
      settingFix('pgaudit.log_catalog', 'off'),
      'statements that only read the catalogs (psql, GUI tools) fill the log',
    ),
  );
  const relation = s['pgaudit.log_relation'] ?? null;
  rows.push(
    row(
      'pgaudit.log_relation',
      relation,
      'on',
      settingIsOn(relation),
      'warn',
      settingFix('pgaudit.log_relation', 'on'),
      'a statement touching several tables is logged once, not per table',
    ),
  );

  const auditRole = policy.object_audit.role;
  const roleSetting = s['pgaudit.role'] ?? null;
  const roleOk = roleSetting === auditRole;
  rows.push({
    name: 'pgaudit.role',
    status: roleOk ? 'pass' : 'fail',
    server: roleSetting === '' ? null : roleSetting,
    wanted: auditRole,
    ...(roleOk ? {} : { fix: settingFix('pgaudit.role', auditRole) }),
  });
  const roleExists = f.roles.includes(auditRole);
  rows.push({
    name: `role ${auditRole}`,
    status: roleExists ? 'pass' : 'fail',
    server: roleExists ? 'exists' : null,
    wanted: 'exists (NOLOGIN is enough)',
    ...(roleExists ? {} : { fix: `CREATE ROLE ${quoteIdent(auditRole)} NOLOGIN;` }),
  });
  const declared = new Set<string>();
  for (const t of policy.object_audit.tables) {
    const key = tableKey(t.schema, t.table);
    declared.add(key);
    const wanted: string[] = [...new Set(t.privileges)].sort();
    const name = `${auditRole} on ${key}`;
    if (!f.tables.includes(key)) {
      rows.push({
        name,
        status: 'fail',
        server: null,
        wanted: wanted.join(', '),
        detail: `the table ${key} does not exist`,
        fix: 'deploy the migration that creates it, or correct object_audit.tables of policies/audit.yaml',
      });
      continue;
    }
    const held = (f.grants[key] ?? []).slice().sort();
    const missing = wanted.filter((p) => !held.includes(p));
    const extra = held.filter((p) => !wanted.includes(p));
    const target = quoteTable(t.schema, t.table);
    const fixes = [
      ...(missing.length ? [`GRANT ${missing.join(', ')} ON ${target} TO ${quoteIdent(auditRole)};`] : []),
      ...(extra.length ? [`REVOKE ${extra.join(', ')} ON ${target} FROM ${quoteIdent(auditRole)};`] : []),
    ];
    rows.push({
      name,
      status: missing.length ? 'fail' : extra.length ? 'warn' : 'pass',
      server: held.length ? held.join(', ') : null,
      wanted: wanted.join(', '),
      ...(missing.length ? { detail: `not audited: ${missing.join(', ')}` } : extra.length ? { detail: `audited beyond the policy: ${extra.join(', ')}` } : {}),
      ...(fixes.length ? { fix: fixes.join(' ') } : {}),
    });
  }
  for (const [key, held] of Object.entries(f.grants).sort(([a], [b]) => a.localeCompare(b))) {
    if (declared.has(key)) continue;
    const [schema, ...rest] = key.split('.');
    rows.push({
      name: `${auditRole} on ${key}`,
      status: 'warn',
      server: held.join(', '),
      wanted: 'none (not in object_audit.tables)',
      detail: 'audited beyond the policy',
      fix: `REVOKE ${held.join(', ')} ON ${quoteTable(schema!, rest.join('.'))} FROM ${quoteIdent(auditRole)}; or declare the table in object_audit.tables of policies/audit.yaml`,
    });
  }

  for (const [role, { classes }] of Object.entries(policy.roles)) {
    const wanted = classes.join(',');
    const value = f.roleLog[role] ?? null;
    const ok = value !== null && sameSet(classList(value), classList(wanted));
    const exists = f.roles.includes(role);
    rows.push({
      name: `pgaudit.log of role ${role}`,
      status: ok && exists ? 'pass' : 'fail',
      server: value,
      wanted,
      ...(ok && exists
        ? {}
        : exists
          ? { fix: `ALTER ROLE ${quoteIdent(role)} SET pgaudit.log = '${wanted}';` }
          : {
              detail: `the role ${role} does not exist`,
              fix: `create it (policies/access.yaml, \`dbops access apply\`), then ALTER ROLE ${quoteIdent(role)} SET pgaudit.log = '${wanted}';`,
            }),
    });
  }

  if (policy.connections) {
    for (const name of ['log_connections', 'log_disconnections']) {
      const v = s[name] ?? null;
      rows.push(row(name, v, 'on', settingIsOn(v), 'fail', settingFix(name, 'on')));
    }
  }
  const collector = s['logging_collector'] ?? null;
  rows.push(row('logging_collector', collector, 'on', settingIsOn(collector), 'fail', `${settingFix('logging_collector', 'on')}, then restart PostgreSQL`));
  const destination = s['log_destination'] ?? null;
  const destinations = classList(destination);
  rows.push(
    row(
      'log_destination',
      destination,
      `includes ${policy.log_format}`,
      destinations.includes(policy.log_format),
      'fail',
      settingFix('log_destination', [...destinations, policy.log_format].join(',')),
    ),
  );
  // The log stamps each line with a zone abbreviation (CET, EST…), which cannot be read back unambiguously: the
  // collector reads UTC (or GMT) only.
  const zone = s['log_timezone'] ?? null;
  const utc = zone !== null && /^(UTC|GMT|Etc\/UTC|Etc\/GMT|UCT|Zulu|Etc\/Zulu)$/i.test(zone);
  rows.push(row('log_timezone', zone, 'UTC', utc, 'fail', settingFix('log_timezone', 'UTC')));
  const covers = retentionCovers(evidenceRetention, policy.retention);
  rows.push({
    name: 'evidence retention',
    status: covers ? 'pass' : 'fail',
    server: evidenceRetention,
    wanted: `at least ${policy.retention}`,
    ...(covers
      ? {}
      : {
          detail: 'the audit segments are evidence bundles and would be pruned before the policy allows',
          fix: `set evidence.retention of policies/environments.yaml to ${policy.retention} or longer`,
        }),
  });
  return rows;
}

/** Reads the facts and judges them. */
export async function surveyAudit(target: DbTarget, input: AuditJudgeInput, rt: Runtime): Promise<{ facts: AuditFacts; checks: AuditCheckRow[] }> {
  const facts = await withClient(target, { log: rt.log, applicationName: 'dbops audit check' }, (c) => readAuditFacts(c, input.policy));
  return { facts, checks: judgeAudit(facts, input) };
}
