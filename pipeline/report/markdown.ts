import { backupBlocks, isBackupStep } from './backup-md.ts';
import { allFindings, countFindings, locationText, worstVerdict } from './findings.ts';
import { assemble, type Block, capLines, code, details, fence, table, text, VERDICT_ICON } from '../core/markdown.ts';
import { lockGantt } from './mermaid.ts';
import { queriesMarkdown } from './queries.ts';
import type { QueriesReportData } from '../operations/queries/index.ts';
import type { LoadedReport } from './store.ts';
import { clip, formatBytes, formatCount, formatMs, plural, noun } from '../core/format.ts';
import { type Severity } from '../core/result.ts';
import { type DriftData } from '../change/drift/index.ts';
import { type LintData } from '../change/lint/index.ts';
import { type MigrationRehearsal, type RehearseData } from '../change/rehearsal/index.ts';
import { type RollbacksData } from '../change/rollbacks/index.ts';

const SEVERITY_ICON: Record<Severity, string> = { error: '❌', warning: '⚠️', notice: 'ℹ️' };
const MAX_FINDING_ROWS = 100;
const MAX_DIFF_LINES = 200;
/** A tool message can be a whole SQL statement; the table shows the start (the JSON and SARIF keep all of it). */
const MAX_CELL = 1_000;
const shortSha = (sha: string | null) => (sha ? sha.slice(0, 12) : 'unknown');

// ---- headline -----------------------------------------------------------------------------------------

function headline(reports: LoadedReport[], notes: string[]): Block[] {
  const verdict = worstVerdict(reports.map((r) => r.report.verdict));
  const title = { pass: 'all checks passed', warn: 'passed with warnings', fail: 'failed', skip: 'nothing to check' }[verdict];
  const subject = reports.length > 0 && reports.every((r) => isBackupStep(r.report.step)) ? 'dbops backups' : 'dbops migration checks';
  const rows = reports.map(({ report }) => {
    const c = countFindings(report.findings);
    return [
      text(report.command),
      `${VERDICT_ICON[report.verdict]} ${report.verdict}${report.exitCode > 1 ? ` (exit ${report.exitCode})` : ''}`,
      String(c.error),
      String(c.warning),
      String(c.notice),
      formatMs(report.durationMs),
    ];
  });
  const commits = [...new Set(reports.map((r) => r.report.commit))];
  const versions = [...new Set(reports.map((r) => r.report.dbopsVersion))];
  const facts = [
    commits.length === 1
      ? `commit ${code(shortSha(commits[0]!))}`
      : `⚠️ the reports come from different commits: ${reports.map((r) => `${text(r.report.step)} ${code(shortSha(r.report.commit))}`).join(', ')}`,
    `dbops ${text(versions.join(', '))}`,
    `finished ${text(
      reports
        .map((r) => r.report.finishedAt)
        .sort()
        .at(-1)!
        .replace('T', ' ')
        .replace(/\.\d+Z$/, ' UTC'),
    )}`,
  ];
  const blocks: Block[] = [
    {
      essential: true,
      markdown: [
        `## ${VERDICT_ICON[verdict]} ${subject}: ${title}`,
        table(['Step', 'Verdict', 'Errors', 'Warnings', 'Notices', 'Took'], rows, ['l', 'l', 'r', 'r', 'r', 'r']),
        facts.join(' · '),
      ].join('\n\n'),
    },
  ];
  const stopped = reports.filter((r) => r.report.error);
  if (stopped.length > 0) {
    blocks.push({
      essential: true,
      markdown: stopped
        .map(({ report }) => {
          const e = report.error!;
          return `> ${VERDICT_ICON[report.verdict]} **${text(report.command)}** stopped${e.code ? ` with ${code(e.code)}` : ''}: ${text(e.message)}${e.hint ? `<br>**Fix:** ${text(e.hint)}` : ''}`;
        })
        .join('\n>\n'),
    });
  }
  if (notes.length > 0) blocks.push({ essential: true, markdown: notes.map((n) => `> ${n}`).join('\n>\n') });
  return blocks;
}

// ---- findings -----------------------------------------------------------------------------------------

function findingsBlock(reports: LoadedReport[]): Block | undefined {
  const findings = allFindings(reports);
  if (findings.length === 0) return undefined;
  const shown = findings.slice(0, MAX_FINDING_ROWS);
  const rows = shown.map((f) => {
    const where = locationText(f);
    const message = `${text(clip(f.message, MAX_CELL))}${f.help ? `<br><sub>${text(clip(f.help, MAX_CELL))}</sub>` : ''}`;
    return [where ? code(where) : '–', `${SEVERITY_ICON[f.severity]} ${f.severity}`, code(f.rule), message];
  });
  const more = findings.length - shown.length;
  return {
    markdown: [
      `### Findings (${findings.length})`,
      table(['Location', 'Severity', 'Rule', 'Message'], rows),
      ...(more > 0 ? [`… and ${more} more (all of them are in \`reports/*.json\` and the SARIF file).`] : []),
    ].join('\n\n'),
  };
}

// ---- drift --------------------------------------------------------------------------------------------

function driftBlock(d: DriftData): Block {
  const parts = ['### Drift'];
  if (d.schema.agree) parts.push(`✅ ${code(d.prismaSchema)} and the ${d.migrations} migrations agree.`);
  else {
    parts.push(
      `❌ ${code(d.prismaSchema)} was changed without a migration (${d.schema.models.map(code).join(', ') || 'see below'}). Run ${code('dbops migrate new --name <what changed>')} to write it with its rollback.`,
      fence(capLines(d.schema.summary ?? '', MAX_DIFF_LINES)),
      details('The SQL a migration would need', fence(capLines(d.schema.script ?? '', MAX_DIFF_LINES), 'sql')),
    );
  }
  if (d.live) {
    const l = d.live;
    if (l.agree) parts.push(`✅ ${code(l.database)} has exactly the schema its ${l.applied.length} applied migrations build.`);
    else if (l.items.length > 0)
      parts.push(
        `❌ ${code(l.database)} differs from the schema its applied migrations build:`,
        table(
          ['Object', 'Change', 'Restore with'],
          l.items.map((i) => [code(i.key), i.change, i.restore.length > 0 ? i.restore.map(code).join('<br>') : text(i.manual ?? '')]),
        ),
      );
  }
  return { markdown: parts.join('\n\n') };
}

// ---- lint ---------------------------------------------------------------------------------------------

function lintBlock(report: LoadedReport['report']): Block {
  const d = report.data as LintData;
  const scope = {
    changed: `files changed since ${d.base ? code(d.base) : 'the base ref'}`,
    all: 'every migration and rollback',
    last: 'the newest migrations (--last)',
    only: 'exactly the named migrations and their rollbacks (--only)',
  }[d.scope];
  const facts = [
    `Checked ${scope}`,
    `PostgreSQL ${text(d.pgVersion)}`,
    `profile ${code(d.profile)}`,
    d.squawk ? `squawk ${text(d.squawk.version)} in ${formatMs(d.squawk.durationMs)}` : 'squawk not run',
    `${plural(d.counts.error, 'error')}, ${plural(d.counts.warning, 'warning')}, ${plural(d.counts.notice, 'notice')}`,
    ...(d.suppressed > 0 ? [`${plural(d.suppressed, 'finding')} turned off by policy`] : []),
  ];
  const parts = [`### ${VERDICT_ICON[report.verdict]} Lint`, facts.join(' · ')];
  if (d.files.length > 0) {
    parts.push(
      table(
        ['File', 'Kind', 'Runs as', 'Change'],
        d.files.map((f) => [code(f.path), f.kind, f.mode ?? '–', f.change]),
      ),
    );
  } else parts.push('No migration or rollback files in scope.');
  if (d.irreversible.length > 0) {
    parts.push(`Declared irreversible (forward fix only):\n${d.irreversible.map((i) => `- ${code(i.migration)}: ${text(i.reason)}`).join('\n')}`);
  }
  return { markdown: parts.join('\n\n') };
}

// ---- rollbacks ----------------------------------------------------------------------------------------

const PAIR_ICON: Record<RollbacksData['pairs'][number]['status'], string> = { paired: '✅', irreversible: '⚠️', missing: '❌', empty: '❌', orphan: '❌' };

function rollbacksBlock(report: LoadedReport['report']): Block {
  const d = report.data as RollbacksData;
  const migrations = d.pairs.filter((p) => p.migration !== null);
  const paired = migrations.filter((p) => p.status === 'paired' || p.status === 'irreversible').length;
  const row = (p: RollbacksData['pairs'][number]) => [
    p.migration ? code(p.migration) : '–',
    p.rollback ? code(p.rollback) : '–',
    `${PAIR_ICON[p.status]} ${p.status}`,
    p.reason ? text(p.reason) : '',
  ];
  const head = ['Migration', 'Rollback', 'Status', 'Reason'];
  const problems = d.pairs.filter((p) => p.status !== 'paired');
  const parts = [
    `### ${VERDICT_ICON[report.verdict]} Rollbacks`,
    `${paired} of ${migrations.length} migrations in ${code(d.migrationsDir)} have a rollback in ${code(d.rollbacksDir)}.`,
  ];
  if (d.pairs.length <= 15) parts.push(table(head, d.pairs.map(row)));
  else {
    if (problems.length > 0) parts.push(table(head, problems.map(row)));
    parts.push(details(`All ${d.pairs.length} pairs`, table(head, d.pairs.map(row))));
  }
  return { markdown: parts.join('\n\n') };
}

// ---- rehearse -----------------------------------------------------------------------------------------

const PROOF_TEXT: Record<MigrationRehearsal['rollback']['status'], string> = {
  proven: '✅ proven: the schema after the rollback equals the schema before the migration',
  mismatch: '❌ mismatch: the rollback does not restore the schema',
  irreversible: '⚠️ irreversible (declared)',
  failed: '❌ the rollback failed',
  missing: '❌ no rollback script',
  'not-run': '⏭️ not run',
};
const REAPPLY_TEXT: Record<MigrationRehearsal['rollback']['reapply'], string> = {
  matched: '✅ re-applying the migration gives the same schema',
  mismatch: '❌ re-applying the migration gives a different schema',
  failed: '❌ re-applying the migration failed',
  'not-run': '⏭️ re-apply not run',
};

function migrationBlock(m: MigrationRehearsal): Block {
  const icon = m.status === 'applied' ? '✅' : m.status === 'failed' ? '❌' : '⏭️';
  const status = m.status === 'applied' ? `applied in ${formatMs(m.durationMs)}` : m.status === 'failed' ? `failed after ${formatMs(m.durationMs)}` : 'not run';
  const parts = [`#### ${icon} ${code(m.name)}: ${status} (${m.mode})`];
  if (m.error) parts.push(`> ${text(m.error)}`);
  parts.push(
    [
      m.touched.length ? `Touched ${m.touched.map((t) => code(t)).join(', ')}` : 'Touched no table',
      `${plural(m.samples, 'lock sample')} every ${formatMs(m.sampleIntervalMs)}`,
    ].join(' · '),
  );

  if (m.locks.length > 0) {
    parts.push(
      '**Locks**',
      table(
        ['Relation', 'Strongest lock', 'Held', 'Rows'],
        [...m.locks]
          .sort((a, b) => b.heldMs - a.heldMs)
          .map((l) => [code(l.relation), l.mode === 'AccessExclusiveLock' ? `🔴 **${text(l.mode)}**` : text(l.mode), formatMs(l.heldMs), formatCount(l.rows)]),
        ['l', 'l', 'r', 'r'],
      ),
    );
  }
  const gantt = lockGantt(m);
  if (gantt) {
    parts.push(fence(gantt.chart, 'mermaid'));
    parts.push(
      `<sub>Red: ACCESS EXCLUSIVE (blocks reads and writes). Highlighted: waiting for a lock not yet granted.${gantt.omitted ? ` ${gantt.omitted} more intervals are in the locks table and the report JSON.` : ''}</sub>`,
    );
  }
  if (m.probes.length > 0) {
    parts.push(
      '**Traffic during the migration** (probe queries on the touched tables)',
      table(
        ['Table', 'Query', 'Samples', 'p50', 'p95', 'p99', 'Max', 'Longest blocked', 'Errors'],
        m.probes.map((p) => [
          code(p.table),
          p.operation,
          formatCount(p.samples),
          formatMs(p.p50Ms),
          formatMs(p.p95Ms),
          formatMs(p.p99Ms),
          formatMs(p.maxMs),
          p.maxBlockedMs > 0 ? `**${formatMs(p.maxBlockedMs)}**` : '0 ms',
          String(p.errors),
        ]),
        ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
    );
  }
  if (m.tables.length > 0) {
    const delta = (before: number | null, after: number | null, fmt: (n: number | null) => string) =>
      before === null || after === null
        ? `${fmt(before)} → ${fmt(after)}`
        : `${fmt(before)} → ${fmt(after)}${after !== before ? ` (${after > before ? '+' : ''}${fmt(after - before)})` : ''}`;
    parts.push(
      '**Tables**',
      table(
        ['Relation', 'Rewritten', 'Rows', 'Size'],
        m.tables.map((t) => [
          code(t.relation),
          t.rewritten ? '⚠️ yes (new relfilenode)' : 'no',
          delta(t.rowsBefore, t.rowsAfter, formatCount),
          delta(t.bytesBefore, t.bytesAfter, formatBytes),
        ]),
      ),
    );
  }
  const r = m.rollback;
  parts.push(
    `**Rollback:** ${PROOF_TEXT[r.status]}${r.durationMs !== undefined ? ` (${formatMs(r.durationMs)})` : ''}${r.reason ? `: ${text(r.reason)}` : ''} · ${REAPPLY_TEXT[r.reapply]}${r.reapplyError ? `: ${text(r.reapplyError)}` : ''}`,
  );
  if (r.diff)
    parts.push(
      details(
        'Schema diff after the rollback (<code>-</code> before the migration, <code>+</code> after the rollback)',
        fence(capLines(r.diff, MAX_DIFF_LINES), 'diff'),
      ),
    );
  if (r.reapplyDiff)
    parts.push(
      details('Schema diff after re-applying (<code>-</code> first apply, <code>+</code> re-apply)', fence(capLines(r.reapplyDiff, MAX_DIFF_LINES), 'diff')),
    );
  return { markdown: parts.join('\n\n') };
}

function workloadBlock(workload: RehearseData['workload']): Block | undefined {
  if (workload.length === 0) return undefined;
  const ms = (p: { ms: number } | null) => (p ? formatMs(p.ms) : '–');
  const rows = workload.map((w) => [
    code(w.name),
    ms(w.before),
    ms(w.after),
    w.ratio === null ? '–' : `${w.ratio.toFixed(2)}×${w.ratio >= 2 ? ' ⚠️' : ''}`,
    w.error ? `❌ ${text(w.error)}` : w.planChanged ? 'changed' : 'same',
  ]);
  const plans = workload
    .filter((w) => w.planChanged && w.before && w.after)
    .map((w) =>
      details(
        `Plan of ${code(w.name)} before and after`,
        fence(capLines(`-- before (cost ${w.before!.totalCost})\n${w.before!.shape}\n\n-- after (cost ${w.after!.totalCost})\n${w.after!.shape}`, 120)),
      ),
    );
  return {
    markdown: [
      '#### Workload queries (EXPLAIN ANALYZE before and after the change)',
      table(['Query', 'Before', 'After', 'After / before', 'Plan'], rows, ['l', 'r', 'r', 'r', 'l']),
      ...plans,
    ].join('\n\n'),
  };
}

function rehearseBlocks(report: LoadedReport['report']): Block[] {
  const d = report.data as RehearseData;
  const source = { url: 'staging snapshot', file: 'snapshot file', synthetic: 'synthetic data', masked: 'masked snapshot' }[d.snapshot.source];
  const m = d.snapshot.masked;
  const facts = [
    `Snapshot ${code(d.snapshot.label)} (${source}${d.snapshot.reused ? ', cached template' : ''}) cloned in ${formatMs(d.snapshot.cloneMs)}`,
    `base ${d.base.ref ? code(d.base.ref) : 'none'} with ${plural(d.base.applied.length, 'migration')} applied`,
    `${d.pending.length} pending`,
  ];
  const masked = m
    ? [
        `Rehearsed on the masked snapshot ${code(m.database)}: backup ${code(m.backupId)} of ${code(m.sourceDatabase)}, masked at ${text(m.maskedAt)}, masking policy sha256 ${code(m.policySha256)} · ${plural(m.columns, 'column')} masked, ${m.scan.remaining} of ${plural(m.scan.values, 'original value')} remaining, ${plural(m.checks, 'check')} held`,
      ]
    : [];
  const blocks: Block[] = [{ markdown: [`### ${VERDICT_ICON[report.verdict]} Rehearsal`, facts.join(' · '), ...masked].join('\n\n') }];
  if (d.migrations.length === 0) blocks.push({ markdown: 'No pending migration to rehearse.' });
  for (const m of d.migrations) blocks.push(migrationBlock(m));
  const workload = workloadBlock(d.workload);
  if (workload) blocks.push(workload);
  return blocks;
}

// ---- document -----------------------------------------------------------------------------------------

export interface MarkdownOptions {
  /** Lines shown under the headline (e.g. annotations GitHub could not show). */
  notes?: string[];
  /** Length limit of the document (GitHub comment: 65,536 characters; job summary: 1 MiB). */
  limit?: number;
  measure?: (s: string) => number;
  /** Prepended verbatim (the comment marker). */
  prefix?: string;
}

/** Every section as separate blocks, in reading order; heavy sections (rehearsal) last so a length limit drops them first. */
export function markdownBlocks(reports: LoadedReport[], notes: string[] = []): Block[] {
  const blocks = headline(reports, notes);
  const findings = findingsBlock(reports);
  if (findings) blocks.push(findings);
  const byStep = (step: string) => reports.find((r) => r.report.step === step && r.report.data !== null)?.report;
  const drift = byStep('drift');
  if (drift) blocks.push(driftBlock(drift.data as DriftData));
  const lint = byStep('lint');
  if (lint) blocks.push(lintBlock(lint));
  const rollbacks = byStep('rollbacks');
  if (rollbacks) blocks.push(rollbacksBlock(rollbacks));
  const rehearse = byStep('rehearse');
  if (rehearse) blocks.push(...rehearseBlocks(rehearse));
  const queries = byStep('queries-report');
  if (queries) blocks.push({ markdown: queriesMarkdown(queries.data as QueriesReportData) });
  blocks.push(...backupBlocks(reports));
  return blocks;
}

export function renderMarkdown(reports: LoadedReport[], options: MarkdownOptions = {}): string {
  const { notes = [], limit = Number.POSITIVE_INFINITY, measure = (s: string) => s.length, prefix = '' } = options;
  const body = assemble(
    markdownBlocks(reports, notes),
    limit - measure(prefix) - 1,
    measure,
    (dropped) =>
      `> ✂️ ${dropped} more ${noun(dropped, 'section')} did not fit GitHub's size limit: see the job summary or the \`dbops-reports\` artifact (\`dbops report\` renders it locally).`,
  );
  return `${prefix}${body}\n`;
}
