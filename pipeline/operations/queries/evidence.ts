import { RefusedError } from '../../core/errors.ts';
import type { Runtime } from '../../core/runtime.ts';
import { withClient } from '../../infra/db/client.ts';
import { acquireOperationLock } from '../../infra/db/locks.ts';
import type { QueryReview, RunIdentity, StoredBundle } from '../../evidence/index.ts';

// The evidence domain (S3 storage, encryption) loads only when an environment is used: a review of a bare
// database URL starts without it.
const evidenceDomain = () => import('../../evidence/index.ts');
import type { Policies } from '../../policy/schema.ts';
import { APPLICATION_NAME, deployLabel, replicaTargets } from './snapshot.ts';
import { recordSnapshot } from './review.ts';
import type { QueriesPolicy } from '../../policy/queries.ts';
import type { QueriesReview, QueriesTarget } from './review.ts';

/** An environment's database, its replicas and its evidence storage (the history of its snapshots). */
export async function environmentQueriesTarget(
  environment: { name: string; target: QueriesTarget['primary']; policy: { replicas: Array<{ name: string; database_url_env: string }> } },
  policies: Pick<Policies, 'backups' | 'environments'>,
  rt: Pick<Runtime, 'env' | 'log'>,
): Promise<QueriesTarget> {
  const { openEvidence } = await evidenceDomain();
  const store = openEvidence(policies, environment.name, rt.env, rt.log);
  return {
    primary: environment.target,
    replicas: replicaTargets(environment.policy.replicas, rt.env),
    environment: environment.name,
    evidence: { storage: store.storage, folder: store.folder },
  };
}

/** What a review finds worth a warning: regressions, and statements that became slow. */
export const reviewVerdict = (r: QueriesReview): 'pass' | 'warn' =>
  r.statements.regressions.length > 0 || r.statements.slow.some((s) => s.newlySlow) ? 'warn' : 'pass';

/**
 * Seals the review of deploy `sequence` into the environment's chain as a `query-review` bundle, naming the
 * deploy bundle by its hash. Under the deploy lock, like every append to the chain.
 */
export async function recordQueryReview(
  target: QueriesTarget,
  review: QueriesReview,
  policies: Pick<Policies, 'backups' | 'environments'>,
  run: RunIdentity | null,
  rt: Pick<Runtime, 'env' | 'log' | 'signal'>,
): Promise<StoredBundle> {
  if (!target.environment || review.sinceDeploy === null || !review.previous)
    throw new RefusedError('A query-review bundle needs --environment and --since-deploy.');
  const { appendBundle, newestBundle, openEvidence } = await evidenceDomain();
  const store = openEvidence(policies, target.environment, rt.env, rt.log);
  const sequence = review.sinceDeploy;
  const evidence = review.snapshot.find((s) => s.place === 'evidence');
  if (!evidence) throw new RefusedError('The snapshot of this review was not stored beside the evidence.');
  return withClient(target.primary, { log: rt.log, applicationName: APPLICATION_NAME }, async (c) => {
    await acquireOperationLock(c, 'deploy', { what: 'A deploy, rollback or settings change', signal: rt.signal });
    const deploy = await newestBundle(store, 'deploy', (b) => b.sequence === sequence);
    if (!deploy)
      throw new RefusedError(`Bundle #${sequence} of ${target.environment} is not a deploy bundle (or is missing), so there is no deploy to review.`, {
        hint: `\`dbops evidence verify --environment ${target.environment}\` lists the bundles; pass the sequence of a deploy.`,
      });
    const s = review.statements;
    const queryReview: QueryReview = {
      database: review.database,
      deploy: {
        sequence,
        sha256: deploy.sha256,
        outcome: deploy.execution?.outcome ?? null,
        migrations: deploy.execution?.gate?.migrations.map((m) => m.name) ?? [],
      },
      before: { key: review.previous!.key, at: review.previous!.at, sha256: review.previous!.sha256 },
      after: { key: evidence.key, at: review.at, sha256: evidence.sha256 },
      verdict: reviewVerdict(review),
      breaks: s.breaks,
      totals: s.totals,
      regressions: s.regressions.map((r) => ({
        queryid: r.queryid,
        query: r.query,
        before: r.before,
        after: { calls: r.calls, meanMs: r.meanMs },
        ratio: Number.isFinite(r.ratio) ? r.ratio : null,
        increaseMs: r.increaseMs,
      })),
      slow: s.slow.map((r) => ({ queryid: r.queryid, query: r.query, calls: r.calls, meanMs: r.meanMs, newlySlow: r.newlySlow })),
      newStatements: s.newStatements.length,
      indexFindings: review.indexes.findings.map((f) => ({ kind: f.kind, subject: f.subject, message: f.message })),
    };
    return appendBundle(store, { kind: 'query-review', breakGlass: null, execution: null, interrupted: null, run, queryReview });
  });
}

/**
 * The snapshot `dbops deploy` takes before its first migration, labelled with the sequence its bundle will get.
 * Never in the deploy's way: a database without pg_stat_statements, an unreachable replica or storage is a
 * warning, and only `queries report --since-deploy` of this deploy becomes impossible.
 */
export async function snapshotBeforeDeploy(
  environment: Parameters<typeof environmentQueriesTarget>[0],
  policies: Pick<Policies, 'backups' | 'environments'> & { queries: QueriesPolicy },
  sequence: number,
  rt: Pick<Runtime, 'env' | 'log' | 'progress'>,
): Promise<void> {
  try {
    const target = await environmentQueriesTarget(environment, policies, rt);
    const { stored } = await recordSnapshot(target, policies.queries, { label: deployLabel(sequence), deploy: { sequence } }, rt);
    rt.log.info({ keys: stored.map((s) => s.key) }, `query snapshot taken before deploy #${sequence}`);
  } catch (e) {
    rt.log.warn(
      `no query snapshot before deploy #${sequence} (\`dbops queries report --since-deploy ${sequence}\` will not be possible): ${(e as Error).message.split('\n')[0]}`,
    );
  }
}
