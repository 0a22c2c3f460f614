/**
 * `dbops rehearse`: the change's pending migrations on a clone of a staging snapshot. Each one is applied
 * with the executor while locks are sampled and the touched tables probed, then rolled back and applied
 * again with schema fingerprints compared; named workload queries are EXPLAIN ANALYZEd before and after.
 * Budgets turn the measurements into findings. The clone is dropped at the end, whatever happens.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { EnvError } from '../../core/errors.ts';
import { withClient } from '../../infra/db/client.ts';
import { schemaFingerprint } from '../../infra/db/fingerprint.ts';
import { headCommit } from '../../infra/git/base.ts';
import { quoteIdent } from '../../infra/db/url.ts';
import type { MigrationsPolicy } from '../../policy/schema.ts';
import { SEVERITY_ORDER, type Finding, ReportEnvelope, type StepResult } from '../../core/result.ts';
import {
  describeBlocker,
  Executor,
  malformedError,
  malformedFiles,
  readMigrationsFolder,
  createMigrationsTable,
  ensureSchema,
  migrationsTableExists,
  openSession,
  planExecution,
} from '../migrations/index.ts';
import { readRollbacksFolder } from '../rollbacks/index.ts';
import { budgetFindings, judgeLintFindings, proofFindings, verdictOf, workloadFindings, type RehearsedMigration, type TableFinding } from './budgets.ts';
import { measureApply, type ExecutorHooks, type MigrationToApply } from './measure.ts';
import { executorError, proveRollback, rehearsalRollback, type RollbackFile } from './rollback.ts';
import { resolveScope, type ScopedMigration } from './scope.ts';
import { applyBase, cancelClone, cloneSnapshot, dropClone, openSnapshot, type Clone } from './snapshot.ts';
import { resolveTables, statementRefs } from './statements.ts';
import { parseWorkload, runWorkload, type PlanResult, type WorkloadQuery } from './workload.ts';
import { formatMs, noun } from '../../core/format.ts';
import type { Runtime } from '../../core/runtime.ts';
import type { RehearseRequest, MigrationRehearsal, RehearseData } from './model.ts';

export type { RehearseRequest };

interface Prepared extends MigrationToApply {
  file: string;
  rollback: RollbackFile | undefined;
  rollbackPath: string;
}

/** Ctrl-C (exit 3). Statements running in the clone are cancelled; whatever they failed with becomes the cause. */
class Interrupted extends EnvError {}
const interrupted = (cause?: unknown) =>
  new Interrupted('Interrupted: the rehearsal stopped; its clone is dropped.', { hint: 'Run `dbops rehearse` again.', cause });

/** Everything the rehearsal of a clone needs, resolved before the clone exists. */
interface Work {
  policy: MigrationsPolicy;
  base: ScopedMigration[];
  prepared: Prepared[];
  queries: WorkloadQuery[];
  workloadPath: string;
  lint: Finding[];
}

/** The workload file, or no queries when it does not exist (the policy default names an optional file). */
async function loadWorkload(path: string): Promise<WorkloadQuery[]> {
  const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  return text === undefined ? [] : parseWorkload(text, path);
}

/** Findings of `dbops lint` from the same reports folder, when it ran and its report is valid. */
async function lintFindings(reportsDir: string, ctx: Runtime): Promise<Finding[]> {
  const path = join(reportsDir, 'lint.json');
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return [];
  try {
    // Only the envelope: rehearse needs the findings, not lint's own data.
    const report = ReportEnvelope.parse(JSON.parse(text));
    if (report.step !== 'lint') return [];
    // A report of another commit may point at lines that no longer hold the statement it was about.
    const head = await headCommit(ctx.sh);
    if (report.commit && head && report.commit !== head) {
      ctx.log.info({ path, lintCommit: report.commit, head }, 'ignoring the lint report of another commit');
      return [];
    }
    return report.findings as Finding[];
  } catch (e) {
    ctx.log.warn({ path, err: (e as Error).message.slice(0, 200) }, 'ignoring an unreadable lint report');
    return [];
  }
}

const notRun = (m: Prepared, why: string): MigrationRehearsal => ({
  name: m.name,
  mode: m.plan.mode,
  status: 'not-run',
  error: why,
  durationMs: 0,
  sampleIntervalMs: 0,
  samples: 0,
  touched: [],
  locks: [],
  timeline: [],
  probes: [],
  tables: [],
  rollback: { status: 'not-run', reapply: 'not-run' },
});

function compareWorkload(
  queries: WorkloadQuery[],
  before: Map<string, PlanResult | { error: string }>,
  after: Map<string, PlanResult | { error: string }>,
): RehearseData['workload'] {
  return queries.map((q) => {
    const b = before.get(q.name);
    const a = after.get(q.name);
    const bp = b && !('error' in b) ? b : null;
    const ap = a && !('error' in a) ? a : null;
    const error = a && 'error' in a ? a.error : b && 'error' in b ? `before the migrations: ${b.error}` : undefined;
    return {
      name: q.name,
      before: bp,
      after: ap,
      planChanged: bp !== null && ap !== null && bp.shape !== ap.shape,
      ratio: bp !== null && ap !== null && bp.ms > 0 ? Math.round((ap.ms / bp.ms) * 1000) / 1000 : null,
      ...(error !== undefined ? { error } : {}),
    };
  });
}

export async function rehearseChange(input: RehearseRequest, ctx: Runtime): Promise<StepResult<RehearseData>> {
  const policy = input.policies.rehearse;
  const folder = await readMigrationsFolder(resolve(input.migrationsDir));
  for (const w of folder.warnings) ctx.log.warn(w);
  const rollbacks = new Map((await readRollbacksFolder(input.rollbacksDir)).files.map((r) => [r.name, r]));
  // Whatever the scope, every local migration may be applied to the clone, and its rollback run: all are
  // checked as the executor checks them before anything is cloned.
  const local = folder.migrations.map((m) => m.name);
  const paired = local.flatMap((name) => rollbacks.get(name) ?? []);
  const problems = await malformedFiles(folder, local, paired);
  if (problems.length > 0) throw malformedError(problems, 'Nothing was rehearsed');
  const scope = await resolveScope(input, folder.migrations, input.policies.lint.base, ctx.sh);

  const prepared: Prepared[] = [];
  for (const m of scope.pending) {
    const rollbackPath = join(input.rollbacksDir, `${m.name}.sql`);
    const file = join(input.migrationsDir, m.name, 'migration.sql');
    const rollback = rollbacks.get(m.name);
    prepared.push({
      name: m.name,
      script: m.script,
      file,
      plan: await planExecution(m.script, m.file),
      refs: [],
      rollback: rollback && rehearsalRollback(rollback),
      rollbackPath,
    });
  }
  const workloadPath = join(input.policiesDir, policy.workload.file);
  const queries = await loadWorkload(workloadPath);
  const lint = await lintFindings(input.reportsDir, ctx);
  const scale = input.scale ?? policy.scale;

  const data: RehearseData = {
    snapshot: {
      source: input.masked ? 'masked' : input.snapshotFile ? 'file' : (input.snapshotUrl ?? ctx.env?.['STAGING_SNAPSHOT_URL']) ? 'url' : 'synthetic',
      label: 'not cloned: nothing to rehearse',
      cloneMs: 0,
    },
    base: { ref: scope.ref, applied: scope.base.map((m) => m.name) },
    pending: prepared.map((m) => m.name),
    migrations: [],
    workload: [],
  };
  if (prepared.length === 0) return { verdict: 'skip', findings: [], data };

  const snap = await openSnapshot(input, ctx, { base: scope.base, pendingNames: data.pending, executor: input.policies.executor, scale, seed: policy.seed });
  data.snapshot = snap.info;
  let clone: Clone | undefined;
  const onAbort = () => {
    if (clone) void cancelClone(snap, clone).catch(() => undefined);
  };
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const checkAbort = () => {
    if (ctx.signal.aborted) throw interrupted();
  };
  try {
    checkAbort();
    clone = await cloneSnapshot(snap, input.keep);
    data.snapshot.cloneMs = clone.cloneMs;
    data.snapshot.clone = clone.name;
    ctx.progress(`Cloned ${snap.info.label} into ${clone.name} in ${formatMs(clone.cloneMs)}`);
    const findings = await rehearse(clone, { policy: input.policies, base: scope.base, prepared, queries, workloadPath, lint }, ctx, data).catch(
      (e: unknown) => {
        throw ctx.signal.aborted && !(e instanceof Interrupted) ? interrupted(e) : e;
      },
    );
    return { verdict: verdictOf(findings), findings, data };
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    if (clone && input.keep) ctx.progress(`Kept the clone: ${clone.target.display}`);
    else if (clone)
      await dropClone(snap, clone).catch((e: unknown) =>
        ctx.log.error({ database: clone!.name, err: (e as Error).message }, 'could not drop the rehearsal clone; drop it by hand'),
      );
    await snap.admin.end().catch(() => undefined);
  }
}

async function rehearse(
  clone: Clone,
  { policy: migrationsPolicy, base, prepared, queries, workloadPath, lint }: Work,
  ctx: Runtime,
  data: RehearseData,
): Promise<Finding[]> {
  const policy = migrationsPolicy.rehearse;
  const checkAbort = () => {
    if (ctx.signal.aborted) throw interrupted();
  };
  const schema = clone.target.schema;
  // A synthetic template already is the base state; a staging snapshot usually lags a few migrations behind.
  await applyBase(clone.target, base, data.pending, migrationsPolicy.executor, ctx);
  checkAbort();

  const session = await openSession(clone.target, ctx.log, 'dbops rehearse');
  const hooks: ExecutorHooks = {};
  const executor = new Executor(
    session,
    migrationsPolicy.executor,
    {
      retry: ({ attempt, of, waitMs, blockers }) =>
        ctx.progress(
          `  lock_timeout hit; retry ${attempt}/${of} in ${formatMs(waitMs)}${blockers.length ? `; blocked by ${blockers.map(describeBlocker).join('; ')}` : ''}`,
        ),
      beforeCommit: (c) => hooks.beforeCommit?.(c) ?? Promise.resolve(),
    },
    ctx.signal,
  );
  const rehearsed: RehearsedMigration[] = [];
  try {
    if (!(await migrationsTableExists(session))) {
      await ensureSchema(session);
      await createMigrationsTable(session);
    }
    for (const m of prepared) m.refs = await statementRefs(m.script, schema);
    const allTouched = [
      ...new Set((await resolveTables(session.client, schema, [...new Set(prepared.flatMap((m) => m.refs.flatMap((r) => r.relations)))])).map((r) => r.table)),
    ];
    const analyze = async (tables: string[]) => {
      const existing = (await resolveTables(session.client, schema, tables)).map((r) => r.table);
      if (existing.length > 0) await session.client.query(`ANALYZE ${[...new Set(existing)].map((t) => `${quoteIdent(schema)}.${quoteIdent(t)}`).join(', ')}`);
    };
    const workload = (label: string) =>
      withClient(clone.target, { log: ctx.log, applicationName: `dbops rehearse (workload ${label})` }, async (c) => {
        if (queries.length > 0) ctx.progress(`Running ${queries.length} workload ${noun(queries.length, 'query', 'queries')} ${label} the pending migrations`);
        return runWorkload(c, queries, policy.workload.runs, ctx.signal);
      });

    // Fresh statistics on both sides, as autovacuum would have them: the comparison is about the schema change.
    await analyze(allTouched);
    const before = await workload('before');

    let stopped: string | undefined;
    for (const m of prepared) {
      checkAbort();
      if (stopped) {
        data.migrations.push(notRun(m, stopped));
        continue;
      }
      const tableOf = new Map((await resolveTables(session.client, schema, [...new Set(m.refs.flatMap((r) => r.relations))])).map((r) => [r.name, r.table]));
      const fpBefore = await schemaFingerprint(session.client, schema);
      ctx.progress(
        `Applying \`${m.name}\`${m.plan.mode === 'split' ? ' (split: not one transaction)' : ''} while sampling locks and probing the tables it touches`,
      );
      const { outcome, data: measured } = await measureApply({ session, executor, hooks, target: clone.target, schema, log: ctx.log, policy }, m);
      checkAbort();
      if (!outcome.ok) {
        const rehearsal: MigrationRehearsal = {
          name: m.name,
          mode: m.plan.mode,
          status: 'failed',
          error: executorError(outcome.message),
          ...measured,
          rollback: { status: 'not-run', reapply: 'not-run' },
        };
        data.migrations.push(rehearsal);
        rehearsed.push({ rehearsal, file: m.file, rollbackFile: m.rollbackPath, refs: m.refs, tableOf });
        stopped = `\`${m.name}\` failed before it`;
        ctx.progress(`  FAILED after ${formatMs(measured.durationMs)}: ${rehearsal.error}`);
        continue;
      }
      ctx.progress(`  applied in ${formatMs(measured.durationMs)} (${measured.samples} lock samples)`);
      const fpAfter = await schemaFingerprint(session.client, schema);
      const { proof, consistent } = await proveRollback({ session, executor, schema }, m, m.rollback, fpBefore, fpAfter);
      checkAbort();
      ctx.progress(`  rollback: ${proof.status}${proof.reapply !== 'not-run' ? `, re-apply ${proof.reapply}` : ''}`);
      const rehearsal: MigrationRehearsal = { name: m.name, mode: m.plan.mode, status: 'applied', ...measured, rollback: proof };
      data.migrations.push(rehearsal);
      rehearsed.push({ rehearsal, file: m.file, rollbackFile: m.rollbackPath, refs: m.refs, tableOf });
      if (!consistent) stopped = `the rollback proof of \`${m.name}\` left the clone in a state no migration expects`;
    }

    if (queries.length > 0 && !stopped) {
      checkAbort();
      await analyze(allTouched);
      data.workload = compareWorkload(queries, before, await workload('after'));
    } else if (queries.length > 0) {
      ctx.log.warn('workload not compared: not every pending migration was rehearsed');
    }
  } finally {
    await executor.close();
    await session.close();
  }

  const budget = new Map<string, TableFinding[]>(rehearsed.map((m) => [m.rehearsal.name, budgetFindings(m, policy)]));
  const judged = judgeLintFindings(lint, rehearsed, budget, policy);
  const findings: Finding[] = [];
  for (const r of data.migrations) {
    const m = rehearsed.find((x) => x.rehearsal.name === r.name);
    if (m)
      findings.push(
        ...[...proofFindings(m), ...(budget.get(r.name) ?? []).map((b) => b.finding)].sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]),
      );
    else {
      const p = prepared.find((x) => x.name === r.name)!;
      findings.push(...proofFindings({ rehearsal: r, file: p.file, rollbackFile: p.rollbackPath, refs: p.refs, tableOf: new Map() }));
    }
  }
  findings.push(...judged, ...workloadFindings({ results: data.workload, lines: new Map(queries.map((q) => [q.name, q.line])), file: workloadPath }, policy));
  return findings;
}
