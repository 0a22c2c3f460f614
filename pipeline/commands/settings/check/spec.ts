import { z } from 'zod';
import { databaseFlags } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const SettingsCheckInputs = z.object(
  databaseFlags('whose entry of policies/postgresql.yaml applies (a database URL, like the embedded cluster, uses the entry local)'),
);
export type SettingsCheckInputs = z.output<typeof SettingsCheckInputs>;

export const spec = defineCommand({
  path: ['settings', 'check'],
  summary: 'compare the server settings with policies/postgresql.yaml and the tuning advice of its declared resources; read-only',
  description:
    "Merges the wanted settings of the environment (--environment, else the entry local): the tuning advice derived from its declared resources (PGTune's OLTP rules: shared_buffers 25 % of memory, work_mem from memory, connections and cores, random_page_cost by storage …), under the file-wide settings, under the environment's own; the archiving settings of pitr: in policies/backups.yaml; and shared_preload_libraries as a set (the server's own libraries kept). Compares each with pg_settings, units converted (64MB against 8192 × 8kB), and names the source of every value. Drift (with its fix: `dbops settings apply`, `dbops pitr enable`, ALTER SYSTEM RESET for a value postgresql.auto.conf sets), a value in the configuration waiting for a restart (pending_restart), a setting the server does not know, or a value it would reject. Exit 1 on drift, an unknown or an invalid setting; a pending restart is a warning. Changes nothing.",
  examples: ['dbops settings check', 'dbops settings check --environment production', 'dbops settings check --database-url "$STAGING_DATABASE_URL" --json'],
  inputs: SettingsCheckInputs,
  report: 'settings-check',
});
