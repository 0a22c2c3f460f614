import { z } from 'zod';
import { Size } from './size.ts';

/**
 * policies/postgresql.yaml: the server settings of each environment as code. Values are written the way
 * postgresql.conf writes them (`64MB`, `500ms`, `on`, `0.9`); `dbops settings check` compares them with what
 * the server reports, `dbops settings apply` writes them.
 */

/** A setting name as pg_settings lists it: `work_mem`, or `extension.name` for a module's setting. */
const SETTING_NAME = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/;

/**
 * Keys another policy owns, so each setting has one source: pitr: in backups.yaml writes the archiving
 * settings (`dbops pitr enable`), and shared_preload_libraries is the list below, merged as a set.
 */
export const SETTINGS_OWNED_ELSEWHERE: Record<string, string> = {
  archive_mode: 'pitr: in policies/backups.yaml (written by `dbops pitr enable`)',
  archive_command: 'pitr: in policies/backups.yaml (written by `dbops pitr enable`)',
  archive_timeout: 'pitr.archive_timeout in policies/backups.yaml (written by `dbops pitr enable`)',
  shared_preload_libraries: 'shared_preload_libraries: in this file (a list, merged as a set)',
};

const SettingValue = z.union([z.string(), z.number(), z.boolean()]).transform((v) => (typeof v === 'boolean' ? (v ? 'on' : 'off') : String(v)));

// The names are checked here rather than by the record's key schema, whose failure zod reports only as "Invalid key in record".
const Settings = z.record(z.string(), SettingValue).superRefine((settings, ctx) => {
  for (const name of Object.keys(settings)) {
    const owner = SETTINGS_OWNED_ELSEWHERE[name];
    if (owner) ctx.addIssue({ code: 'custom', path: [name], message: `${name} is not set here: it comes from ${owner}` });
    else if (!SETTING_NAME.test(name))
      ctx.addIssue({ code: 'custom', path: [name], message: `expected a setting name as pg_settings lists it, such as work_mem or pg_stat_statements.max` });
  }
});

export const Resources = z
  .strictObject({
    memory: Size.describe('Memory of the database server (RAM available to PostgreSQL), e.g. 64GB.'),
    cores: z.number().int().min(1).max(1024).describe('CPU cores of the database server.'),
    storage: z.enum(['ssd', 'hdd', 'san']).default('ssd').describe('Storage kind: ssd (also NVMe and cloud block storage), hdd, or san.'),
    connections: z.number().int().min(1).max(100_000).describe('Connections the server must accept (max_connections); behind PgBouncer, its server pool.'),
  })
  .describe("The server's resources, from which `settings check` derives its tuning advice (each value with the rule behind it).");
export type Resources = z.output<typeof Resources>;

export const EnvironmentSettings = z
  .strictObject({
    resources: Resources.optional(),
    settings: Settings.default({}).describe('Settings of this environment, over the file-wide `settings` and the advice.'),
    shared_preload_libraries: z
      .array(z.string().min(1))
      .default([])
      .describe('Libraries this environment preloads on top of the file-wide list (merged as a set).'),
  })
  .describe('One environment: its resources and its own settings.');
export type EnvironmentSettings = z.output<typeof EnvironmentSettings>;

export const PostgresqlPolicy = z
  .strictObject({
    version: z.literal(1).describe('Policy file format version.'),
    settings: Settings.default({}).describe(
      'Settings every environment gets (an environment’s own `settings` win), over the tuning advice: `name: value` as in postgresql.conf.',
    ),
    shared_preload_libraries: z
      .array(z.string().min(1))
      .default(['pg_stat_statements'])
      .describe(
        'Libraries every server preloads. A set: the server keeps the libraries it already preloads (pg_cron, pgaudit …), and a missing one is drift whose fix needs a restart.',
      ),
    environments: z
      .record(z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'expected an environment name of policies/environments.yaml, or local'), EnvironmentSettings)
      .default({})
      .describe(
        'Per environment (the names of policies/environments.yaml; `local` is the embedded cluster and any bare --database-url): resources and settings.',
      ),
  })
  .describe('policies/postgresql.yaml: the server settings of each environment, checked and applied by `dbops settings`.');
export type PostgresqlPolicy = z.output<typeof PostgresqlPolicy>;
