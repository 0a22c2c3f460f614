import { loadRows, openSession, type MigrationRow } from '../../change/migrations/index.ts';
import { isDbopsError } from '../../core/errors.ts';
import type { Runtime } from '../../core/runtime.ts';
import type { DbTarget } from '../../infra/db/url.ts';
import {
  checkBundle,
  LOCAL_ENVIRONMENT,
  openEvidence,
  openLocalEvidence,
  parseBundleName,
  readObject,
  type EvidenceStore,
  type ExecutionData,
} from '../../evidence/index.ts';
import type { BackupsPolicy } from '../../policy/backups.ts';
import type { Policies } from '../../policy/schema.ts';

/** The bundle whose deploy or rollback created a restore point (change/release names it after that bundle). */
export interface RestorePointBundle {
  environment: string;
  sequence: number;
  kind: 'deploy' | 'rollback';
  key: string;
  sha256: string;
  createdAt: string;
  outcome: ExecutionData['outcome'];
  /** Where the restore point is in the WAL, as the deploy recorded it. */
  lsn: string;
}

/** What the restored cluster's `_prisma_migrations` says about the action that created the restore point. */
export interface RestorePointProof {
  ok: boolean;
  /** A deploy's migrations must be absent from the restored ledger; a rollback's still applied there. */
  expect: 'absent' | 'present';
  /** The migrations that contradict it. */
  wrong: string[];
  message: string;
}

/** A restore target's evidence: the bundle that recorded the restore point, and the proof on the restored cluster. */
export interface RestorePointEvidence {
  name: string;
  /** The environment whose evidence was searched (the name is `dbops-<environment>-<sequence>`), or null. */
  environment: string | null;
  bundle: RestorePointBundle | null;
  /** What that deploy applied, or that rollback rolled back, in execution order. */
  migrations: string[];
  /** Why no bundle is named, or what went wrong reading the evidence. */
  note: string | null;
  /** The evidence could not be read or did not verify: a warning, the restore goes on without it. */
  warning: boolean;
  proof: RestorePointProof | null;
}

export const NO_BUNDLE = 'no evidence bundle records this restore point';

/** `dbops-<environment>-<bundle sequence>`: environment names never end the name, the sequence always does. */
const DEPLOY_POINT = /^dbops-([a-z0-9][a-z0-9-]*)-(\d+)$/;

export function deployRestorePoint(name: string): { environment: string; sequence: number } | undefined {
  const m = DEPLOY_POINT.exec(name);
  return m ? { environment: m[1]!, sequence: Number(m[2]) } : undefined;
}

/** What the action recorded in `execution` changed: the migrations a deploy applied, or a rollback rolled back. */
export function migrationsOf(execution: ExecutionData): string[] {
  const [action, outcome] = execution.action === 'deploy' ? (['apply', 'applied'] as const) : (['rollback', 'rolled-back'] as const);
  return execution.steps.filter((s) => s.action === action && s.outcome === outcome).map((s) => s.name);
}

/**
 * The bundle that recorded restore point `name`, in the evidence of the environment the name gives (the
 * embedded cluster's own evidence for `local`). A deploy names its restore point after the sequence its
 * bundle gets (it holds the deploy lock), so only that bundle is read. A name of another shape (a manual
 * pg_create_restore_point) has none. Evidence that cannot be read, or a bundle that does not verify, is a
 * warning: a restore is never refused for it.
 */
export async function findRestorePointBundle(
  input: { name: string; backups: BackupsPolicy; environments: () => Promise<Policies['environments']> },
  rt: Runtime,
): Promise<RestorePointEvidence> {
  const none: RestorePointEvidence = { name: input.name, environment: null, bundle: null, migrations: [], note: NO_BUNDLE, warning: false, proof: null };
  const point = deployRestorePoint(input.name);
  if (!point) return none;
  const { environment, sequence } = point;
  const searched = { ...none, environment };
  let store: EvidenceStore | undefined;
  try {
    store =
      environment === LOCAL_ENVIRONMENT
        ? await openLocalEvidence(rt.env, rt.log)
        : openEvidence({ backups: input.backups, environments: await input.environments() }, environment, rt.env, rt.log);
    const names = (await store.storage.list(`${store.folder}${String(sequence).padStart(6, '0')}-`))
      .map((o) => o.key.slice(store!.folder.length))
      .filter((n) => parseBundleName(n)?.ext === 'json' && parseBundleName(n)?.sequence === sequence);
    for (const name of names) {
      const key = `${store.folder}${name}`;
      const json = await readObject(store.storage, key);
      if (!json) continue;
      const check = checkBundle({ environment, key, name, json, markdown: undefined, markdownKey: key.replace(/\.json$/, '.md') });
      // The Markdown twin is a rendering; the JSON alone is the record.
      const problem = check.problems.find((p) => p.check !== 'markdown');
      if (!check.intact || !check.bundle || problem)
        return {
          ...searched,
          note: `bundle #${sequence} of ${environment} (${key}) does not verify, so it is not used as evidence: ${problem?.message ?? 'unreadable'} Run \`dbops evidence verify --environment ${environment}\`.`,
          warning: true,
        };
      const e = check.bundle.execution;
      if (!e?.restorePoint || e.restorePoint.name !== input.name) continue;
      return {
        ...searched,
        bundle: {
          environment,
          sequence,
          kind: e.action,
          key,
          sha256: check.bundle.sha256,
          createdAt: check.bundle.createdAt,
          outcome: e.outcome,
          lsn: e.restorePoint.lsn,
        },
        migrations: migrationsOf(e),
        note: null,
      };
    }
    return searched;
  } catch (e) {
    if (rt.signal.aborted) throw e;
    const where = store ? `on target "${store.storage.name}"` : '';
    const why = `${(e as Error).message.split('\n')[0]}${isDbopsError(e) && e.hint ? ` (${e.hint.split('\n')[0]})` : ''}`;
    return { ...searched, note: `the evidence of ${environment}${where ? ` ${where}` : ''} could not be read: ${why}`, warning: true };
  }
}

/** A migration counts as applied while its row finished and was not rolled back (how Prisma reads the ledger). */
const appliedIn = (rows: readonly MigrationRow[]) => new Set(rows.filter((r) => r.finishedAt !== null && r.rolledBackAt === null).map((r) => r.migrationName));

/**
 * Judges the restored ledger against the bundle: restored to a deploy's restore point, none of the
 * migrations that deploy applied may be applied (else this is not the database from before it); to a
 * rollback's, every migration it rolled back must still be.
 */
export function judgeRestorePoint(
  bundle: Pick<RestorePointBundle, 'kind' | 'sequence'>,
  migrations: string[],
  rows: readonly MigrationRow[],
): RestorePointProof {
  const applied = appliedIn(rows);
  const what = `${bundle.kind} #${bundle.sequence}`;
  const list = (names: string[]) => `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'}`;
  const expect = bundle.kind === 'deploy' ? 'absent' : 'present';
  if (migrations.length === 0)
    return {
      ok: true,
      expect,
      wrong: [],
      message: `${what} ${bundle.kind === 'deploy' ? 'applied' : 'rolled back'} no migration: nothing to compare in _prisma_migrations`,
    };
  const deploy = bundle.kind === 'deploy';
  // A deploy's migrations must be absent from the database from before it; a rollback's still present.
  const wrong = migrations.filter((m) => applied.has(m) === deploy);
  const them = wrong.length === 1 ? 'it' : 'them';
  const ok = wrong.length === 0;
  return {
    ok,
    expect,
    wrong,
    message: deploy
      ? ok
        ? `none of the ${migrations.length} migration(s) ${what} applied is applied here (_prisma_migrations): the database from before that deploy`
        : `${list(wrong)} applied in the restored database (_prisma_migrations), though ${what} applied ${them}: this is not the database from before that deploy`
      : ok
        ? `the ${migrations.length} migration(s) ${what} rolled back are still applied here (_prisma_migrations): the database from before that rollback`
        : `${list(wrong)} not applied in the restored database (_prisma_migrations), though ${what} rolled ${them} back later: this is not the database from before that rollback`,
  };
}

/** The proof on the restored cluster; a ledger that cannot be read proves nothing, so it fails. */
export async function proveRestorePoint(evidence: RestorePointEvidence, restored: DbTarget, rt: Runtime): Promise<RestorePointProof | null> {
  if (!evidence.bundle) return null;
  let rows: MigrationRow[];
  try {
    const s = await openSession(restored, rt.log, 'dbops pitr restore');
    try {
      rows = await loadRows(s);
    } finally {
      await s.close();
    }
  } catch (e) {
    return {
      ok: false,
      expect: evidence.bundle.kind === 'deploy' ? 'absent' : 'present',
      wrong: [],
      message: `the restored database's _prisma_migrations could not be read, so nothing proves it is the database from before ${evidence.bundle.kind} #${evidence.bundle.sequence}: ${(e as Error).message.split('\n')[0]}`,
    };
  }
  return judgeRestorePoint(evidence.bundle, evidence.migrations, rows);
}
