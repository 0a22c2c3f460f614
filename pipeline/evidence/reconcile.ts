import { readHistory, type MigrationRow } from '../change/migrations/index.ts';
import { noun } from '../core/format.ts';
import type { Logger } from '../core/logger.ts';
import type { Finding, StepResult } from '../core/result.ts';
import type { DbTarget } from '../infra/db/url.ts';
import { EvidenceBundle } from './bundle.ts';
import { parseBundleName, verifyChain } from './chain.ts';
import type { EvidenceReconcileData } from './report.ts';
import { readFolder, type EvidenceStore } from './store.ts';

/**
 * Periodic reconciliation (SOX periodic review, SOC 2 CC8.1 "detects changes"): every change the database's
 * `_prisma_migrations` records must be explained by an evidence bundle of the pipeline. A row applied,
 * failed or rolled back at a time no bundle covers was changed outside the pipeline (`prisma migrate
 * deploy` or `dbops migrate deploy` run by hand, a restore of another state).
 */

export interface RowVerdict {
  migration: string;
  /** What the row records: applied, failed, rolled back (an apply later undone is two events). */
  event: 'applied' | 'failed' | 'rolled-back';
  at: string;
  /** explained: a bundle covers it; outside: none does; before-evidence: older than the first bundle kept. */
  status: 'explained' | 'outside' | 'before-evidence';
  /** The bundle that explains it: `#<sequence> <kind>`. */
  bundle: string | null;
}

/** Bundle times come from the runner's clock, row times from the database's: this much skew is tolerated. */
export const CLOCK_SKEW_MS = 5 * 60_000;

interface Window {
  label: string;
  from: number;
  to: number;
  applied: Set<string>;
  failed: Set<string>;
  rolledBack: Set<string>;
}

/** What each bundle did, and when (the run's start to the bundle's sealing). */
function windowsOf(bundles: readonly EvidenceBundle[]): Window[] {
  return bundles.map((b) => {
    const w: Window = {
      label: `#${b.sequence} ${b.kind}`,
      from: Date.parse(b.createdAt),
      to: Date.parse(b.createdAt),
      applied: new Set(),
      failed: new Set(),
      rolledBack: new Set(),
    };
    if (b.execution) {
      w.from = Date.parse(b.execution.startedAt);
      for (const s of b.execution.steps) {
        if (s.action === 'apply' && s.outcome === 'applied') w.applied.add(s.name);
        if (s.action === 'apply' && s.outcome === 'failed') w.failed.add(s.name);
        if (s.action === 'rollback' && s.outcome === 'rolled-back') w.rolledBack.add(s.name);
      }
    }
    if (b.interrupted) {
      // A deploy that died: what the database held for it when the next run looked, since it started.
      w.from = Date.parse(b.interrupted.startedAt);
      for (const s of b.interrupted.state) {
        if (s.state === 'applied') w.applied.add(s.migration);
        if (s.state === 'failed' || s.state === 'started') w.failed.add(s.migration);
        if (s.state === 'rolled-back') w.rolledBack.add(s.migration);
      }
    }
    return w;
  });
}

/**
 * Judges every event of every row. `evidenceStart` is when the evidence begins (the oldest bundle kept, or
 * the createdAt of the last bundle retention removed): events before it cannot be judged and say so.
 */
export function reconcile(rows: readonly MigrationRow[], bundles: readonly EvidenceBundle[], evidenceStart: string | null): RowVerdict[] {
  const windows = windowsOf(bundles);
  const start = evidenceStart === null ? Number.POSITIVE_INFINITY : Date.parse(evidenceStart) - CLOCK_SKEW_MS;
  const judge = (migration: string, event: RowVerdict['event'], at: string, did: (w: Window) => Set<string>): RowVerdict => {
    const t = Date.parse(at);
    if (t < start) return { migration, event, at, status: 'before-evidence', bundle: null };
    const w = windows.find((x) => did(x).has(migration) && t >= x.from - CLOCK_SKEW_MS && t <= x.to + CLOCK_SKEW_MS);
    return { migration, event, at, status: w ? 'explained' : 'outside', bundle: w?.label ?? null };
  };
  const verdicts: RowVerdict[] = [];
  for (const r of rows) {
    if (r.finishedAt !== null) verdicts.push(judge(r.migrationName, 'applied', r.startedAt, (w) => w.applied));
    else verdicts.push(judge(r.migrationName, 'failed', r.startedAt, (w) => w.failed));
    if (r.rolledBackAt !== null) verdicts.push(judge(r.migrationName, 'rolled-back', r.rolledBackAt, (w) => w.rolledBack));
  }
  return verdicts;
}

/** The bundles of a folder that parse, oldest first (the chain's own verdict is reported separately). */
function parseBundles(files: Map<string, Buffer>): EvidenceBundle[] {
  const bundles: EvidenceBundle[] = [];
  for (const [name, bytes] of files) {
    if (parseBundleName(name)?.ext !== 'json') continue;
    try {
      const parsed = EvidenceBundle.safeParse(JSON.parse(bytes.toString('utf8')));
      if (parsed.success) bundles.push(parsed.data);
    } catch {
      // Unparseable bundles are the chain check's to report.
    }
  }
  return bundles.sort((a, b) => a.sequence - b.sequence);
}

/**
 * The environment's migration history (its `_prisma_migrations`, read in a read-only session) against its
 * evidence bundles: `dbops evidence reconcile`, and the third comparison of `dbops drift --environment`.
 */
export async function reconcileEnvironment(
  environment: { name: string; target: DbTarget },
  store: EvidenceStore,
  log: Logger,
): Promise<StepResult<EvidenceReconcileData>> {
  const files = await readFolder(store);
  const chain = verifyChain({ environment: environment.name, folder: store.folder, files });
  const bundles = parseBundles(files);
  const oldest = bundles[0];
  const evidenceStart = oldest ? (oldest.execution?.startedAt ?? oldest.interrupted?.startedAt ?? oldest.createdAt) : null;

  const rows = await readHistory(environment.target, log, 'dbops evidence reconcile');
  const verdicts = reconcile(rows, bundles, evidenceStart);
  const findings: Finding[] = [];
  if (!chain.ok) {
    findings.push({
      rule: 'reconcile/chain',
      severity: 'error',
      message: `The evidence chain of ${environment.name} does not verify (${chain.problems[0]?.message ?? 'broken'}): the bundles cannot be trusted to explain anything.`,
      help: `Run \`dbops evidence verify --environment ${environment.name}\` and restore the damaged bundle from a copy (the workflow artifact of its run).`,
    });
  }
  for (const v of verdicts.filter((x) => x.status === 'outside')) {
    findings.push({
      rule: 'reconcile/outside',
      severity: 'error',
      migration: v.migration,
      message: `${v.migration} was ${v.event} at ${v.at} on ${environment.name}, and no evidence bundle covers it: a change outside the pipeline.`,
      help: 'Find out who ran it (the database log, the CI runs of that time), review it as an emergency change after the fact, and record the review in the change ticket.',
    });
  }
  const before = verdicts.filter((x) => x.status === 'before-evidence').length;
  if (before > 0) {
    findings.push({
      rule: 'reconcile/before-evidence',
      severity: 'notice',
      message: `${before} ${noun(before, 'change')} of ${environment.name} predate${before === 1 ? 's' : ''} its evidence (${evidenceStart ? `the oldest bundle kept starts at ${evidenceStart}` : 'there is no bundle yet'}) and cannot be judged.`,
    });
  }
  const data: EvidenceReconcileData = {
    environment: environment.name,
    database: environment.target.display,
    chain: { ok: chain.ok, bundles: chain.bundles, firstProblem: chain.problems[0]?.message ?? null },
    evidenceStart,
    rows: verdicts,
  };
  const verdict = findings.some((f) => f.severity === 'error') ? 'fail' : 'pass';
  return { verdict, findings, data };
}
