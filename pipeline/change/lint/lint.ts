import { basename, join } from 'node:path';
import { ExitCode } from '../../core/errors.ts';
import { changedSince, gitPath, showFile } from '../../infra/git/base.ts';
import type { LintPolicy } from '../../policy/lint.ts';
import { readRollbacksFolder, pairRollbacks } from '../rollbacks/index.ts';
import {
  changeScope,
  checkSqlFiles,
  lockfileProblems,
  problemFinding,
  readMigrationsFolder,
  loadRows,
  openSession,
  type ExecutionPlan,
} from '../migrations/index.ts';
import type { AccessContext, AccessCoverage } from './access.ts';
import type { MaskingContext } from './masking.ts';
import type { MaskingPolicy } from '../../policy/masking.ts';
import { analyzeMigrations, parseErrorFinding } from './analyze.ts';
import { appliedHistoryFindings, baseHistoryFindings, classifyChanges, mergeHistory } from './history.ts';
import { DBOPS_RULES, policyLevel, PRISMA_PROFILE, profileLevel, SQUAWK_PREFIX, unknownRuleKeys, type FileContext, type Level } from './profile.ts';
import { mapSquawkFinding, runSquawk, type SquawkRun } from './squawk.ts';
import { SourceText } from './text.ts';
import { plural } from '../../core/format.ts';
import type { Finding, StepResult, Verdict } from '../../core/result.ts';
import type { Runtime } from '../../core/runtime.ts';
import type { DbTarget } from '../../infra/db/url.ts';
import type { LintData } from './model.ts';

type LintFile = LintData['files'][number];

interface InScope {
  path: string;
  kind: 'migration' | 'rollback';
  migration: string;
  change: LintFile['change'];
  text: string;
  readonly source: SourceText;
  context: FileContext;
}

const EMPTY_COUNTS = () => ({ error: 0, warning: 0, notice: 0 });

/**
 * `dbops lint`: squawk with the policy's profile over the migration and rollback files in scope, plus
 * the dbops rules (history integrity, rollback pairing, destructive statements, access in migrations,
 * tables the access policy does not cover and personal data left unmasked). Connects to a database
 * only when one is given.
 */
export interface LintRequest {
  migrationsDir: string;
  rollbacksDir: string;
  /** For messages that name the policy file. */
  policiesDir: string;
  all: boolean;
  last?: number | undefined;
  /** Comma-separated migration names. */
  only?: string | undefined;
  base?: string | undefined;
  /** Comma-separated pull request labels. */
  labels: string;
  /** lint of policies/migrations.yaml. */
  policy: LintPolicy;
  /** Also refuse edits to migrations applied on this database (lint connects only when given). */
  database?: DbTarget | undefined;
  /**
   * policies/access.yaml with the access audit's coverage rule, for access/table-not-covered (absent, or
   * a policy declaring no roles: that rule does nothing). The rules on access statements need neither.
   */
  access?: AccessCoverage | undefined;
  /** Schema of unqualified names in the migrations (--schema, else the database URL's, else public). */
  schema?: string | undefined;
  /**
   * policies/masking.yaml, for masking/personal-data-unmasked; only when the file exists (absent: that
   * rule does nothing).
   */
  masking?: MaskingPolicy | undefined;
}

export async function lintChange(input: LintRequest, ctx: Runtime): Promise<StepResult<LintData>> {
  const { policy } = input;
  const { migrationsDir, rollbacksDir } = input;
  const folder = await readMigrationsFolder(migrationsDir);
  const rollbackFolder = await readRollbacksFolder(rollbacksDir);
  const local = new Map(folder.migrations.map((m) => [m.name, m]));
  const rollbackByName = new Map(rollbackFolder.files.map((r) => [r.name, r]));

  // ---- scope -------------------------------------------------------------------------------------
  const change = await changeScope(input, folder.migrations, migrationsDir, policy.base, ctx.sh);
  const scope: LintData['scope'] = change.kind;
  const migrationScope = new Map<string, LintFile['change']>();
  const rollbackScope = new Map<string, LintFile['change']>();
  /** Names whose pairing the change may have broken (deleted or renamed migrations and rollbacks). */
  const touched = new Set<string>();
  let historyFromBase: Finding[] = [];
  let base: string | null = null;
  if (change.kind !== 'changed') {
    // Without git, the named migrations and their rollbacks; --all every rollback file too, paired or not.
    for (const m of change.migrations) {
      migrationScope.set(m.name, 'unchanged');
      if (rollbackByName.has(m.name)) rollbackScope.set(m.name, 'unchanged');
    }
    if (change.kind === 'all') for (const r of rollbackFolder.files) rollbackScope.set(r.name, 'unchanged');
  } else {
    const { ref, sha } = change;
    base = ref;
    const changes = classifyChanges(await changedSince(ctx.sh, sha, [gitPath(migrationsDir), gitPath(rollbacksDir)]), migrationsDir, rollbacksDir);
    const contents = new Map<string, string>();
    for (const c of changes.migrations.filter((c) => c.status === 'modified')) {
      const text = await showFile(ctx.sh, sha, `${gitPath(migrationsDir)}/${c.name}/migration.sql`);
      if (text !== undefined) contents.set(c.name, text);
    }
    historyFromBase = baseHistoryFindings({ ref, migrations: change.onBase, contents }, changes.migrations, local, migrationsDir);
    for (const c of changes.migrations) {
      if (c.status === 'deleted') touched.add(c.name);
      else if (local.has(c.name)) migrationScope.set(c.name, c.status);
      if (c.oldName) touched.add(c.oldName);
    }
    for (const c of changes.rollbacks) {
      if (c.status === 'deleted') touched.add(c.name);
      else if (rollbackByName.has(c.name)) rollbackScope.set(c.name, c.status);
      if (c.oldName) touched.add(c.oldName);
    }
    ctx.log.info({ base: ref, mergeBase: sha, migrations: migrationScope.size, rollbacks: rollbackScope.size }, 'lint scope');
  }

  // ---- history against a database ----------------------------------------------------------------
  let history = historyFromBase;
  if (input.database !== undefined) {
    const target = input.database;
    const where = `database "${target.database}" on ${target.host}:${target.port}`;
    const session = await openSession(target, ctx.log, 'dbops lint');
    const rows = await loadRows(session).finally(() => session.close());
    history = mergeHistory(historyFromBase, appliedHistoryFindings(folder.migrations, rows, where, migrationsDir), where);
  }

  // ---- files, and how the executor runs each ------------------------------------------------------
  // The executor's own checks decide which files are malformed, so lint refuses exactly what deploy would.
  const inScopeMigrations = [...migrationScope.keys()].map((name) => local.get(name)!);
  const inScopeRollbacks = [...rollbackScope.keys()].map((name) => rollbackByName.get(name)!);
  const checked = await checkSqlFiles(inScopeMigrations, inScopeRollbacks);
  const malformed = [...lockfileProblems(folder), ...checked.problems];
  const findings: Finding[] = [...history];
  const files: InScope[] = [];
  for (const m of inScopeMigrations) {
    if (m.script !== undefined) files.push(inScope(m.file, 'migration', m.name, migrationScope.get(m.name)!, m.script, checked.plans.get(m.file)));
  }
  for (const r of inScopeRollbacks) files.push(inScope(r.path, 'rollback', r.name, rollbackScope.get(r.name)!, r.text, checked.plans.get(r.path)));
  files.sort((a, b) => a.path.localeCompare(b.path));

  // squawk runs while the AST rules parse the same files: the two are independent.
  const group = (atomic: boolean) => {
    const members = files.filter((f) => (f.context.mode === 'atomic') === atomic);
    // Only rule names of the profile's table (squawk knows them) are excluded, never arbitrary policy keys.
    const exclude = Object.keys(PRISMA_PROFILE).filter(
      (rule) =>
        members.length > 0 &&
        members.every((f) => (policyLevel(policy.rules, `${SQUAWK_PREFIX}${rule}`) ?? profileLevel(policy.profile, rule, f.context).level) === 'off'),
    );
    return { files: members.map((f) => f.path), assumeInTransaction: atomic, exclude };
  };
  const squawkRun: Promise<SquawkRun | null> = files.length === 0 ? Promise.resolve(null) : runSquawk([group(true), group(false)], policy.pg_version, ctx.log);
  // Marked handled now: a squawk failure while the parser works must not count as an unhandled rejection.
  squawkRun.catch(() => undefined);
  const migrationFiles = files.filter((f) => f.kind === 'migration');
  const accessContext: AccessContext = {
    coverage: input.access,
    policyFile: join(input.policiesDir, 'access.yaml'),
    schema: input.schema ?? input.database?.schema ?? 'public',
  };
  const maskingContext: MaskingContext = { policy: input.masking, policyFile: join(input.policiesDir, 'masking.yaml'), schema: accessContext.schema };
  const analyses = await analyzeMigrations(folder.migrations, new Set(migrationFiles.map((f) => f.migration)), accessContext, maskingContext).catch(
    async (e: unknown) => {
      await squawkRun.catch(() => undefined);
      throw e;
    },
  );
  const squawk = await squawkRun;

  // ---- pairing ------------------------------------------------------------------------------------
  const pairing = pairRollbacks({ migrations: folder.migrations.map((m) => m.name), rollbacks: rollbackFolder.files, migrationsDir, rollbacksDir });
  const nameOf = (migration: string | null | undefined, path: string | null | undefined) => migration ?? (path ? basename(path, '.sql') : '');
  const relevant = (name: string) => scope === 'all' || migrationScope.has(name) || rollbackScope.has(name) || touched.has(name);
  const pairs = pairing.pairs.filter((p) => relevant(nameOf(p.migration, p.rollback)));
  for (const f of pairing.findings) if (relevant(nameOf(f.migration, f.file))) findings.push(f);

  // ---- levels -------------------------------------------------------------------------------------
  const labels = input.labels
    .split(',')
    .map((l) => l.trim())
    .filter(Boolean);
  const allowedBy = labels.find((l) => policy.destructive.allow_labels.includes(l));
  let suppressed = 0;
  const shown: Finding[] = [];
  const keep = (f: Finding, level: Level) => {
    if (level === 'off') suppressed++;
    else shown.push({ ...f, severity: level });
  };
  for (const f of findings) keep(f, policyLevel(policy.rules, f.rule) ?? f.severity);
  // Always errors: a policy that turned them off would let a pull request pass with a file the deploy refuses.
  for (const p of malformed) shown.push(problemFinding(p));
  for (const f of files) {
    const analysis = analyses.get(f.migration);
    if (f.kind !== 'migration' || !analysis) continue;
    for (const hit of analysis.hits) {
      const at = f.source.at(hit.offset);
      const defaultLevel: Level = hit.uncertain ? 'notice' : (DBOPS_RULES[hit.rule] ?? 'error');
      let level = policyLevel(policy.rules, hit.rule) ?? defaultLevel;
      let message = hit.message;
      if (level === 'error' && allowedBy) {
        level = 'warning';
        message = `${message} Allowed for this pull request by the label "${allowedBy}".`;
      }
      keep(
        {
          rule: hit.rule,
          severity: 'error',
          message,
          file: f.path,
          line: at.line,
          column: at.column,
          migration: f.migration,
          help: destructiveHelp(hit.rule, policy),
        },
        level,
      );
    }
    // Access is never allowed by a destructive label: it belongs in policies/access.yaml.
    for (const hit of analysis.access) {
      const at = f.source.at(hit.offset);
      keep(
        { rule: hit.rule, severity: 'error', message: hit.message, file: f.path, line: at.line, column: at.column, migration: f.migration, help: hit.help },
        policyLevel(policy.rules, hit.rule) ?? DBOPS_RULES[hit.rule] ?? 'error',
      );
    }
    // Nor is personal data left unmasked: its masking rule belongs in policies/masking.yaml.
    for (const hit of analysis.masking) {
      const at = f.source.at(hit.offset);
      keep(
        { rule: hit.rule, severity: 'error', message: hit.message, file: f.path, line: at.line, column: at.column, migration: f.migration, help: hit.help },
        policyLevel(policy.rules, hit.rule) ?? DBOPS_RULES[hit.rule] ?? 'error',
      );
    }
  }
  if (squawk) {
    const byPath = new Map(files.map((f) => [f.path, f]));
    const syntaxSeen = new Set<string>();
    for (const s of squawk.findings) {
      const f = byPath.get(s.file);
      if (!f) continue;
      // squawk's parser recovers and reports follow-up errors of the first one; only the first is real.
      if (s.rule_name === 'syntax-error') {
        if (syntaxSeen.has(f.path)) continue;
        syntaxSeen.add(f.path);
      }
      const { level, note } = profileLevel(policy.profile, s.rule_name, f.context);
      keep(mapSquawkFinding(s, f, note), policyLevel(policy.rules, `${SQUAWK_PREFIX}${s.rule_name}`) ?? level);
    }
    // libpg-query (PostgreSQL's parser) may reject what squawk's own parser accepts.
    for (const f of migrationFiles) {
      const error = analyses.get(f.migration)?.parseError;
      if (error && !syntaxSeen.has(f.path))
        keep(parseErrorFinding(error, f.path, f.migration, f.source), policyLevel(policy.rules, 'sql/parse-error') ?? 'error');
    }
  }
  for (const key of unknownRuleKeys(policy.rules)) {
    keep(
      {
        rule: 'lint/unknown-rule',
        severity: 'notice',
        file: join(input.policiesDir, 'migrations.yaml'),
        message:
          `lint.rules names "${key}", which is neither a squawk ${squawk?.version ?? ''} rule dbops knows nor a dbops rule, so it changes nothing.`.replace(
            '  ',
            ' ',
          ),
        help: `Check the spelling; the rule ids are listed in docs/commands/lint.md (squawk rules by their squawk name, dbops rules as ${Object.keys(DBOPS_RULES).slice(0, 3).join(', ')}, …).`,
      },
      policyLevel(policy.rules, 'lint/unknown-rule') ?? 'notice',
    );
  }

  shown.sort(
    (a, b) => (a.file ?? '').localeCompare(b.file ?? '') || (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0) || a.rule.localeCompare(b.rule),
  );
  const counts = EMPTY_COUNTS();
  for (const f of shown) counts[f.severity]++;
  const verdict: Verdict = counts.error > 0 ? 'fail' : counts.warning > 0 ? 'warn' : files.length === 0 && shown.length === 0 ? 'skip' : 'pass';
  const data: LintData = {
    scope,
    base,
    pgVersion: policy.pg_version,
    profile: policy.profile,
    files: files.map((f) => ({ path: f.path, kind: f.kind, migration: f.migration, mode: f.context.mode, change: f.change })),
    counts,
    suppressed,
    irreversible: pairs
      .filter((p) => p.status === 'irreversible' && p.reason !== undefined && p.migration !== null)
      .map((p) => ({ migration: p.migration!, reason: p.reason! })),
    squawk: squawk ? { version: squawk.version, durationMs: squawk.durationMs, invocations: squawk.invocations, excluded: squawk.excluded } : null,
  };
  ctx.log.info({ files: files.length, ...counts, suppressed, verdict, malformed: malformed.length }, 'lint done');
  if (malformed.length === 0) return { verdict, findings: shown, data };
  // Malformed input (exit 2), as the executor reports it: the findings still go to the report and the PR.
  const malformedFiles = new Set(malformed.map((p) => p.file)).size;
  return {
    verdict,
    findings: shown,
    data,
    exitCode: ExitCode.Usage,
    error: {
      message: `${plural(malformedFiles, 'file')} ${malformedFiles === 1 ? 'is' : 'are'} malformed: migrate deploy, rehearse, the gate and deploy refuse ${malformedFiles === 1 ? 'it' : 'them'} before changing anything (rules ${[...new Set(malformed.map((p) => p.rule))].join(', ')}).`,
      hint: 'Fix the files named above (each finding says how), then lint again.',
    },
  };
}

/** A file in scope and how the executor runs it (no plan: the executor refuses it, which is a finding already). */
function inScope(path: string, kind: InScope['kind'], migration: string, change: LintFile['change'], text: string, plan: ExecutionPlan | undefined): InScope {
  const context: FileContext = { kind, mode: plan?.mode ?? null, steps: plan?.mode === 'split' ? plan.segments.length : 1 };
  let source: SourceText | undefined;
  return {
    path,
    kind,
    migration,
    change,
    text,
    context,
    get source() {
      return (source ??= new SourceText(text));
    },
  }; // positions are needed only for files with findings
}

function destructiveHelp(rule: string, policy: LintPolicy): string {
  const labels = policy.destructive.allow_labels.map((l) => `"${l}"`).join(' or ');
  const allow = labels ? ` If the loss is intended, a reviewer adds the label ${labels} to the pull request (then this is a warning).` : '';
  const how: Record<string, string> = {
    'destructive/drop-column':
      'Expand and contract: stop using the column in the application and deploy that first, then drop it in a later migration, after a backup.',
    'destructive/drop-table':
      'Expand and contract: stop using the table in the application first, then drop it in a later migration, after a backup (or rename it and drop it later).',
    'destructive/drop-schema': 'Dropping a schema deletes everything in it; do it by hand with a backup, not in a migration.',
    'destructive/truncate': 'Delete rows in a migration only when they are derived or disposable; otherwise archive them first.',
    'destructive/narrow-type':
      'Check the longest/largest existing value first (SELECT max(length(col)) …); widen instead, or add a new column, backfill and switch over.',
  };
  return `${how[rule] ?? ''} The rollback cannot bring the data back: mark it with \`-- dbops:irreversible <reason>\`.${allow}`.trim();
}

/** What the rendering names besides the result: the folders and how the scope was asked for. */
export type LintRenderInput = Pick<LintRequest, 'migrationsDir' | 'rollbacksDir' | 'only' | 'last'>;

// ---- human output ---------------------------------------------------------------------------------

const LEVEL_WIDTH = 7;

export function renderLint(result: StepResult<LintData>, input: LintRenderInput): string {
  const { data, findings } = result;
  const where =
    data.scope === 'changed'
      ? `changed against ${data.base}`
      : data.scope === 'all'
        ? 'all migrations and rollbacks'
        : data.scope === 'only'
          ? `only ${input.only ?? ''}`
          : input.last === 1
            ? 'the newest migration'
            : `the newest ${input.last ?? ''} migrations`;
  if (result.verdict === 'skip') {
    return data.scope === 'changed'
      ? `Nothing to lint: no migration or rollback changed against ${data.base} (in ${input.migrationsDir} and ${input.rollbacksDir}).\n`
      : `Nothing to lint: ${input.migrationsDir} has no migrations.\n`;
  }
  const lines: string[] = [];
  const byFile = new Map<string, Finding[]>();
  for (const f of findings) {
    const key = f.file ?? '';
    byFile.set(key, [...(byFile.get(key) ?? []), f]);
  }
  for (const [file, list] of byFile) {
    lines.push(file || '(no file)');
    for (const f of list) {
      const pos = f.line ? `${file}:${f.line}:${f.column ?? 1}` : file;
      lines.push(`  ${pos}  ${f.severity.padEnd(LEVEL_WIDTH)}  ${f.rule}  ${f.message}`);
      if (f.help) lines.push(`      help: ${f.help}`);
    }
    lines.push('');
  }
  const { error, warning, notice } = data.counts;
  const migrations = data.files.filter((f) => f.kind === 'migration').length;
  const rollbacks = data.files.length - migrations;
  const squawk = data.squawk ? `squawk ${data.squawk.version}, ` : '';
  lines.push(
    `Linted ${plural(migrations, 'migration')} and ${plural(rollbacks, 'rollback')} (${where}; ${squawk}profile ${data.profile}, PostgreSQL ${data.pgVersion}).`,
  );
  lines.push(
    `${plural(error, 'error')}, ${plural(warning, 'warning')}, ${plural(notice, 'notice')}${data.suppressed > 0 ? ` (${data.suppressed} turned off by the profile or policy)` : ''}.`,
  );
  const split = data.files.filter((f) => f.mode === 'split');
  if (split.length > 0) lines.push(`Run statement by statement by the executor (not in one transaction): ${split.map((f) => f.path).join(', ')}.`);
  lines.push(result.verdict === 'fail' ? 'Lint failed.' : result.verdict === 'warn' ? 'Lint passed with warnings.' : 'Lint passed.');
  return `${lines.join('\n')}\n`;
}
