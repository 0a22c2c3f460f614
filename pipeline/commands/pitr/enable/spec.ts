import { defineCommand } from '../../../cli/contract.ts';
import { PitrInputs } from '../../flags.ts';

export const spec = defineCommand({
  path: ['pitr', 'enable'],
  summary: 'turn on WAL archiving through pgBackRest (configuration, settings include file, stanza-create, check); again: repairs drift, else changes nothing',
  description:
    "For a cluster whose data directory is on this machine (the embedded one by default): writes pgBackRest's configuration (0600) from pitr: in policies/backups.yaml, and dbops-pitr.conf beside postgresql.conf with archive_mode, archive_command and archive_timeout (never ALTER SYSTEM), included from postgresql.conf; reloads, restarts only when archive_mode changes; then pgbackrest stanza-create and check (which waits until a WAL segment reached every repository). For a server elsewhere it prints the configuration to install there and changes nothing (exit 0); `dbops pitr status` proves it afterwards.",
  examples: ['dbops pitr enable', 'dbops pitr enable --database-url "$DATABASE_URL" --json'],
  inputs: PitrInputs,
});
