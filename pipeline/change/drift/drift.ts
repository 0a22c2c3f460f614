/**
 * `dbops drift`: three comparisons, each a finding with a readable difference.
 * 1. schema.prisma against the schema the migrations build (Prisma's engine, as `prisma migrate diff
 *    --from-migrations … --to-schema-datamodel …`): a model changed without a migration.
 * 2. The live database against the schema its applied migrations build on a throwaway database (schema
 *    fingerprints, owners and grants left out): DDL typed outside the pipeline, an index dropped by hand.
 *    Each difference comes with the statements that restore the expected state.
 * 3. With an environment, its `_prisma_migrations` against its evidence bundles (`evidence reconcile`).
 */
import { resolve } from 'node:path';
import { wildcard } from '../../core/pattern.ts';
import type { Finding, StepResult } from '../../core/result.ts';
import type { Runtime } from '../../core/runtime.ts';
import { noun, oneLine } from '../../core/format.ts';
import { connect, withClient } from '../../infra/db/client.ts';
import { schemaFacts } from '../../infra/db/fingerprint.ts';
import type { DbTarget } from '../../infra/db/url.ts';
import { announceNews, type NewsAnnouncement } from '../../infra/notify/webhook.ts';
import { explainEngineError, loadMigrationsList, openSchemaEngine, type SchemaEngineSession } from '../../infra/prisma/schema-engine.ts';
import type { MigrationsPolicy } from '../../policy/schema.ts';
import { appendBundle, reconcileEnvironment, type DriftCheck, type EvidenceStore, type RunIdentity } from '../../evidence/index.ts';
import { acquireOperationLock } from '../../infra/db/locks.ts';
import { engineServer, readPrismaSchema } from '../authoring/index.ts';
import { checkLockfile, checksum, malformedError, malformedFiles, readHistory, readMigrationsFolder, type LocalMigration } from '../migrations/index.ts';
import { applyBase } from '../rehearsal/index.ts';
import type { DriftData } from './model.ts';
import { driftItems } from './repair.ts';

export interface DriftRequest {
  prismaSchema: string;
  migrationsDir: string;
  /** The live database; with --environment also its evidence. None: only schema.prisma against the migrations. */
  live?: { target: DbTarget; environment?: { name: string; store: EvidenceStore } | undefined } | undefined;
  /** Server for the throwaway databases (default: the embedded cluster). */
  scratchUrl?: string | undefined;
  /** Seal the result into the environment's evidence chain as a `drift` bundle (needs the environment). */
  record?: { run: RunIdentity | null } | undefined;
  policies: MigrationsPolicy;
}

/** How long a recorded check waits for a running deploy (which holds the deploy lock) before giving up. */
const RECORD_LOCK_WAIT_MS = 10 * 60_000;

/** drift.ignore: patterns over the fact keys (`<kind> <schema>.<name>`). */
export function ignoreMatcher(patterns: readonly string[]): (key: string) => boolean {
  const res = patterns.map(wildcard);
  return (key) => res.some((re) => re.test(key));
}

/** The tables (models) Prisma's migration summary names: "[*] Changed the `Invoice` table", "  - Invoice" under added/removed tables. */
export function summaryModels(summary: string): string[] {
  const found = new Set<string>();
  let listing = false;
  for (const line of summary.split('\n')) {
    const changed = /^\[[*+-]\] Changed the `([^`]+)` table/.exec(line);
    if (changed) found.add(changed[1]!);
    if (/^\[[*+-]\] (Added|Removed) tables$/.test(line)) listing = true;
    else if (/^\[/.test(line)) listing = false;
    else if (listing) {
      const item = /^\s+- (\S+)/.exec(line);
      if (item) found.add(item[1]!.replace(/`/g, ''));
    }
  }
  return [...found].sort();
}

async function compareSchema(session: SchemaEngineSession, input: DriftRequest, ctx: Runtime): Promise<DriftData['schema']> {
  const schema = await readPrismaSchema(input.prismaSchema);
  const migrations = await loadMigrationsList(input.migrationsDir);
  const from = { tag: 'migrations' as const, ...migrations };
  const to = { tag: 'schemaDatamodel' as const, files: schema };
  ctx.progress(`Comparing ${input.prismaSchema} with the schema ${migrations.migrationDirectories.length} migrations build …`);
  const summary = await session.diff(from, to, { script: false });
  if (summary.empty) return { agree: true, models: [], summary: null, script: null };
  const script = await session.diff(from, to, { script: true });
  return { agree: false, models: summaryModels(summary.text), summary: summary.text.trim(), script: script.text };
}

async function compareLive(
  session: SchemaEngineSession,
  live: NonNullable<DriftRequest['live']>,
  local: LocalMigration[],
  input: DriftRequest,
  ctx: Runtime,
  findings: Finding[],
): Promise<NonNullable<DriftData['live']>> {
  const rows = await readHistory(live.target, ctx.log, 'dbops drift');
  const appliedNames = new Set(rows.filter((r) => r.finishedAt !== null && r.rolledBackAt === null).map((r) => r.migrationName));
  const byName = new Map(local.map((m) => [m.name, m]));
  const unknown = [...appliedNames].filter((n) => !byName.has(n)).sort();
  const applied = local.filter((m) => appliedNames.has(m.name));
  const base = { database: live.target.display, schema: live.target.schema, applied: applied.map((m) => m.name), unknown, ignored: 0 };
  if (unknown.length > 0) {
    findings.push({
      rule: 'drift/unknown-migration',
      severity: 'error',
      message: `${live.target.display} records ${noun(unknown.length, 'migration')} the folder does not have (${unknown.join(', ')}): the schema it should have cannot be built.`,
      help: 'Check out the branch that deployed them (or fetch the latest main), then run `dbops drift` again.',
    });
    return { ...base, agree: false, items: [] };
  }
  for (const r of rows.filter((x) => appliedNames.has(x.migrationName))) {
    const m = byName.get(r.migrationName)!;
    if (m.script !== undefined && checksum(m.script) !== r.checksum)
      findings.push({
        rule: 'drift/edited-migration',
        severity: 'warning',
        migration: m.name,
        file: m.file,
        message: `${m.name} was edited after it was applied to ${live.target.display}: the expected schema is built from the file as it is now.`,
        help: 'Restore the file as it was applied (git log -p on it); an applied migration is never edited.',
      });
  }

  const expectedDb = await session.database('expected');
  const expected: DbTarget = { ...expectedDb, schema: live.target.schema, schemaExplicit: live.target.schemaExplicit };
  // Every script is there: malformed folders were refused before anything was compared.
  const scoped = applied.map((m) => ({ name: m.name, file: m.file, script: m.script! }));
  ctx.progress(`Building the schema ${applied.length} applied ${noun(applied.length, 'migration')} produce on a throwaway database …`);
  await applyBase(expected, scoped, [], input.policies.executor, ctx);
  const facts = (target: DbTarget) =>
    withClient(target, { log: ctx.log, applicationName: 'dbops drift' }, (c) => schemaFacts(c, target.schema, { ownership: false }));
  const [want, have] = await Promise.all([facts(expected), facts(live.target)]);
  const ignore = ignoreMatcher(input.policies.drift.ignore);
  let ignored = 0;
  const items = driftItems(want, have, (key) => {
    const hit = ignore(key);
    if (hit) ignored++;
    return hit;
  });
  for (const item of items) {
    const what =
      item.change === 'missing' ? 'is missing' : item.change === 'unexpected' ? 'was added outside the migrations' : 'was changed outside the migrations';
    findings.push({
      rule: 'drift/live-schema',
      severity: 'error',
      message: `${item.key} ${what} on ${live.target.display}${item.expected && item.actual ? ` (expected: ${item.expected}; found: ${item.actual})` : ''}.`,
      help: item.restore.length > 0 ? `Restore the expected state with:\n${item.restore.join('\n')}` : (item.manual ?? 'Restore it by hand.'),
    });
  }
  return { ...base, agree: items.length === 0, items, ignored };
}

/**
 * `dbops drift`. With `record`, the comparison runs under the database's deploy lock (a deploy half done
 * would look like drift, and the chain is appended in sequence) and its result is sealed as a `drift` bundle.
 */
export async function checkDrift(input: DriftRequest, ctx: Runtime): Promise<StepResult<DriftData>> {
  const environment = input.live?.environment;
  if (!input.record || !input.live || !environment) return compare(input, ctx);
  const live = input.live;
  const record = input.record;
  const client = await connect(live.target, { log: ctx.log, applicationName: 'dbops drift (lock)' });
  try {
    await acquireOperationLock(client, 'deploy', {
      what: 'A recorded drift check',
      waitMs: RECORD_LOCK_WAIT_MS,
      signal: ctx.signal,
      onWait: (holder) => ctx.progress(`waiting for ${holder} to release the deploy lock (up to ${RECORD_LOCK_WAIT_MS / 60_000} min)`),
    });
    const result = await compare(input, ctx);
    const stored = await appendBundle(environment.store, {
      kind: 'drift',
      breakGlass: null,
      execution: null,
      interrupted: null,
      run: record.run,
      drift: driftCheckOf(result.data),
    });
    result.data.recorded = { sequence: stored.bundle.sequence, key: stored.key };
    ctx.progress(`Recorded as bundle #${stored.bundle.sequence} of ${environment.name}'s evidence`);
    return result;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** What a `drift` bundle keeps of a check: verdicts, objects with their restoring statements, changes outside the pipeline. */
export function driftCheckOf(d: DriftData): DriftCheck {
  const live = d.live!;
  const fails = !d.schema.agree || !live.agree || (d.evidence !== null && (!d.evidence.chain.ok || d.evidence.rows.some((r) => r.status === 'outside')));
  return {
    database: live.database,
    schema: live.schema,
    verdict: fails ? 'fail' : 'pass',
    prismaSchema: { agrees: d.schema.agree, models: d.schema.models },
    applied: live.applied.length,
    unknown: live.unknown,
    objects: live.items.map((i) => ({ key: i.key, change: i.change, restore: i.restore })),
    ignored: live.ignored,
    outside: (d.evidence?.rows ?? []).filter((r) => r.status === 'outside').map((r) => ({ migration: r.migration, event: r.event, at: r.at })),
    chainOk: d.evidence?.chain.ok ?? true,
  };
}

async function compare(input: DriftRequest, ctx: Runtime): Promise<StepResult<DriftData>> {
  const folder = await readMigrationsFolder(resolve(input.migrationsDir));
  for (const w of folder.warnings) ctx.log.warn(w);
  checkLockfile(folder);
  // A folder without migration.sql, or a file that is not valid UTF-8, would build a wrong expected schema.
  const problems = await malformedFiles(
    folder,
    folder.migrations.map((m) => m.name),
  );
  if (problems.length > 0) throw malformedError(problems, 'Nothing was compared');
  const findings: Finding[] = [];
  const data: DriftData = {
    prismaSchema: input.prismaSchema,
    migrations: folder.migrations.length,
    schema: { agree: true, models: [], summary: null, script: null },
    live: null,
    evidence: null,
    notification: null,
    recorded: null,
  };
  const session = await openSchemaEngine(await engineServer(input.scratchUrl, '--scratch-url', ctx), ctx.log);
  try {
    data.schema = await compareSchema(session, input, ctx);
    if (input.live) data.live = await compareLive(session, input.live, folder.migrations, input, ctx, findings);
  } catch (e) {
    throw explainEngineError(e, { schema: input.prismaSchema, migrationsDir: input.migrationsDir });
  } finally {
    await session.close();
  }
  if (!data.schema.agree)
    findings.unshift({
      rule: 'drift/schema-without-migration',
      severity: 'error',
      file: input.prismaSchema,
      message: `${input.prismaSchema} was changed without a migration: ${data.schema.models.length > 0 ? `${data.schema.models.join(', ')} differ${data.schema.models.length === 1 ? 's' : ''}` : 'it differs'} from the schema the migrations build (${oneLine(data.schema.summary ?? '', 200)}).`,
      help: 'Run `dbops migrate new --name <what changed>`: it writes the migration and its rollback (or revert the schema change).',
    });
  const environment = input.live?.environment;
  if (environment && input.live) {
    const reconciled = await reconcileEnvironment({ name: environment.name, target: input.live.target }, environment.store, ctx.log);
    data.evidence = reconciled.data;
    findings.push(...reconciled.findings);
  }
  return { verdict: findings.some((f) => f.severity === 'error') ? 'fail' : 'pass', findings, data };
}

/** The Slack-compatible message: each comparison that failed, with the objects named (never a URL's password: targets are shown masked). */
export function driftMessage(result: StepResult<DriftData>, environment: string | undefined): { text: string } {
  const d = result.data;
  const where = environment ?? d.live?.database ?? 'the repository';
  const lines = [`dbops drift, ${where}: ${result.findings.filter((f) => f.severity === 'error').length} finding(s).`];
  if (!d.schema.agree) lines.push(`• ${d.prismaSchema} changed without a migration: ${d.schema.models.join(', ') || 'see the report'}`);
  for (const item of d.live?.items ?? []) lines.push(`• ${item.key}: ${item.change}${item.restore[0] ? ` — restore: ${item.restore[0]}` : ''}`);
  if (d.live && d.live.unknown.length > 0) lines.push(`• applied migrations the folder lacks: ${d.live.unknown.join(', ')}`);
  for (const r of d.evidence?.rows.filter((x) => x.status === 'outside') ?? []) lines.push(`• ${r.migration} ${r.event} at ${r.at} outside the pipeline`);
  if (d.evidence && !d.evidence.chain.ok) lines.push(`• the evidence chain does not verify: ${d.evidence.chain.firstProblem}`);
  return { text: lines.join('\n') };
}

/** Posts the message when drift was found; nothing otherwise. Never throws: a failed delivery is the result. */
export function notifyDrift(
  result: StepResult<DriftData>,
  environment: string | undefined,
  policy: MigrationsPolicy,
  rt: Pick<Runtime, 'env' | 'log' | 'signal'>,
): Promise<NewsAnnouncement> {
  return announceNews(rt.env, policy.drift.notifications.webhook_env, result.verdict === 'fail' ? null : 'no drift', () => driftMessage(result, environment), {
    signal: rt.signal,
    log: rt.log,
    userAgent: 'dbops-drift',
  });
}
