/**
 * Measurements → findings: budgets from policy, rollback proofs, workload comparisons, and the static
 * lint findings re-judged with what was measured. Pure functions over the rehearsal data.
 */
import { parseDuration } from '../../core/duration.ts';
import type { RehearsePolicy } from '../../policy/rehearse.ts';
import type { StatementRefs } from './statements.ts';
import { blocks } from './timeline.ts';
import { formatBytes, formatMs, formatShortMs } from '../../core/format.ts';
import { type Finding, type Severity } from '../../core/result.ts';
import { type MigrationRehearsal, type RehearseData } from './model.ts';

export interface RehearsedMigration {
  rehearsal: MigrationRehearsal;
  /** migration.sql as shown in findings (relative to the repository root when the flags are). */
  file: string;
  /** rollbacks/<name>.sql as shown in findings. */
  rollbackFile: string;
  refs: StatementRefs[];
  /** Names the file uses (tables, their indexes) → table, as resolved before the migration ran. */
  tableOf: Map<string, string>;
}

/** A finding about one table of one migration (so lint findings on the same statement can refer to it). */
export interface TableFinding {
  finding: Finding;
  relation?: string;
}

const ms = (d: string) => parseDuration(d) ?? 0;
const num = (n: number) => n.toLocaleString('en-US');
const rank: Record<Severity, number> = { notice: 0, warning: 1, error: 2 };
export const worst = (a: Severity, b: Severity): Severity => (rank[a] >= rank[b] ? a : b);

/** Severity of `value` against warning/error thresholds (error wins), or undefined below both. */
function level(value: number, warning: number, error: number): Severity | undefined {
  if (error > 0 && value >= error) return 'error';
  if (warning > 0 && value >= warning) return 'warning';
  return undefined;
}

/** Statements that can rewrite a table or hold ACCESS EXCLUSIVE on it, before any other statement naming it. */
const HEAVY = ['AlterTableStmt', 'ClusterStmt', 'VacuumStmt', 'TruncateStmt', 'DropStmt', 'RenameStmt'];

/** The statement a finding about `table` points at: the first one of the preferred kinds naming it, else the first naming it. */
const lineOf = (m: RehearsedMigration, table: string, prefer: string[] = []): { line?: number; endLine?: number } => {
  const naming = m.refs.filter((s) => s.relations.some((n) => (m.tableOf.get(n) ?? n) === table));
  const r = naming.find((s) => prefer.includes(s.kind)) ?? naming[0];
  return r ? { line: r.line, endLine: r.endLine } : {};
};

const rowsText = (rows: number | null) => (rows === null ? 'new table' : `${num(rows)} rows`);

/** Budget findings of one migration's measurements. */
export function budgetFindings(m: RehearsedMigration, policy: RehearsePolicy): TableFinding[] {
  const r = m.rehearsal;
  if (r.status === 'not-run') return [];
  const b = policy.budgets;
  const out: TableFinding[] = [];
  const at = (table: string, prefer: string[] = []) => ({ file: m.file, ...lineOf(m, table, prefer), migration: r.name });

  const d = level(r.durationMs, ms(b.duration.warning), ms(b.duration.error));
  if (d) {
    out.push({
      finding: {
        rule: 'rehearse/duration',
        severity: d,
        message: `\`${r.name}\` took ${formatMs(r.durationMs)} on the snapshot (budget: warning at ${b.duration.warning}, error at ${b.duration.error}).`,
        help: 'Split the migration, or move the data change into a batched backfill that runs outside the migration.',
        file: m.file,
        migration: r.name,
      },
    });
  }

  for (const l of r.locks) {
    if (l.mode !== 'AccessExclusiveLock' || l.rows === null || l.rows < b.access_exclusive.min_rows) continue;
    const s = level(l.heldMs, ms(b.access_exclusive.warning), ms(b.access_exclusive.error));
    if (!s) continue;
    out.push({
      relation: l.relation,
      finding: {
        rule: 'rehearse/access-exclusive',
        severity: s,
        message: `\`${r.name}\` held ACCESS EXCLUSIVE on "${l.relation}" (${num(l.rows)} rows) for ${formatMs(l.heldMs)}: every read and write of the table waited (budget: warning at ${b.access_exclusive.warning}, error at ${b.access_exclusive.error}).`,
        help: 'Do no rewrite or full scan under ACCESS EXCLUSIVE: add columns without volatile defaults, add constraints NOT VALID and VALIDATE them separately, change types through a new column.',
        ...at(l.relation, HEAVY),
      },
    });
  }

  const blockedByTable = new Map<string, { ms: number; operation: string }>();
  for (const p of r.probes) {
    const cur = blockedByTable.get(p.table);
    if (!cur || p.maxBlockedMs > cur.ms) blockedByTable.set(p.table, { ms: p.maxBlockedMs, operation: p.operation });
  }
  for (const [table, worstProbe] of blockedByTable) {
    const s = level(worstProbe.ms, ms(b.probe_blocked.warning), ms(b.probe_blocked.error));
    if (!s) continue;
    out.push({
      relation: table,
      finding: {
        rule: 'rehearse/probe-blocked',
        severity: s,
        message: `While \`${r.name}\` ran, a ${worstProbe.operation} of "${table}" waited ${formatMs(worstProbe.ms)} for its locks (budget: warning at ${b.probe_blocked.warning}, error at ${b.probe_blocked.error}).`,
        help: 'Use CREATE INDEX CONCURRENTLY, ADD CONSTRAINT … NOT VALID then VALIDATE CONSTRAINT, and batch large updates, so application traffic keeps flowing.',
        ...at(table),
      },
    });
  }

  for (const t of r.tables.filter((x) => x.rewritten)) {
    const rows = t.rowsBefore ?? 0;
    const s = level(rows, b.rewrite.warning_rows, b.rewrite.error_rows) ?? 'notice';
    out.push({
      relation: t.relation,
      finding: {
        rule: 'rehearse/rewrite',
        severity: s,
        message: `\`${r.name}\` rewrote "${t.relation}" (${num(rows)} rows${t.bytesBefore !== null && t.bytesAfter !== null ? `, ${formatBytes(t.bytesBefore)} → ${formatBytes(t.bytesAfter)}` : ''}): the whole table was copied under ACCESS EXCLUSIVE (budget: warning from ${num(b.rewrite.warning_rows)} rows, error from ${num(b.rewrite.error_rows)}).`,
        help: 'A volatile default (gen_random_uuid(), random(), clock_timestamp()) or a type change that is not binary-compatible rewrites the table. Add the column without the default and backfill in batches, or migrate the type through a new column.',
        ...at(t.relation, HEAVY),
      },
    });
  }
  return out;
}

/** Failed applies, rollback proofs, not-run migrations. */
export function proofFindings(m: RehearsedMigration): Finding[] {
  const r = m.rehearsal;
  const rb = r.rollback;
  const base = { migration: r.name };
  const out: Finding[] = [];
  if (r.status === 'failed') {
    out.push({
      ...base,
      rule: 'rehearse/apply-failed',
      severity: 'error',
      file: m.file,
      message: `\`${r.name}\` failed on the snapshot: ${r.error ?? 'unknown error'}`,
    });
    return out;
  }
  if (r.status === 'not-run') {
    out.push({
      ...base,
      rule: 'rehearse/not-run',
      severity: 'warning',
      file: m.file,
      message: `\`${r.name}\` was not rehearsed: ${r.error ?? 'an earlier migration left the clone in an unknown state'}.`,
    });
    return out;
  }
  const rf = { ...base, file: m.rollbackFile };
  switch (rb.status) {
    case 'missing':
      out.push({
        ...base,
        rule: 'rehearse/rollback-missing',
        severity: 'error',
        file: m.file,
        message: `\`${r.name}\` has no rollback (${m.rollbackFile}), so it cannot be undone or proven.`,
        help: `Write ${m.rollbackFile} (\`prisma migrate diff --from-schema <new> --to-schema <old> --script\`), or start it with \`-- dbops:irreversible <reason>\` when the change cannot be undone.`,
      });
      break;
    case 'irreversible':
      out.push({
        ...rf,
        rule: 'rehearse/irreversible',
        severity: 'notice',
        line: 1,
        message: `The rollback of \`${r.name}\` is marked irreversible (${rb.reason ?? 'no reason given'}); it was not run.`,
      });
      break;
    case 'failed':
      out.push({
        ...rf,
        rule: 'rehearse/rollback-failed',
        severity: 'error',
        message: `${m.rollbackFile} failed on the snapshot after \`${r.name}\` was applied: ${rb.reason ?? 'unknown error'}`,
      });
      break;
    case 'mismatch':
      out.push({
        ...rf,
        rule: 'rehearse/rollback-mismatch',
        severity: 'error',
        message: `${m.rollbackFile} does not restore the schema before \`${r.name}\`:\n${rb.diff ?? ''}`,
        help: 'Lines with - exist before the migration but not after the rollback; lines with + are left over by it. Make the rollback the exact inverse of the migration.',
      });
      break;
    default:
      break;
  }
  if (rb.reapply === 'failed') {
    out.push({
      ...base,
      rule: 'rehearse/reapply-failed',
      severity: 'error',
      file: m.file,
      message: `\`${r.name}\` could not be applied again after its rollback: ${rb.reapplyError ?? 'unknown error'}`,
      help: 'The rollback left something the migration creates (see the schema difference above), or the migration is not repeatable.',
    });
  } else if (rb.reapply === 'mismatch') {
    out.push({
      ...base,
      rule: 'rehearse/reapply-mismatch',
      severity: 'error',
      file: m.file,
      message: `Applying \`${r.name}\` again after its rollback gives a different schema than the first time:\n${rb.reapplyDiff ?? ''}`,
    });
  }
  return out;
}

export interface WorkloadFindingInput {
  results: RehearseData['workload'];
  /** name → line of its `-- name:` marker */
  lines: Map<string, number>;
  file: string;
}

export function workloadFindings({ results, lines, file }: WorkloadFindingInput, policy: RehearsePolicy): Finding[] {
  const out: Finding[] = [];
  const minDelta = ms(policy.workload.min_delta);
  for (const w of results) {
    const where = { file, ...(lines.has(w.name) ? { line: lines.get(w.name)! } : {}) };
    if (!w.after) {
      out.push({
        ...where,
        rule: 'rehearse/workload-failed',
        severity: w.before ? 'error' : 'warning',
        message: w.before
          ? `Workload query \`${w.name}\` fails after the pending migrations: ${w.error ?? 'unknown error'}`
          : `Workload query \`${w.name}\` fails before and after the pending migrations: ${w.error ?? 'unknown error'}`,
        help: w.before
          ? 'The application runs this query: the migrations remove or change something it uses. Change the migration (expand/contract), or the query first.'
          : 'Fix the query in the workload file.',
      });
      continue;
    }
    if (!w.before) continue; // uses objects the migrations create: nothing to compare
    const slower = w.ratio !== null && w.ratio > policy.workload.slowdown_ratio && w.after.ms - w.before.ms >= minDelta;
    if (slower) {
      out.push({
        ...where,
        rule: 'rehearse/workload-slower',
        severity: 'warning',
        message: `Workload query \`${w.name}\` is ${w.ratio!.toFixed(1)}× slower after the pending migrations (${formatShortMs(w.before.ms)} → ${formatShortMs(w.after.ms)}; policy: ${policy.workload.slowdown_ratio}×).`,
      });
    }
    if (w.planChanged) {
      out.push({
        ...where,
        rule: 'rehearse/plan-changed',
        severity: 'notice',
        message: `The plan of workload query \`${w.name}\` changed (${formatShortMs(w.before.ms)} → ${formatShortMs(w.after.ms)}):\nbefore:\n${indent(w.before.shape)}\nafter:\n${indent(w.after.shape)}`,
      });
    }
  }
  return out;
}

const indent = (text: string) =>
  text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');

/**
 * squawk rules about locks or rewrites, the ones a measurement can confirm or refute, with the budget
 * findings that measure what each one warns about.
 */
const REWRITE_EVIDENCE = ['rehearse/rewrite', 'rehearse/access-exclusive', 'rehearse/probe-blocked'];
const LOCK_EVIDENCE = ['rehearse/probe-blocked', 'rehearse/access-exclusive'];
const LOCK_RULES = new Map<string, string[]>([
  ['adding-field-with-default', REWRITE_EVIDENCE],
  ['changing-column-type', REWRITE_EVIDENCE],
  ['adding-serial-primary-key-field', REWRITE_EVIDENCE],
  ['require-concurrent-index-creation', LOCK_EVIDENCE],
  ['require-concurrent-index-deletion', LOCK_EVIDENCE],
  ['constraint-missing-not-valid', LOCK_EVIDENCE],
  ['adding-foreign-key-constraint', LOCK_EVIDENCE],
  ['adding-not-nullable-field', LOCK_EVIDENCE],
  ['adding-required-field', LOCK_EVIDENCE],
  ['adding-primary-key-constraint', LOCK_EVIDENCE],
  ['disallowed-unique-constraint', LOCK_EVIDENCE],
  ['ban-alter-domain-with-add-constraint', LOCK_EVIDENCE],
]);

export const isLockRule = (rule: string): boolean => LOCK_RULES.has(rule.replace(/^squawk\//, ''));
const evidenceRules = (rule: string): string[] => LOCK_RULES.get(rule.replace(/^squawk\//, '')) ?? [];

/**
 * Static lock/rewrite findings from `dbops lint`, judged with the measurements of the statement they
 * point at. When a budget finding exists for that table, it carries the verdict (the lint finding is
 * named in it, "escalated" when the measurement is more severe). Otherwise the measurement showed the
 * statement is harmless here and the lint finding comes back as a notice with the numbers.
 */
export function judgeLintFindings(lint: Finding[], migrations: RehearsedMigration[], budget: Map<string, TableFinding[]>, policy: RehearsePolicy): Finding[] {
  const out: Finding[] = [];
  const small = Math.min(policy.budgets.access_exclusive.min_rows, policy.budgets.rewrite.warning_rows);
  for (const f of lint) {
    if (!isLockRule(f.rule) || f.line === undefined || f.migration === undefined) continue;
    const m = migrations.find((x) => x.rehearsal.name === f.migration);
    if (!m || m.rehearsal.status !== 'applied' || !f.file?.endsWith('migration.sql')) continue;
    const statement = m.refs.find((s) => f.line! >= s.line && f.line! <= s.endLine);
    if (!statement) continue;
    const tables = [...new Set(statement.relations.map((n) => m.tableOf.get(n) ?? n))].filter(
      (t) => m.rehearsal.tables.some((x) => x.relation === t) || m.rehearsal.locks.some((l) => l.relation === t),
    );
    if (tables.length === 0) continue;
    const kinds = evidenceRules(f.rule);
    const related = (budget.get(m.rehearsal.name) ?? []).filter(
      (b) => b.relation !== undefined && tables.includes(b.relation) && b.finding.severity !== 'notice' && kinds.includes(b.finding.rule),
    );
    const ruleName = f.rule.replace(/^squawk\//, '');
    if (related.length > 0) {
      // A budget finding that points at this very statement, else one about its table; of those, the kind
      // of measurement the rule is about first (a rewrite for adding-field-with-default), then the most severe.
      const here = related.filter((b) => b.finding.line !== undefined && b.finding.line >= statement.line && b.finding.line <= statement.endLine);
      const order = (b: TableFinding) => kinds.indexOf(b.finding.rule) * 10 - rank[b.finding.severity];
      const top = [...(here.length > 0 ? here : related)].sort((a, b) => order(a) - order(b))[0]!;
      const escalated = rank[top.finding.severity] > rank[f.severity] ? ` and escalates it to ${top.finding.severity}` : '';
      top.finding.message += ` Static check ${ruleName} (lint ${f.severity}) flagged this statement; the measurement confirms it${escalated}.`;
      continue;
    }
    const evidence = tables.map((t) => tableEvidence(m.rehearsal, t)).join('; ');
    const isSmall = tables.every((t) => (rowsOf(m.rehearsal, t) ?? 0) < small);
    out.push({
      rule: f.rule,
      severity: 'notice',
      message: `Measured on the snapshot: ${evidence}. ${isSmall ? 'Harmless at this size' : 'Within the rehearse budgets'}, so lint's ${f.severity} "${f.message.split('\n')[0]}" is informational for \`${m.rehearsal.name}\`.`,
      file: f.file,
      line: f.line,
      ...(f.endLine !== undefined ? { endLine: f.endLine } : {}),
      migration: f.migration,
    });
  }
  return out;
}

const rowsOf = (r: MigrationRehearsal, table: string): number | null =>
  r.tables.find((t) => t.relation === table)?.rowsBefore ?? r.locks.find((l) => l.relation === table)?.rows ?? null;

function tableEvidence(r: MigrationRehearsal, table: string): string {
  const lock = r.locks.find((l) => l.relation === table);
  const t = r.tables.find((x) => x.relation === table);
  const blocked = Math.max(0, ...r.probes.filter((p) => p.table === table).map((p) => p.maxBlockedMs));
  const parts = [`"${table}" (${rowsText(rowsOf(r, table))})`];
  if (lock) parts.push(`${lock.mode} held ${formatShortMs(lock.heldMs)} (${blocks(lock.mode)})`);
  parts.push(t?.rewritten ? 'rewritten' : 'not rewritten');
  if (r.probes.some((p) => p.table === table)) parts.push(`probes blocked at most ${formatShortMs(blocked)}`);
  return parts.join(', ');
}

/** pass / warn / fail from findings. */
export function verdictOf(findings: Finding[]): 'pass' | 'warn' | 'fail' {
  if (findings.some((f) => f.severity === 'error')) return 'fail';
  if (findings.some((f) => f.severity === 'warning')) return 'warn';
  return 'pass';
}
