import { z } from 'zod';
import { defineCommand } from '../../../cli/contract.ts';
import { PitrInputs } from '../../flags.ts';

export const PitrRestoreInputs = PitrInputs.extend({
  to: z.string().min(1).optional().describe('restore to this time (ISO 8601 with a zone, e.g. 2026-12-07T10:15:00Z)'),
  toRestorePoint: z.string().min(1).optional().describe('restore to this named restore point (pg_create_restore_point)'),
  latest: z.boolean().default(false).describe('restore to the end of the archived WAL'),
  targetDir: z.string().min(1).describe('new (or empty) folder for the restored data directory'),
  port: z.coerce.number().int().min(1).max(65535).optional().describe('port of the restored cluster on 127.0.0.1 (default: a free one)'),
  force: z.boolean().default(false).describe('replace a stopped cluster in --target-dir'),
});
export type PitrRestoreInputs = z.output<typeof PitrRestoreInputs>;

export const spec = defineCommand({
  path: ['pitr', 'restore'],
  summary: 'restore to a time, a restore point or the latest WAL into a new data directory, replay, promote, check and leave it running',
  description:
    'pgbackrest restore into --target-dir with archiving off (never over a running cluster; --force only over a stopped one), then the server starts on 127.0.0.1:PORT, replays WAL to the target and promotes. dbops waits for the end of recovery (pg_ctl returns earlier, at consistency), runs pg_amcheck --heapallindexed, prints the URL (password masked) and the command that stops it, and times each phase. For a restore point a deploy created (dbops-<environment>-<bundle sequence>) it names the evidence bundle that recorded it and proves, in the verify phase, that none of the migrations that deploy applied is applied in the restored _prisma_migrations (exit 1 naming them otherwise); evidence that cannot be read is a warning.',
  examples: [
    'dbops pitr restore --to 2026-12-07T10:15:00Z --target-dir /srv/restore/ledger',
    'dbops pitr restore --to-restore-point dbops-production-42 --target-dir /srv/restore/before-42',
    'dbops pitr restore --latest --target-dir /srv/restore/latest --port 5499',
  ],
  inputs: PitrRestoreInputs,
});
