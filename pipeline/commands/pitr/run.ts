import type { StepModule } from '../../cli/contract.ts';
import { formatAge, formatBytes, formatMs } from '../../core/format.ts';
import {
  enablePitr,
  pitrBackup,
  pitrList,
  pitrStatus,
  pitrVerify,
  runHeartbeat,
  type PitrBackupData,
  type PitrEnableData,
  type PitrListData,
  type PitrStatusData,
  type PitrVerifyData,
} from '../../protection/pitr/index.ts';
import type { PitrBackupInputs } from './backup/spec.ts';
import { ownSessionDatabase, type PitrInputs, type PitrReportInputs } from '../flags.ts';
import type { PitrVerifyInputs } from './verify/spec.ts';
import type { PitrHeartbeatInputs } from './heartbeat/spec.ts';

const ago = (iso: string | null | undefined) => (iso ? `${formatAge(Date.now() - Date.parse(iso))} ago` : 'never');

export const enable: StepModule<PitrInputs, PitrEnableData> = {
  async run(_input, ctx) {
    const { backups } = await ctx.policies('backups');
    return {
      verdict: 'pass',
      findings: [],
      data: await enablePitr({ target: await ownSessionDatabase(ctx, 'dbops pitr enable'), backups: backups.value }, ctx),
    };
  },
  render({ data: d }) {
    if (d.install) {
      return [
        `${d.database}: its data directory is not on this machine, so dbops changed nothing. Install this on the backup server (pgBackRest reaching the database host through its TLS server, pg1-host) and on the database server:`,
        '',
        `${d.configPath}:`,
        d.install.pgbackrestConf,
        'postgresql.conf (or an included file):',
        d.install.postgresqlConf,
        'Then, on the backup server:',
        ...d.install.commands.map((c) => `  ${c}`),
        '',
        'and `dbops pitr status` to prove archiving works.',
        '',
      ].join('\n');
    }
    const what = d.actions.length ? d.actions.map((a) => `  - ${a}`).join('\n') : '  nothing to change: everything was in place';
    const db = d.databaseHost;
    if (db && !db.checked)
      return [
        `PITR for ${d.database} from this repository host (stanza ${d.stanza}):`,
        what,
        `The database host does not archive through pgBackRest yet. Install there, at ${db.configPath} (owned by the PostgreSQL OS user, 0600; fill in the masked secrets):`,
        '',
        db.pgbackrestConf,
        'postgresql.conf (or an included file; archive_mode needs a restart):',
        db.postgresqlConf,
        'Run both TLS servers as services:',
        `  on the database host: ${db.serverCommand}`,
        `  here:                 ${db.repositoryServerCommand}`,
        '',
        'Then run `dbops pitr enable` again: it creates the stanza and checks that WAL arrives here.',
        '',
      ].join('\n');
    return `PITR for ${d.database} (stanza ${d.stanza}, data directory ${d.dataDir}):\n${what}\nWAL archiving works: pgbackrest check passed. Configuration: ${d.configPath}.\nHeartbeat (dbops.heartbeat): ${d.heartbeat === 'pg_cron' ? 'written every minute by pg_cron' : 'run `dbops pitr heartbeat` as a service (no pg_cron on this server)'}.\n`;
  },
};

export const backup: StepModule<PitrBackupInputs, PitrBackupData> = {
  async run(input, ctx) {
    const { backups } = await ctx.policies('backups');
    return {
      verdict: 'pass',
      findings: [],
      data: await pitrBackup({ target: await ownSessionDatabase(ctx, 'dbops pitr backup'), backups: backups.value, type: input.type, repo: input.repo }, ctx),
    };
  },
  render: ({ data: { backups, durationMs } }) =>
    `${backups
      .map(
        (b) =>
          `Backup ${b.label} (${b.type}${b.prior ? ` on ${b.prior}` : ''}) in repository ${b.repo}: ${formatBytes(b.sizeBytes)} of cluster, ${formatBytes(b.repositoryBytes)} stored; WAL ${b.walStart}…${b.walStop}.`,
      )
      .join('\n')}\nTook ${formatMs(durationMs)}.\n`,
};

export const list: StepModule<PitrInputs, PitrListData> = {
  async run(_input, ctx) {
    const { backups } = await ctx.policies('backups');
    return { verdict: 'pass', findings: [], data: await pitrList({ target: await ctx.database(), backups: backups.value }, ctx) };
  },
  render({ data: d }) {
    if (d.backups.length === 0) return `Stanza ${d.stanza}: no backups yet. Take one with \`dbops pitr backup --type full\`.\n`;
    const rows = d.backups.map(
      (b) =>
        `  ${b.label.padEnd(26)} repo${b.repo} ${b.type.padEnd(4)}  ${b.stoppedAt}  ${formatBytes(b.repositoryBytes).padStart(10)}  ${b.verified ? (b.verified.ok ? `verified ${ago(b.verified.at)}` : `VERIFY FAILED ${ago(b.verified.at)}`) : 'not verified'}`,
    );
    const wal = d.archive ? `Archived WAL: ${d.archive.min} … ${d.archive.max}` : 'No WAL archived yet.';
    return `Stanza ${d.stanza}: ${d.backups.length} backup(s), oldest first\n${rows.join('\n')}\n${wal}\n`;
  },
};

export const status: StepModule<PitrReportInputs, PitrStatusData> = {
  async run(_input, ctx) {
    const { backups } = await ctx.policies('backups');
    const { data, findings } = await pitrStatus({ target: await ownSessionDatabase(ctx, 'dbops pitr status'), backups: backups.value }, ctx);
    return { verdict: findings.some((f) => f.severity === 'error') ? 'fail' : 'pass', findings, data };
  },
  render({ data: d, findings }) {
    const a = d.archiving;
    const full = d.repository.backups.full;
    const lines = [
      `Stanza ${d.stanza}`,
      `  last archived   ${a.lastArchivedWal ?? 'none'} (${ago(a.lastArchivedAt)}); current ${a.currentWal}; ${a.ready} waiting`,
      `  failures        ${a.failedCount}${a.lastFailedAt ? ` (newest ${a.lastFailedWal}, ${ago(a.lastFailedAt)})` : ''}`,
      `  repository      WAL up to ${d.repository.archiveMax ?? 'none'}; newest full ${full ? `${full.label} (${ago(full.stoppedAt)})` : 'none'}`,
      `  heartbeat       ${d.heartbeat ? `${d.heartbeat.at} (${ago(d.heartbeat.at)})` : 'none'}`,
      `  verification    ${d.lastVerification ? `${d.lastVerification.ok ? 'passed' : 'FAILED'} ${ago(d.lastVerification.at)}` : 'never (dbops pitr verify)'}`,
      `  RPO exposure    ${formatAge(d.exposureMs)} (objective ${formatAge(d.rpoMs)})`,
      '',
      ...findings.map((f) => `✗ ${f.message}${f.help ? `\n  Fix: ${f.help}` : ''}`),
      findings.length ? '' : 'Healthy: archiving works and the exposure is within the objective.',
    ];
    return `${lines.join('\n')}\n`;
  },
};

export const verify: StepModule<PitrVerifyInputs, PitrVerifyData> = {
  async run(input, ctx) {
    const { backups } = await ctx.policies('backups');
    const data = await pitrVerify({ target: await ctx.database(), backups: backups.value, repo: input.repo }, ctx);
    const findings = data.record.problems.map((p) => ({ rule: 'pitr/verify', severity: 'error' as const, message: p }));
    return { verdict: data.record.ok ? 'pass' : 'fail', findings, data };
  },
  render: ({ data: { record: r } }) =>
    r.ok
      ? `Repository verified in ${formatMs(r.durationMs)}: ${r.backups.length} backup(s) and their WAL, every file's checksum.\n`
      : `Repository verification FAILED (${formatMs(r.durationMs)}):\n${r.problems.map((p) => `  ✗ ${p}`).join('\n')}\n`,
};

export const heartbeat: StepModule<PitrHeartbeatInputs, { beats: number; last: string | null; intervalMs: number }> = {
  async run(input, ctx) {
    const { backups } = await ctx.policies('backups');
    const target = await ctx.database();
    if (!input.once) ctx.progress(`Writing dbops.heartbeat on ${target.display}${input.interval ? ` every ${input.interval}` : ''} until stopped (Ctrl-C) …`);
    return { verdict: 'pass', findings: [], data: await runHeartbeat({ target, backups: backups.value, interval: input.interval, once: input.once }, ctx) };
  },
  render: ({ data: d }) => `${d.beats} heartbeat(s) written${d.last ? `, the last at ${d.last}` : ''}.\n`,
};
