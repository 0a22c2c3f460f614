import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDuration } from '../../core/duration.ts';
import { ConfigError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../core/fs.ts';
import { formatAge } from '../../core/format.ts';
import type { Finding } from '../../core/result.ts';
import type { Runtime } from '../../core/runtime.ts';
import { withClient } from '../../infra/db/client.ts';
import { acquireOperationLock } from '../../infra/db/locks.ts';
import type { DbTarget } from '../../infra/db/url.ts';
import { parseInfo, parseVerify, type PhysicalBackup, type StanzaInfo } from '../../infra/pgbackrest/info.ts';
import { mustPgbackrest, runPgbackrest, type Pgbackrest } from '../../infra/pgbackrest/pgbackrest.ts';
import type { BackupsPolicy } from '../../policy/backups.ts';
import { heartbeatOf } from './heartbeat.ts';
import type { PitrBackupData, PitrStatusData, PitrVerification, PitrVerifyData } from './report.ts';
import { pgbackrestFor, repositoriesOf, resolveSite, type PitrSite } from './site.ts';

// The result types are derived from the report schemas in report.ts (one definition); still exported from here.
export type { PitrBackupData, PitrStatusData, PitrVerification, PitrVerifyData } from './report.ts';

/** An open site: pgBackRest configured for it by `dbops pitr enable`. */
export interface OpenSite {
  site: PitrSite;
  pgbackrest: Pgbackrest;
}

/** `offline`: a command that needs only pgBackRest (list, verify, restore) may run from what `pitr enable` saved when the server is down. */
export async function openSite(target: DbTarget, backups: BackupsPolicy, rt: Runtime, options: { offline?: boolean } = {}): Promise<OpenSite> {
  const site = await resolveSite(target, backups, rt, options);
  const pgbackrest = pgbackrestFor(site, rt);
  if (
    !(await access(site.configPath).then(
      () => true,
      () => false,
    ))
  )
    throw new ConfigError(`PITR is not set up for ${site.target.host}:${site.target.port}: there is no ${site.configPath}.`, {
      hint: 'Run `dbops pitr enable` first.',
    });
  return { site, pgbackrest };
}

export async function stanzaInfo(p: Pgbackrest): Promise<StanzaInfo> {
  const out = await mustPgbackrest(p, 'info', ['--output=json']);
  return parseInfo(out.stdout, p.stanza);
}

const verificationsDir = (site: PitrSite) => join(site.stateDir, 'verifications');

export async function readVerifications(site: PitrSite): Promise<PitrVerification[]> {
  const names = await readdir(verificationsDir(site)).catch(() => [] as string[]);
  const records: PitrVerification[] = [];
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    try {
      records.push(JSON.parse(await readFile(join(verificationsDir(site), name), 'utf8')) as PitrVerification);
    } catch {
      /* a record cut short by a crash is not a verification */
    }
  }
  return records;
}

/** Whether a backup's newest verification passed; undefined when none covered it. */
export function verifiedState(label: string, records: PitrVerification[]): { ok: boolean; at: string } | undefined {
  const last = records.filter((r) => r.backups.includes(label)).at(-1);
  return last ? { ok: last.ok, at: last.at } : undefined;
}

/** The repositories a command acts on: the one `--repo` names, else all of them (1-based, as pgBackRest numbers them). */
export function reposOf(site: PitrSite, repo: number | undefined): number[] {
  const count = repositoriesOf(site).length;
  if (repo === undefined) return Array.from({ length: count }, (_, i) => i + 1);
  if (repo < 1 || repo > count)
    throw new ConfigError(
      `--repo ${repo}: policies/backups.yaml names ${count} PITR repositor${count === 1 ? 'y' : 'ies'} (1${count > 1 ? `–${count}` : ''}).`,
    );
  return [repo];
}

/**
 * `pitr backup`: a pgBackRest backup of the given type into each repository (pgBackRest writes one
 * repository per backup; the offsite copy needs its own), under the backup mode of the lock protocol;
 * what pgBackRest lists afterwards is the result.
 */
export async function pitrBackup(
  input: { target: DbTarget; backups: BackupsPolicy; type: 'full' | 'diff' | 'incr'; repo?: number | undefined },
  rt: Runtime,
): Promise<PitrBackupData> {
  const { site, pgbackrest } = await openSite(input.target, input.backups, rt);
  const repos = reposOf(site, input.repo);
  const before = new Set((await stanzaInfo(pgbackrest)).backups.map((b) => `${b.repo}/${b.label}`));
  const started = performance.now();
  // The backup mode of the lock protocol (infra/db/locks.ts): maintenance waits for it, deploys do not.
  await withClient(input.target, { log: rt.log, applicationName: 'dbops pitr backup' }, async (c) => {
    await acquireOperationLock(c, 'backup', { waitMs: 60 * 60_000, signal: rt.signal, what: 'A physical backup' });
    for (const repo of repos) {
      rt.progress(`Taking a ${input.type} backup with pgBackRest into repository ${repo} …`);
      await mustPgbackrest(pgbackrest, 'backup', [`--type=${input.type}`, `--repo=${repo}`, '--annotation=dbops=pitr backup']);
    }
  });
  const made = (await stanzaInfo(pgbackrest)).backups.filter((b) => !before.has(`${b.repo}/${b.label}`));
  for (const repo of repos)
    if (!made.some((b) => b.repo === repo)) throw new ConfigError(`pgbackrest backup exited 0 but repository ${repo} lists no new backup.`);
  return { stanza: pgbackrest.stanza, backups: made.sort((a, b) => a.repo - b.repo), durationMs: Math.round(performance.now() - started) };
}

export interface PitrListData {
  stanza: string;
  archive: StanzaInfo['archive'];
  backups: Array<PhysicalBackup & { verified: { ok: boolean; at: string } | null }>;
}

export async function pitrList(input: { target: DbTarget; backups: BackupsPolicy }, rt: Runtime): Promise<PitrListData> {
  const { site, pgbackrest } = await openSite(input.target, input.backups, rt, { offline: true });
  const info = await stanzaInfo(pgbackrest);
  const records = await readVerifications(site);
  return { stanza: info.stanza, archive: info.archive, backups: info.backups.map((b) => ({ ...b, verified: verifiedState(b.label, records) ?? null })) };
}

/** `pitr verify`: pgBackRest's verify of each repository, judged by what it prints (it exits 0 on corruption), recorded. */
export async function pitrVerify(input: { target: DbTarget; backups: BackupsPolicy; repo?: number | undefined }, rt: Runtime): Promise<PitrVerifyData> {
  const { site, pgbackrest } = await openSite(input.target, input.backups, rt, { offline: true });
  const repos = reposOf(site, input.repo);
  const info = await stanzaInfo(pgbackrest);
  const started = performance.now();
  const problems: string[] = [];
  for (const repo of repos) {
    const out = await runPgbackrest(pgbackrest, 'verify', [`--repo=${repo}`]);
    const findings = parseVerify(`${out.stdout}\n${out.stderr}`);
    if (out.code !== 0) findings.problems.push(`pgbackrest verify exited ${out.code}`);
    problems.push(...findings.problems.map((p) => (repos.length > 1 || repo > 1 ? `repo${repo}: ${p}` : p)));
    if (!findings.ok && findings.problems.length === 0) problems.push(`repo${repo}: pgBackRest reported an error`);
  }
  const record: PitrVerification = {
    at: new Date().toISOString(),
    ok: problems.length === 0,
    problems,
    backups: info.backups.filter((b) => repos.includes(b.repo)).map((b) => b.label),
    durationMs: Math.round(performance.now() - started),
  };
  await writeFileAtomic(join(verificationsDir(site), `${record.at.replace(/[:.]/g, '')}.json`), `${JSON.stringify(record, null, 2)}\n`);
  return { stanza: pgbackrest.stanza, record };
}

/** The LSN where a WAL segment of `segmentBytes` ends, as a number: comparing it with the current LSN needs no string arithmetic. */
const segmentEnd = (wal: string, segmentBytes: number): bigint => {
  const log = BigInt(`0x${wal.slice(8, 16)}`);
  const seg = BigInt(`0x${wal.slice(16, 24)}`);
  return (log << 32n) + (seg + 1n) * BigInt(segmentBytes);
};

/**
 * RPO exposure now: with WAL waiting to be archived (.ready), the age of the oldest waiting segment; with
 * WAL written after the last archived segment, the time since that segment was archived (what is beyond it
 * exists only on the server); otherwise nothing.
 */
export function exposureOf(a: { oldestReadyAt: string | null; lastArchivedAt: string | null; unarchivedBytes: bigint }, now: Date): number {
  if (a.oldestReadyAt) return Math.max(0, now.getTime() - Date.parse(a.oldestReadyAt));
  if (a.unarchivedBytes > 0n && a.lastArchivedAt) return Math.max(0, now.getTime() - Date.parse(a.lastArchivedAt));
  return 0;
}

export async function pitrStatus(input: { target: DbTarget; backups: BackupsPolicy }, rt: Runtime): Promise<{ data: PitrStatusData; findings: Finding[] }> {
  const { site, pgbackrest } = await openSite(input.target, input.backups, rt);
  const now = new Date();
  const facts = await withClient(site.target, { log: rt.log, applicationName: 'dbops pitr status' }, async (c) => {
    const { rows } = await c.query<{
      last_archived_wal: string | null;
      last_archived_time: string | null;
      failed_count: string;
      last_failed_wal: string | null;
      last_failed_time: string | null;
      ready: string;
      oldest_ready: string | null;
      current_wal: string;
      current_lsn: string;
      segment_bytes: string;
    }>(
      `SELECT a.last_archived_wal, to_char(a.last_archived_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS last_archived_time,
              a.failed_count, a.last_failed_wal, to_char(a.last_failed_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS last_failed_time,
              (SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready') AS ready,
              (SELECT to_char(min(modification) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready') AS oldest_ready,
              pg_walfile_name(pg_current_wal_lsn()) AS current_wal, (pg_current_wal_lsn() - '0/0')::text AS current_lsn,
              (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') AS segment_bytes
         FROM pg_stat_archiver a`,
    );
    return rows[0]!;
  });
  const info = await stanzaInfo(pgbackrest);
  const records = await readVerifications(site);
  const heartbeatAt = await heartbeatOf(site.target, rt);
  const heartbeatMs = parseDuration(site.policy.heartbeat.interval) ?? 30_000;
  const newest = (type: 'full' | 'diff' | 'incr') => info.backups.filter((b) => b.type === type).at(-1);
  const unarchivedBytes = facts.last_archived_wal
    ? BigInt(facts.current_lsn) - segmentEnd(facts.last_archived_wal.slice(0, 24), Number(facts.segment_bytes))
    : BigInt(facts.current_lsn);
  const data: PitrStatusData = {
    stanza: site.policy.stanza,
    archiving: {
      lastArchivedWal: facts.last_archived_wal,
      lastArchivedAt: facts.last_archived_time,
      failedCount: Number(facts.failed_count),
      lastFailedWal: facts.last_failed_wal,
      lastFailedAt: facts.last_failed_time,
      ready: Number(facts.ready),
      oldestReadyAt: facts.oldest_ready,
      currentWal: facts.current_wal,
    },
    repository: {
      archiveMax: info.archive?.max ?? null,
      backups: Object.fromEntries((['full', 'diff', 'incr'] as const).flatMap((t) => (newest(t) ? [[t, newest(t)!]] : []))),
    },
    lastVerification: records.at(-1) ?? null,
    heartbeat: heartbeatAt
      ? { at: heartbeatAt, ageMs: Math.max(0, now.getTime() - Date.parse(heartbeatAt)), staleAfterMs: Math.max(3 * heartbeatMs, 180_000) }
      : null,
    exposureMs: exposureOf({ oldestReadyAt: facts.oldest_ready, lastArchivedAt: facts.last_archived_time, unarchivedBytes }, now),
    rpoMs: parseDuration(site.policy.objectives.rpo) ?? 15 * 60_000,
  };
  return { data, findings: statusFindings(data) };
}

/** What is wrong with the physical tier, as findings (errors fail the status). */
export function statusFindings(d: PitrStatusData): Finding[] {
  const findings: Finding[] = [];
  const a = d.archiving;
  const failing = a.lastFailedAt !== null && (a.lastArchivedAt === null || a.lastFailedAt > a.lastArchivedAt);
  if (failing)
    findings.push({
      rule: 'pitr/archiving-failing',
      severity: 'error',
      message: `WAL archiving is failing: ${a.failedCount} failed attempt(s), the newest for ${a.lastFailedWal} at ${a.lastFailedAt}${a.lastArchivedAt ? `; the last success was at ${a.lastArchivedAt}` : '; nothing was ever archived'}.`,
      help: "Read the server log for archive_command's error (and pgBackRest's log in the PITR state folder), fix it, then run `dbops pitr status` again.",
    });
  if (d.exposureMs > d.rpoMs)
    findings.push({
      rule: 'pitr/rpo-exceeded',
      severity: 'error',
      message: `RPO exposure is ${formatAge(d.exposureMs)}, over the objective of ${formatAge(d.rpoMs)}${a.ready ? `: ${a.ready} WAL segment(s) wait to be archived` : ''}.`,
      help: 'A disaster now would lose more committed work than the objective allows: make archiving catch up (see the failure above, or the archive queue).',
    });
  if (!d.repository.backups.full)
    findings.push({
      rule: 'pitr/no-full-backup',
      severity: 'error',
      message: 'The repository holds no full backup: there is nothing to restore from.',
      help: 'Run `dbops pitr backup --type full`.',
    });
  if (!d.heartbeat)
    findings.push({
      rule: 'pitr/no-heartbeat',
      severity: 'warning',
      message: 'The database has no heartbeat (dbops.heartbeat): restores and drills cannot measure the RPO they achieve.',
      help: 'Run `dbops pitr enable` (it schedules it with pg_cron where installed), or run `dbops pitr heartbeat` as a service.',
    });
  else if (d.heartbeat.ageMs > d.heartbeat.staleAfterMs)
    findings.push({
      rule: 'pitr/heartbeat-stopped',
      severity: 'warning',
      message: `The newest heartbeat is ${formatAge(d.heartbeat.ageMs)} old (${d.heartbeat.at}): nothing writes it any more.`,
      help: 'Start the `dbops pitr heartbeat` service (or check the pg_cron job dbops-heartbeat).',
    });
  if (d.lastVerification && !d.lastVerification.ok)
    findings.push({
      rule: 'pitr/verify-failed',
      severity: 'error',
      message: `The newest repository verification (${d.lastVerification.at}) found problems: ${d.lastVerification.problems.slice(0, 3).join('; ')}.`,
    });
  return findings;
}
