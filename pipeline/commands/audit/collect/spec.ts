import { z } from 'zod';
import { databaseFlags } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const AuditCollectInputs = z.object({
  ...databaseFlags('into whose evidence chain the segments go (without it: the local chain in .dbops/evidence, environment local)'),
  logDir: z
    .string()
    .min(1)
    .optional()
    .describe(
      "the server's log folder (log_directory) on this machine, e.g. mounted read-only; default: read the log through the server (pg_ls_logdir needs pg_monitor, pg_read_binary_file needs pg_read_server_files)",
    ),
});
export type AuditCollectInputs = z.output<typeof AuditCollectInputs>;

export const spec = defineCommand({
  path: ['audit', 'collect'],
  summary: "append the server log's audit and security lines since the last collection to the evidence chain, one segment per day",
  description:
    "Reads the server's jsonlog files (log_destination = 'jsonlog'), from --log-dir or through the server itself (pg_ls_logdir and pg_read_binary_file, 8 MiB at a time), in the order they were written, from where the previous collection of this database stopped (a rotated log is followed; a file reused by log_truncate_on_rotation is read again from its start), keeps pgaudit's lines (AUDIT: SESSION / OBJECT, with class, command, object and the statement with every literal masked; pgaudit's parameter field is never kept), connections and failed logins (SQLSTATE 28P01, 28000), and appends them to the evidence chain of --environment as bundles of kind audit-log, one per day (UTC), each with a summary: DDL by whom, role and privilege changes, audited objects, failed logins by user and host, superuser sessions. Each segment records the position after its last line: collecting twice, or after a collection killed half-way, never stores a line twice and loses none. Runs under the deploy lock (the chain has one writer). `dbops evidence verify` verifies the segments with the rest of the chain; evidence.retention keeps them.",
  examples: [
    'dbops audit collect --log-dir /var/lib/postgresql/15/main/log',
    'dbops audit collect --environment production --log-dir /srv/pglog',
    'dbops audit collect --json',
  ],
  inputs: AuditCollectInputs,
  report: 'audit-collect',
});
