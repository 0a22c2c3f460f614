import { z } from 'zod';
import { EnvError } from '../../core/errors.ts';

/**
 * One base backup as `pgbackrest info --output=json` describes it, timestamps as ISO 8601 UTC. A schema, not
 * only a type, because the pitr reports carry it and are validated when read back; defined here, where the
 * output is parsed, since infra knows no domain (protection/pitr/report.ts builds on it).
 */
export const PhysicalBackup = z.object({
  label: z.string(),
  type: z.enum(['full', 'diff', 'incr']),
  repo: z.number().int(),
  startedAt: z.string(),
  stoppedAt: z.string(),
  lsnStart: z.string(),
  lsnStop: z.string(),
  walStart: z.string(),
  walStop: z.string(),
  /** Size of the cluster it copied, and what the repository stores for it. */
  sizeBytes: z.number(),
  repositoryBytes: z.number(),
  /** The backup a diff or incr builds on. */
  prior: z.string().nullable(),
  /** pgBackRest found page checksum errors while copying. */
  error: z.boolean(),
  annotation: z.record(z.string(), z.string()),
});
export type PhysicalBackup = z.output<typeof PhysicalBackup>;

export interface StanzaInfo {
  stanza: string;
  /** 0 ok; pgBackRest's own codes otherwise (1 missing stanza path, 2 no valid backups, …). */
  status: { code: number; message: string };
  /** The system identifier of the cluster the stanza belongs to (a 64-bit integer, kept as text). */
  systemId: string | null;
  cipher: string;
  repos: Array<{ key: number; cipher: string; status: { code: number; message: string } }>;
  /** Oldest and newest WAL segment in the repositories (of the current database id). */
  archive: { min: string; max: string } | null;
  /** Oldest first. */
  backups: PhysicalBackup[];
}

const Status = z.object({ code: z.number(), message: z.string() });
const Backup = z.object({
  label: z.string(),
  type: z.enum(['full', 'diff', 'incr']),
  database: z.object({ 'repo-key': z.number() }).passthrough(),
  timestamp: z.object({ start: z.number(), stop: z.number() }),
  lsn: z.object({ start: z.string(), stop: z.string() }).partial().optional(),
  archive: z.object({ start: z.string().nullable(), stop: z.string().nullable() }).partial().optional(),
  info: z.object({ size: z.number(), repository: z.object({ size: z.number().optional(), delta: z.number().optional() }).passthrough() }).passthrough(),
  prior: z.string().nullable().optional(),
  error: z.boolean().optional(),
  annotation: z.record(z.string(), z.string()).optional(),
});
const Stanza = z.object({
  name: z.string(),
  status: Status.passthrough(),
  cipher: z.string().optional(),
  db: z.array(z.object({ id: z.number(), 'system-id': z.string() }).passthrough()).default([]),
  repo: z.array(z.object({ key: z.number(), cipher: z.string().optional(), status: Status }).passthrough()).default([]),
  archive: z.array(z.object({ id: z.string(), min: z.string().nullable(), max: z.string().nullable() }).passthrough()).default([]),
  backup: z.array(Backup).default([]),
});

const iso = (epochSeconds: number) => new Date(epochSeconds * 1000).toISOString();

/**
 * Parses `pgbackrest info --output=json`. The system identifier is a 64-bit integer written as a bare JSON
 * number, which JSON.parse would round: it is quoted before parsing.
 */
export function parseInfo(json: string, stanza: string): StanzaInfo {
  let raw: unknown;
  try {
    raw = JSON.parse(json.replace(/("system-id"\s*:\s*)(\d+)/g, '$1"$2"'));
  } catch {
    throw new EnvError(`pgbackrest info did not print JSON: ${json.slice(0, 200)}`);
  }
  const parsed = z.array(Stanza).safeParse(raw);
  if (!parsed.success) throw new EnvError(`pgbackrest info printed JSON dbops does not understand: ${parsed.error.issues[0]?.message ?? ''}`);
  const s = parsed.data.find((x) => x.name === stanza);
  if (!s) return { stanza, status: { code: 1, message: 'missing stanza' }, systemId: null, cipher: 'none', repos: [], archive: null, backups: [] };
  const current = s.db.at(-1);
  const archives = s.archive.filter((a) => a.min && a.max && (!current || a.id.endsWith(`-${current.id}`)));
  const archive = archives.length
    ? {
        min: archives.map((a) => a.min!).sort()[0]!,
        max: archives
          .map((a) => a.max!)
          .sort()
          .at(-1)!,
      }
    : null;
  return {
    stanza,
    status: { code: s.status.code, message: s.status.message },
    systemId: current?.['system-id'] ?? null,
    cipher: s.cipher ?? 'none',
    repos: s.repo.map((r) => ({ key: r.key, cipher: r.cipher ?? 'none', status: r.status })),
    archive,
    backups: s.backup
      .map((b) => ({
        label: b.label,
        type: b.type,
        repo: b.database['repo-key'],
        startedAt: iso(b.timestamp.start),
        stoppedAt: iso(b.timestamp.stop),
        lsnStart: b.lsn?.start ?? '',
        lsnStop: b.lsn?.stop ?? '',
        walStart: b.archive?.start ?? '',
        walStop: b.archive?.stop ?? '',
        sizeBytes: b.info.size,
        repositoryBytes: b.info.repository.size ?? b.info.repository.delta ?? 0,
        prior: b.prior ?? null,
        error: b.error ?? false,
        annotation: b.annotation ?? {},
      }))
      .sort((a, b) => a.stoppedAt.localeCompare(b.stoppedAt)),
  };
}

/** What `pgbackrest verify` found. */
export interface VerifyFindings {
  ok: boolean;
  /** One line per problem: the file with an invalid checksum, a backup marked invalid, missing WAL … */
  problems: string[];
}

/**
 * Reads `pgbackrest verify` output (console log level info). pgBackRest exits 0 even when it finds
 * corruption ("verify command end: completed successfully" after "status: error"), so the text is the result.
 */
export function parseVerify(output: string): VerifyFindings {
  const problems: string[] = [];
  let error = false;
  for (const raw of output.split('\n')) {
    const line = raw.replace(/^\S+ \S+ P\d\d\s+\w+: /, '').trim();
    if (/^status: error/.test(line)) error = true;
    const file = /^invalid (checksum|size|file|result)[^']*'([^']+)'/.exec(line);
    if (file) problems.push(`${file[1]} invalid: ${file[2]}`);
    else if (/^(missing|unable|could not|invalid)/i.test(line) || /\bstatus: invalid\b/.test(line) || /^backup: .*status: (?!valid)/.test(line))
      problems.push(line);
    else if (/^(checksum invalid|size invalid|missing|other): [1-9]/.test(line)) problems.push(line);
    else if (/^archiveId: .*(missing|invalid)/.test(line)) problems.push(line);
  }
  if (error && problems.length === 0) problems.push('pgBackRest reported status: error');
  return { ok: !error && problems.length === 0, problems: [...new Set(problems)] };
}
