import { CronPattern } from 'croner';
import { z } from 'zod';
import { Duration } from './duration.ts';

/** Environment variable names: the policy names where a secret lives, never the secret itself. */
const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name such as BACKUP_WEBHOOK_URL');

const DirectoryTarget = z
  .strictObject({
    type: z.literal('directory'),
    path: z.string().min(1).describe('Folder on the backup server (a mount); relative paths are resolved against the working directory.'),
    primary: z
      .boolean()
      .default(false)
      .describe('The target `backup create` writes to and every other command reads from by default. Exactly one target is primary.'),
  })
  .describe('A folder, e.g. the backup server mounted over NFS.');

const S3Target = z
  .strictObject({
    type: z.literal('s3'),
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected a DNS-compatible bucket name'),
    prefix: z.string().default('').describe('Key prefix inside the bucket, e.g. postgres/astrofinance/.'),
    region: z.string().default('us-east-1'),
    endpoint: z.string().url().optional().describe('S3-compatible endpoint (MinIO, Ceph, R2 …); AWS when absent.'),
    endpoint_env: EnvName.optional().describe('Environment variable holding the endpoint instead (wins over endpoint when set).'),
    force_path_style: z.boolean().default(false).describe('Path-style addressing (bucket in the path), which most S3-compatible servers need.'),
    access_key_id_env: EnvName.default('AWS_ACCESS_KEY_ID').describe(
      'Environment variable holding the access key id; when it is unset the AWS SDK default chain applies (OIDC web identity in GitHub Actions).',
    ),
    secret_access_key_env: EnvName.default('AWS_SECRET_ACCESS_KEY'),
    session_token_env: EnvName.default('AWS_SESSION_TOKEN'),
    part_size_mib: z.number().int().min(5).max(5120).default(16).describe('Multipart upload part size (S3 minimum 5 MiB).'),
    primary: z.boolean().default(false),
  })
  .describe('S3 or S3-compatible object storage, e.g. the offsite copy.');

export const BackupTarget = z.discriminatedUnion('type', [DirectoryTarget, S3Target]);
export type BackupTarget = z.output<typeof BackupTarget>;
export type DirectoryTarget = z.output<typeof DirectoryTarget>;
export type S3Target = z.output<typeof S3Target>;

export const TIERS = ['daily', 'weekly', 'monthly', 'pre-deploy'] as const;
export const Tier = z.enum(TIERS);
export type Tier = z.output<typeof Tier>;

const Recipient = z.strictObject({
  name: z.string().min(1).describe('Who holds the matching identity, e.g. ops-oncall or offline-escrow.'),
  key: z.string().regex(/^age1[02-9ac-hj-np-z]{58}$/, 'expected an age X25519 recipient (age1…, 62 characters)'),
});

/** A five-field UTC cron, as GitHub Actions schedules read it (minute hour day month weekday). */
const Cron = z.string().superRefine((expr, ctx) => {
  if (expr.trim().split(/\s+/).length !== 5) return void ctx.addIssue({ code: 'custom', message: 'expected five cron fields: minute hour day month weekday' });
  try {
    new CronPattern(expr, 'UTC');
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: `not a cron expression: ${(e as Error).message}` });
  }
});

const PitrDirectoryRepository = z
  .strictObject({
    type: z.literal('directory'),
    path: z
      .string()
      .min(1)
      .describe('Repository folder (pgBackRest repo-path), e.g. on the backup server; relative paths are resolved against the working directory.'),
  })
  .describe('A pgBackRest repository in a folder: the backup server, or a mount of it.');

const PitrS3Repository = z
  .strictObject({
    type: z.literal('s3'),
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected a DNS-compatible bucket name'),
    endpoint: z.string().min(1).describe('S3 endpoint host (pgBackRest repo-s3-endpoint), e.g. s3.eu-central-1.amazonaws.com; pgBackRest speaks HTTPS only.'),
    region: z.string().default('us-east-1'),
    path: z.string().startsWith('/').default('/pgbackrest').describe('Folder inside the bucket (repo-path).'),
    uri_style: z.enum(['host', 'path']).default('host').describe('path for most S3-compatible servers (bucket in the path).'),
    port: z.number().int().min(1).max(65535).optional(),
    verify_tls: z.boolean().default(true).describe('Check the server certificate (repo-storage-verify-tls); turn off only for a test server.'),
    ca_file: z.string().optional().describe('CA certificate that signs the server certificate (repo-storage-ca-file).'),
    key_env: EnvName.default('PGBACKREST_S3_KEY').describe('Environment variable holding the access key id, read when the configuration is written.'),
    secret_env: EnvName.default('PGBACKREST_S3_KEY_SECRET'),
    cipher_pass_env: EnvName.describe(
      "Environment variable holding the repository cipher passphrase (aes-256-cbc, pgBackRest's own encryption), read when the configuration is written and stored only in its 0600 file.",
    ),
  })
  .describe('An S3 (or S3-compatible) pgBackRest repository, encrypted with a passphrase: the offsite copy.');

export const PitrRepository = z.discriminatedUnion('type', [PitrDirectoryRepository, PitrS3Repository]);
export type PitrRepository = z.output<typeof PitrRepository>;

export const PitrPolicy = z
  .strictObject({
    stanza: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'expected a stanza name of letters, digits, - and _')
      .default('main')
      .describe("pgBackRest's name for this cluster."),
    repositories: z
      .array(PitrRepository)
      .max(4)
      .default([])
      .describe('Where base backups and WAL go, repo1 first; WAL is pushed to every one. Empty: one folder in the PITR state folder (laptops, tests).'),
    state_dir: z
      .string()
      .min(1)
      .default('.dbops/pitr')
      .describe(
        "Folder for dbops' pgBackRest configuration (0600), its log, lock and spool folders and the verification records; the embedded cluster keeps them in its own folder.",
      ),
    archive_timeout: Duration.default('60s').describe('archive_timeout: the longest a committed change waits for its WAL segment to be archived.'),
    compress: z.enum(['zst', 'lz4', 'gz', 'none']).default('zst').describe('pgBackRest compress-type.'),
    process_max: z.number().int().min(1).max(64).default(2).describe('pgBackRest process-max for backup, restore and asynchronous archiving.'),
    objectives: z
      .strictObject({
        rpo: Duration.default('15min').describe('Recovery point objective: the most committed data a disaster may lose.'),
        rto: Duration.default('4h').describe('Recovery time objective: the longest a recovery may take.'),
      })
      .prefault({}),
    schedule: z
      .strictObject({
        full: Cron.default('0 1 * * 0').describe('When `dbops pitr backup --type full` runs (UTC cron): Sunday 01:00.'),
        diff: Cron.default('0 1 * * 1-6').describe('… --type diff: Monday to Saturday 01:00.'),
        incr: Cron.default('30 */4 * * *').describe('… --type incr: every 4 hours at :30.'),
      })
      .prefault({})
      .describe('The physical backups of .github/workflows/pitr.yml; its crons must be these (a test checks).'),
    heartbeat: z
      .strictObject({
        interval: Duration.default('30s').describe(
          'How often `dbops pitr heartbeat` updates dbops.heartbeat where pg_cron is not installed (pg_cron runs it every minute). Restores and drills measure the RPO they achieved from it.',
        ),
      })
      .prefault({}),
    database_host: z
      .strictObject({
        host: z.string().min(1).describe("The database host, where `pgbackrest server` listens (this machine's pg1-host)."),
        port: z.number().int().min(1).max(65535).default(8432).describe("That server's port (pg1-host-port)."),
        config: z
          .string()
          .min(1)
          .default('/etc/pgbackrest/pgbackrest.conf')
          .describe("Where the database host's pgBackRest configuration (printed by `dbops pitr enable`) is installed; archive_command names it."),
        repository_host: z
          .string()
          .min(1)
          .describe("This machine's name as the database host reaches it: archive-push sends WAL to this machine's `pgbackrest server`."),
        repository_port: z.number().int().min(1).max(65535).default(8433).describe("The port of this machine's `pgbackrest server`."),
        listen: z.string().min(1).default('*').describe("The address this machine's `pgbackrest server` listens on (tls-server-address)."),
        tls_dir: z
          .string()
          .min(1)
          .default('/etc/pgbackrest/tls')
          .describe(
            'Folder holding, on each host, ca.crt (the CA that signs both hosts), server.crt/server.key (its TLS server) and client.crt/client.key (its client).',
          ),
        client_cn: z
          .string()
          .min(1)
          .default('pgbackrest')
          .describe("The CN of both hosts' client certificates, which each server authorizes for the stanza (tls-server-auth)."),
      })
      .optional()
      .describe(
        "pgBackRest's dedicated repository host: dbops runs on the backup server and reaches the database host through pgBackRest's TLS server (pg1-host), as pgBackRest's user guide describes. Absent: dbops drives pgBackRest where the data directory is.",
      ),
    full_max_age: Duration.default('8d').describe('The gate accepts (backup.mode: pitr) a verified full backup at most this old.'),
    retention: z
      .strictObject({
        daily: z
          .number()
          .int()
          .min(0)
          .default(0)
          .describe('`dbops pitr expire` keeps the newest full backup of each of the last N days that have one (in retention.zone).'),
        weekly: z.number().int().min(0).default(4).describe('… of each of the last N ISO weeks that have one.'),
        monthly: z.number().int().min(0).default(12).describe('… of each of the last N months that have one.'),
        keep_last: z.number().int().min(1).default(2).describe('Floor: the newest N verified full backups are never expired.'),
        wal_window: Duration.default('14d').describe(
          'Any moment of this last period can be restored: WAL is kept from the newest kept full backup that ended before it. Older kept full backups keep only the WAL that makes them consistent (they restore to the moment they ended).',
        ),
      })
      .prefault({})
      .describe(
        'Which full backups `dbops pitr expire` keeps, in the calendar terms of the logical tier (retention.zone, unverified_grace); a full backup goes with its diff and incr backups.',
      ),
  })
  .describe('Point-in-time recovery with pgBackRest: continuous WAL archiving plus physical base backups.');
export type PitrPolicy = z.output<typeof PitrPolicy>;

export const BackupsPolicy = z
  .strictObject({
    version: z.literal(1).describe('Policy file format version.'),
    dump: z
      .strictObject({
        compression_level: z
          .number()
          .int()
          .min(0)
          .max(9)
          .default(1)
          .describe('pg_dump -Z level (gzip on PostgreSQL 15). 1 is the default: level 6 costs about 2.7× the time for about 9.5 % less size.'),
        table_manifest: z
          .enum(['archive', 'database'])
          .default('archive')
          .describe(
            "Where the per-table row counts and content hashes come from. archive: read from the rows pg_dump streams (the database is read once; the runner inflates and hashes them). database: a second scan of every table inside the dump's snapshot (the database server pays; the runner does nothing).",
          ),
        lock_wait_timeout: Duration.default('5min').describe(
          'How long the backup waits for the shared lock on a table that a migration holds exclusively (pg_dump --lock-wait-timeout, lock_timeout of the manifest scan) before failing with exit 3; 0 = forever. A backup that waits keeps its snapshot open meanwhile.',
        ),
      })
      .prefault({}),
    encryption: z
      .strictObject({
        recipients: z
          .array(Recipient)
          .default([])
          .describe('age X25519 recipients every backup is encrypted to (any one identity decrypts). At least one is needed to create a backup.'),
        identity_env: EnvName.default('DBOPS_BACKUP_IDENTITY').describe(
          'Environment variable holding an age identity (AGE-SECRET-KEY-1…) for verify and restore; --identity-file wins.',
        ),
      })
      .prefault({}),
    targets: z
      .record(z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'expected a lower-case target name'), BackupTarget)
      .default({ local: { type: 'directory', path: '.dbops/backups', primary: true } })
      .refine((t) => Object.values(t).filter((x) => x.primary).length === 1, 'exactly one target must have primary: true')
      .describe('Where backups are stored, by name: one primary (written by create), any number of offsite copies (filled by replicate).'),
    retention: z
      .strictObject({
        zone: z
          .string()
          .default('UTC')
          .refine((zone) => {
            try {
              new Intl.DateTimeFormat('en', { timeZone: zone });
              return true;
            } catch {
              return false;
            }
          }, 'expected an IANA time zone such as Europe/Berlin')
          .describe('IANA zone whose calendar days, ISO weeks and months bucket the backups (timestamps stay UTC).'),
        daily: z.number().int().min(0).default(7).describe('Keep the newest backup of each of the last N days that have one.'),
        weekly: z.number().int().min(0).default(4).describe('… of each of the last N ISO weeks (Monday to Sunday) that have one.'),
        monthly: z.number().int().min(0).default(12).describe('… of each of the last N months that have one.'),
        keep_last: z.number().int().min(1).default(3).describe('Floor: the newest N verified backups are never deleted, whatever the tiers say.'),
        pre_deploy: Duration.default('90d').describe('pre-deploy backups are kept this long (they do not count toward the tiers).'),
        unverified_grace: Duration.default('2d').describe('A backup not yet verified is kept this long, then deleted; it never counts toward a tier.'),
        partial_after: Duration.default('6h').describe('Partial uploads (a backup killed mid-stream) older than this are removed by create and prune.'),
      })
      .prefault({}),
    verify: z
      .strictObject({
        restore_jobs: z.number().int().min(1).max(32).default(2).describe('pg_restore -j for --restore and backup restore.'),
        amcheck: z
          .enum(['heapallindexed', 'basic', 'off'])
          .default('heapallindexed')
          .describe('pg_amcheck on the restored copy: heapallindexed (every heap tuple has its index entries), basic, or off.'),
      })
      .prefault({}),
    notifications: z
      .strictObject({
        webhook_env: EnvName.default('DBOPS_BACKUP_WEBHOOK').describe(
          'Environment variable holding the webhook URL (a secret). Unset: no webhook, the job summary only.',
        ),
        on: z.array(z.enum(['success', 'failure'])).default(['success', 'failure']),
        format: z
          .enum(['slack', 'json'])
          .default('slack')
          .describe('slack: {text, blocks} (Slack, Mattermost, Rocket.Chat, Teams workflows); json: the dbops event object.'),
      })
      .prefault({}),
    pitr: PitrPolicy.optional().describe('Point-in-time recovery (pgBackRest). Absent: `dbops pitr` commands use the defaults, deploys take no restore point.'),
    progress_interval: Duration.default('30s').describe('How often a running backup or verification logs bytes, rate and ETA when not on a terminal (CI).'),
  })
  .describe('policies/backups.yaml: how backups are taken, encrypted, stored, verified, kept and announced.');

export type BackupsPolicy = z.output<typeof BackupsPolicy>;
