import { hostname, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { parseDuration } from '../../core/duration.ts';
import { EnvError, ExitCode, isDbopsError } from '../../core/errors.ts';
import {
  type BundleDraft,
  appendBundle,
  nextSequence,
  clearInflight,
  openEvidence,
  readInflight,
  saveLocalCopy,
  writeInflight,
  type EvidenceStore,
  type StoredBundle,
  type ExecutionData,
  type GateData,
} from '../../evidence/index.ts';
import { assertWritableFolder, writeFileAtomic } from '../../core/fs.ts';
import { checkLockfile, readMigrationsFolder, loadRows, openOwnSession, type Session } from '../migrations/index.ts';
import { executeDeploy, executeRollback, finalStateOf, restoreCommandFor, type EngineRequest, type Execution } from './engine.ts';
import { resolveEnvironment } from './environment.ts';
import { interruptedDeployOf } from './checks/state.ts';
import { evaluateGate, gateRequest } from './gate.ts';
import { acquireDeployLock, releaseDeployLock } from './lock.ts';
import type { Runtime } from '../../core/runtime.ts';
import type { ReleaseFlags, ReleasePolicies } from './checks/types.ts';
import type { StepResult } from '../../core/result.ts';
import { snapshotBeforeDeploy } from '../../operations/queries/index.ts';
import { redactDeep } from '../../core/redact.ts';
import { waitForReplicas } from './replicas.ts';
import type { Finding } from '../../core/result.ts';
import { noun } from '../../core/format.ts';

/**
 * `dbops deploy` and `dbops rollback` around the engine: one session on the environment's database holding
 * the deploy lock from before the gate until the evidence is stored, so nothing can change between the
 * gate's judgement and the execution, and the in-flight marker is only ever read by the one who may act.
 */

type Action = 'deploy' | 'rollback';
/** The flags of `dbops deploy` and `dbops rollback`. */
export interface ReleaseRequest extends ReleaseFlags {
  /** Wait for a running deploy of this database instead of failing. */
  wait: boolean;
  waitTimeout: string;
  /** rollback: the migration that stays applied. */
  to?: string | undefined;
}
type Inputs = ReleaseRequest;

/** Who runs this: the GitHub actor inside Actions, else OS user@host. */
const whoRuns = (gate: GateData | null) => gate?.run?.actor ?? `${userInfo().username}@${hostname()}`;

/** Failing checks that refuse the action. An interrupted earlier deploy this run has just recorded no longer does. */
const refusals = (gate: GateData, interruptedRecorded: boolean) =>
  gate.checks.filter((c) => c.status === 'fail' && !(interruptedRecorded && c.name === 'interrupted'));

function refusalMessage(gate: GateData, interruptedRecorded: boolean): { message: string; hint: string } {
  const failing = refusals(gate, interruptedRecorded);
  const lines = failing.flatMap((c) =>
    c.reasons.length ? c.reasons.map((r) => `  - [${c.name}] ${r.message}${r.hint ? `\n      fix: ${r.hint}` : ''}`) : [`  - [${c.name}] ${c.summary}`],
  );
  return {
    message: `The gate refused the ${gate.action} to ${gate.environment} (${lines.length} ${noun(lines.length, 'reason')}); nothing was changed.\n${lines.join('\n')}`,
    hint: `Fix every reason above and run \`dbops ${gate.action}\` again; \`dbops gate --environment ${gate.environment}\` checks without deploying.`,
  };
}

/** What storing a bundle achieved: `stored` means the bundle is in the evidence storage, the record that counts. */
interface StoredEvidence {
  evidence: ExecutionData['evidence'];
  stored: boolean;
  /** What could not be written, stated precisely: the bundle itself, or only its local copy. */
  problem?: string;
}

const localEvidenceDir = (reportsDir: string) => join(resolve(reportsDir), 'evidence');

/**
 * Stores the bundle, then its local copy (the workflow artifact). A storage failure saves the draft locally
 * and says so; a local copy that cannot be written after the bundle was stored is only that: the stored
 * bundle is the record, so the in-flight marker can go and the next deploy never reports this one as died.
 */
async function storeEvidence(store: EvidenceStore, draft: BundleDraft, reportsDir: string, ctx: Runtime): Promise<StoredEvidence> {
  const localDir = localEvidenceDir(reportsDir);
  let stored: StoredBundle;
  try {
    stored = await appendBundle(store, draft);
  } catch (e) {
    const file = join(localDir, store.environment, `unstored-${new Date().toISOString().replace(/[-:.]/g, '')}-${draft.kind}.json`);
    const notStored = `The evidence bundle was NOT stored in ${store.storage.name} (${store.storage.location}): ${(e as Error).message}.`;
    try {
      await writeFileAtomic(file, `${JSON.stringify(redactDeep(draft), null, 2)}\n`);
      return { evidence: null, stored: false, problem: `${notStored} Its content is saved in ${file}.` };
    } catch (w) {
      return { evidence: null, stored: false, problem: `${notStored} Its content could not be saved in ${file} either: ${(w as Error).message}.` };
    }
  }
  const evidence = {
    key: stored.key,
    sequence: stored.bundle.sequence,
    sha256: stored.bundle.sha256,
    target: store.storage.name,
    localJson: null as string | null,
    localMarkdown: null as string | null,
  };
  let problem: string | undefined;
  try {
    const local = await saveLocalCopy(localDir, stored);
    evidence.localJson = local.json;
    evidence.localMarkdown = local.markdown;
  } catch (e) {
    problem = `The evidence bundle #${stored.bundle.sequence} is stored as ${stored.key} on target "${store.storage.name}" (that is the record), but its local copy in ${join(localDir, store.environment)} could not be written: ${(e as Error).message}.`;
  }
  // In Actions the bundle's page is the job summary too: reviewers read the same record the auditor gets.
  await ctx.summarize(stored.markdown).catch((e: unknown) => ctx.log.warn(`could not write the job summary: ${(e as Error).message}`));
  return { evidence, stored: true, ...(problem ? { problem } : {}) };
}

export async function runAction(action: Action, input: Inputs, policies: ReleasePolicies, ctx: Runtime): Promise<StepResult<ExecutionData>> {
  const startedAt = new Date().toISOString();
  const env = ctx.env;
  const environment = resolveEnvironment(policies.environments, input.environment, env, input.schema);
  const folder = await readMigrationsFolder(resolve(input.migrationsDir), { willPlan: true });
  for (const w of folder.warnings) ctx.log.warn(w);
  checkLockfile(folder);
  const store = openEvidence({ backups: policies.backups, environments: policies.environments }, environment.name, env, ctx.log);
  // The bundle's local copy is written after the database changed: make sure it can be, before.
  await assertWritableFolder(join(localEvidenceDir(input.reportsDir), environment.name), `the local evidence folder of --reports-dir ${input.reportsDir}`);
  ctx.progress(`${action === 'deploy' ? 'Deploying to' : 'Rolling back'} ${environment.name}: ${environment.target.display}`);

  const s = await openOwnSession(environment.target, ctx.log, `dbops ${action}`, { pooler: environment.policy.pooler, environment: environment.name });
  try {
    const waitMs = input.wait ? parseDuration(input.waitTimeout) : undefined;
    await acquireDeployLock(s, {
      ...(waitMs !== undefined ? { waitMs } : {}),
      signal: ctx.signal,
      onWait: (holder) => ctx.progress(`Waiting for the deploy lock, held by ${holder} (up to ${input.waitTimeout}) …`),
    });
    try {
      return await underLock(action, input, ctx, policies, s, store, environment, folder.migrations, policies.migrations.executor, startedAt);
    } finally {
      await releaseDeployLock(s);
    }
  } finally {
    await s.close();
  }
}

async function underLock(
  action: Action,
  input: Inputs,
  ctx: Runtime,
  policies: ReleasePolicies,
  s: Session,
  store: EvidenceStore,
  environment: ReturnType<typeof resolveEnvironment>,
  local: EngineRequest['local'],
  executor: EngineRequest['executor'],
  startedAt: string,
): Promise<StepResult<ExecutionData>> {
  const marker = await readInflight(store);
  const gate = await evaluateGate(gateRequest(environment, action, input, input.to), policies, ctx, s);
  if (gate.breakGlass)
    ctx.progress(`\n!!! BREAK-GLASS: ${gate.breakGlass.reason} (by ${gate.breakGlass.by}) — approvals are replaced and this is recorded !!!\n`);

  // The previous deploy died (we hold the lock, so it is not running): its evidence comes first in the chain.
  let interruptedRecorded = false;
  if (marker) {
    const interrupted = gate.interrupted ?? interruptedDeployOf(marker, await loadRows(s));
    ctx.progress(`An earlier ${marker.action} (started ${marker.startedAt} by ${marker.by}) never finished; recording it as interrupted.`);
    const stored = await storeEvidence(store, { kind: 'interrupted', breakGlass: null, execution: null, interrupted, run: marker.run }, input.reportsDir, ctx);
    if (!stored.stored) throw new EnvError(stored.problem!, { hint: 'Nothing was deployed. Make the evidence storage reachable and run again.' });
    if (stored.problem) ctx.log.warn(stored.problem);
    await clearInflight(store);
    interruptedRecorded = true;
  }

  /** This action's bundle: the gate's decision and what was executed. */
  const storeExecution = (data: ExecutionData) =>
    storeEvidence(store, { kind: action, breakGlass: gate.breakGlass, execution: data, interrupted: null, run: gate.run }, input.reportsDir, ctx);

  const base = (outcome: ExecutionData['outcome'], e: Omit<Execution, 'outcome' | 'failure'>): ExecutionData => ({
    environment: environment.name,
    action,
    outcome,
    startedAt,
    finishedAt: new Date().toISOString(),
    gate,
    steps: e.steps,
    smoke: e.smoke,
    finalState: e.finalState,
    ...(e.restorePoint ? { restorePoint: e.restorePoint } : {}),
    restoreCommand: e.restoreCommand,
    evidence: null,
  });

  // The gate judged the change on this session's rows under the deploy lock: nothing can change it until we release it.
  const names = gate.migrations.map((m) => m.name);
  if (refusals(gate, interruptedRecorded).length > 0) {
    // A rollback that cannot run by script (irreversible, missing or empty rollback) has one way back: the backup.
    const noScript = action === 'rollback' && gate.migrations.some((m) => m.rollback.status !== 'paired');
    const restoreCommand = noScript ? restoreCommandFor({ backup: gate.backup, urlEnv: environment.urlEnv, policiesDir: input.policiesDir }) : null;
    const data = base('refused', { steps: [], smoke: [], finalState: await finalStateOf(s, local, null, null), restoreCommand });
    const stored = await storeExecution(data);
    data.evidence = stored.evidence;
    const { message, hint } = refusalMessage(gate, interruptedRecorded);
    if (stored.problem)
      return { verdict: 'fail', findings: [], data, exitCode: ExitCode.Environment, error: { message: `${message}\n\n${stored.problem}`, hint } };
    return { verdict: 'fail', findings: [], data, error: { message, hint } };
  }

  const planned = names;
  await writeInflight(store, {
    formatVersion: 1,
    environment: environment.name,
    action,
    startedAt,
    run: gate.run,
    by: whoRuns(gate),
    database: { name: gate.database.name, systemIdentifier: gate.database.systemIdentifier },
    planned,
    pid: process.pid,
    host: hostname(),
  });

  // Named after the bundle that will record it (the deploy lock keeps the sequence).
  const sequence = await nextSequence(store);
  // What the statements cost before this deploy, for `dbops queries report --since-deploy`; never in the deploy's way.
  if (action === 'deploy' && policies.queries) await snapshotBeforeDeploy(environment, { ...policies, queries: policies.queries }, sequence, ctx);

  const req: EngineRequest = {
    environment,
    local,
    rollbacksDir: resolve(input.rollbacksDir),
    executor,
    restore: {
      backup: gate.backup ? { id: gate.backup.id, target: gate.backup.target } : null,
      urlEnv: environment.urlEnv,
      policiesDir: input.policiesDir,
      restorePoint: policies.backups.pitr ? `dbops-${environment.name}-${sequence}` : undefined,
    },
  };
  const io = { progress: (l: string) => ctx.progress(l), signal: ctx.signal };
  let execution: Execution;
  try {
    execution = action === 'deploy' ? await executeDeploy(s, req, io) : await executeRollback(s, { ...req, names }, io);
  } catch (e) {
    // The engine throws DbopsErrors only before its first write (P3005, a malformed pending file, Prisma's
    // lock held): record the attempt and clear the marker. Anything else (the connection lost mid-way)
    // leaves the marker, so the next gate reports what the database holds.
    if (!isDbopsError(e)) throw e;
    const data = base('failed', { steps: [], smoke: [], finalState: await finalStateOf(s, local, null, null), restoreCommand: null });
    const stored = await storeExecution(data);
    if (stored.stored) await clearInflight(store);
    if (stored.problem) ctx.log.warn(stored.problem);
    throw e;
  }
  const data = base(execution.outcome, execution);
  // The deploy is applied: every declared replica must replay it (bounded; a late replica is a warning).
  let replicaFindings: Finding[] = [];
  if (action === 'deploy' && execution.outcome === 'succeeded' && environment.policy.replicas.length > 0) {
    const waited = await waitForReplicas(s.client, environment, ctx.env, { log: ctx.log, progress: (l) => ctx.progress(l), signal: ctx.signal });
    data.replicas = waited.replicas;
    data.finishedAt = new Date().toISOString();
    replicaFindings = waited.findings;
  }
  const stored = await storeExecution(data);
  data.evidence = stored.evidence;
  // The marker goes only with the bundle that explains it: an unstored bundle leaves it for the next gate.
  if (stored.stored) await clearInflight(store);

  const error = execution.failure ? { message: execution.failure.message, hint: execution.failure.hint } : undefined;
  if (stored.problem) {
    return {
      verdict: 'fail',
      findings: [],
      data,
      exitCode: ExitCode.Environment,
      error: {
        message: [error?.message ?? `The ${action} ${execution.outcome}.`, stored.problem].join('\n\n'),
        hint: stored.stored
          ? `Nothing needs to be redone: \`dbops evidence verify --environment ${environment.name}\` shows the stored bundle; make --reports-dir writable for the next run.${error?.hint ? `\n${error.hint}` : ''}`
          : `Store the saved bundle before the next deploy (the in-flight marker stays, so the next gate reports this ${action}).${error?.hint ? `\n${error.hint}` : ''}`,
      },
    };
  }
  if (!error) return { verdict: replicaFindings.length > 0 ? 'warn' : 'pass', findings: replicaFindings, data };
  return { verdict: 'fail', findings: [], data, ...(execution.failure?.lockTimeout ? { exitCode: ExitCode.Environment } : {}), error };
}
