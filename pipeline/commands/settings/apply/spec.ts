import { z } from 'zod';
import { databaseFlags, gateFlags } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const SettingsApplyInputs = z.object({
  ...databaseFlags('whose entry of policies/postgresql.yaml applies (a database URL, like the embedded cluster, uses the entry local)'),
  breakGlass: gateFlags.breakGlass,
  outsideWindow: gateFlags.outsideWindow,
});
export type SettingsApplyInputs = z.output<typeof SettingsApplyInputs>;

export const spec = defineCommand({
  path: ['settings', 'apply'],
  summary: 'write the settings of policies/postgresql.yaml into dbops-settings.conf and reload; through the gate for an environment; never restarts',
  description:
    "Computes the wanted settings as `settings check` does and refuses (exit 2, nothing written) when one is a value PostgreSQL would reject. For a cluster on this machine (a superuser connection finds its data directory): writes them into dbops-settings.conf beside postgresql.conf (never ALTER SYSTEM), included from postgresql.conf, reloads, waits until the new values are in force, and checks again: the settings that need a restart are named, not restarted for; a value still drifting (set by postgresql.auto.conf, or a later line) fails with its fix (exit 1). The archiving settings stay `dbops pitr enable`'s. For a server elsewhere it prints the file to install and changes nothing. With --environment the change goes the way of a migration: under the deploy lock, the environment's change window (or --outside-window with its extra approvals) and its approvals with four-eyes over the commits to policies/postgresql.yaml since the previous applied settings change (or --break-glass where allowed); refused is exit 1 with nothing written; either way a settings bundle (every setting before and after) is appended to the environment's evidence chain.",
  examples: [
    'dbops settings apply',
    'dbops settings apply --database-url "$STAGING_DATABASE_URL"',
    'dbops settings apply --environment production',
    'dbops settings apply --environment production --outside-window "INC-4711: connections exhausted"',
  ],
  inputs: SettingsApplyInputs,
});
