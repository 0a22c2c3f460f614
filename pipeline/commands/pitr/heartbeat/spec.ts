import { z } from 'zod';
import { defineCommand } from '../../../cli/contract.ts';
import { DURATION_PATTERN } from '../../../core/duration.ts';
import { PitrInputs } from '../../flags.ts';

export const PitrHeartbeatInputs = PitrInputs.extend({
  interval: z
    .string()
    .regex(DURATION_PATTERN, 'expected a duration such as 1s, 30s or 1min')
    .optional()
    .describe('how often to write it (default: pitr.heartbeat.interval in policy, 30s)'),
  once: z.boolean().default(false).describe('write one heartbeat and exit'),
});
export type PitrHeartbeatInputs = z.output<typeof PitrHeartbeatInputs>;

export const spec = defineCommand({
  path: ['pitr', 'heartbeat'],
  summary: 'write dbops.heartbeat every interval until stopped (a service where pg_cron is not installed); RPO is measured from it',
  description:
    "Updates the one row of dbops.heartbeat (created when missing) every --interval, reconnecting after a lost connection, until Ctrl-C or SIGTERM. It keeps WAL moving, so archive_timeout closes segments, and gives every restore and drill a measured RPO: the newest heartbeat a restored cluster holds against the source's. Where the server preloads pg_cron, `dbops pitr enable` schedules it there instead (every minute).",
  examples: ['dbops pitr heartbeat', 'dbops pitr heartbeat --interval 10s', 'dbops pitr heartbeat --once'],
  inputs: PitrHeartbeatInputs,
});
