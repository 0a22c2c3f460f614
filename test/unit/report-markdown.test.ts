import { join } from 'node:path';
import { marked } from 'marked';
import { beforeAll, describe, expect, it } from 'vitest';
import { EnvError } from '../../pipeline/core/errors.ts';
import { REPORT_STEPS } from '../../pipeline/report/schema.ts';
import { renderMarkdown } from '../../pipeline/report/markdown.ts';
import { capLines, code, fence, text } from '../../pipeline/core/markdown.ts';
import { lockGantt, mermaidLabel } from '../../pipeline/report/mermaid.ts';
import { readReports, type LoadedReport } from '../../pipeline/report/store.ts';
import { type LintData } from '../../pipeline/change/lint/model.ts';
import { type MigrationRehearsal, type RehearseData } from '../../pipeline/change/rehearsal/model.ts';
import { envelopeOf } from '../../pipeline/cli/record.ts';
import { COMMENT_MARKER } from '../../pipeline/infra/github/comment.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/reports/pr-failing');
let fixture: LoadedReport[];
beforeAll(async () => {
  fixture = await readReports(FIXTURES, REPORT_STEPS);
});
const copy = () => structuredClone(fixture);
const rehearse = (reports: LoadedReport[]) => reports.find((r) => r.report.step === 'rehearse')!.report.data as RehearseData;
const html = (md: string) => marked.parse(md, { async: false, gfm: true });

/** Rows of the first table after the heading that starts with `heading`, as arrays of cell HTML. */
function tableAfter(page: string, heading: string): string[][] {
  const start = page.indexOf(heading);
  expect(start, heading).toBeGreaterThanOrEqual(0);
  const table = page.slice(page.indexOf('<tbody>', start), page.indexOf('</tbody>', start));
  return [...table.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((r) => [...r[1]!.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) => c[1]!));
}
const mermaidBlocks = (md: string) => [...md.matchAll(/```mermaid\n([\s\S]*?)\n```/g)].map((m) => m[1]!);

describe('Markdown report of the fixture reports', () => {
  it('opens with the overall verdict and one row per step with its counts', () => {
    const md = renderMarkdown(fixture);
    expect(md.split('\n')[0]).toBe('## ❌ dbops migration checks: failed');
    const rows = tableAfter(html(md), 'dbops migration checks');
    expect(rows).toEqual([
      ['lint', '❌ fail', '1', '1', '1', '689 ms'],
      ['rollbacks check', '✅ pass', '0', '0', '0', '41 ms'],
      ['rehearse', '❌ fail', '2', '2', '0', '22.75 s'],
    ]);
    expect(md).toContain('commit <code>9f3c2a1b7d4e</code> · dbops 0.1.0 · finished 2026-11-04 12:01:31 UTC');
  });

  it('lists every finding, errors first, with file:line:column, severity, rule and message', () => {
    const rows = tableAfter(html(renderMarkdown(fixture)), 'Findings (7)');
    expect(rows).toHaveLength(7);
    expect(rows.map((r) => r[1])).toEqual(['❌ error', '❌ error', '❌ error', '⚠️ warning', '⚠️ warning', '⚠️ warning', 'ℹ️ notice']);
    const squawk = rows.find((r) => r[2]!.includes('require-concurrent-index-creation'))!;
    expect(squawk[0]).toBe('<code>prisma/migrations/20261104120000_invoice_due_date/migration.sql:5:1</code>');
    expect(squawk[3]).toContain('During normal index creation, table updates are blocked');
    expect(squawk[3]).toContain('<sub>Use `CONCURRENTLY` to avoid blocking writes');
    // A measurement names its migration.
    expect(rows[0]![0]).toBe('<code>20261104120000_invoice_due_date</code>');
  });

  it('has a lint section with the scope, tools and files', () => {
    const md = renderMarkdown(fixture);
    expect(md).toContain('### ❌ Lint');
    expect(md).toContain(
      'Checked files changed since <code>origin/main</code> · PostgreSQL 15 · profile <code>prisma</code> · squawk 2.66.0 in 183 ms · 1 error, 1 warning, 1 notice · 4 findings turned off by policy',
    );
    const rows = tableAfter(html(md), 'Lint</h3>');
    expect(rows).toHaveLength(4);
    expect(rows[0]).toEqual(['<code>prisma/migrations/20261104120000_invoice_due_date/migration.sql</code>', 'migration', 'atomic', 'added']);
  });

  it('has a rehearsal section per migration: locks, probes, size and row deltas, rollback proof', () => {
    const md = renderMarkdown(fixture);
    const page = html(md);
    expect(md).toContain(
      'Snapshot <code>synthetic AstroFinance, scale 0.2, seed 42</code> (synthetic data, cached template) cloned in 1.84 s · base <code>origin/main</code> with 9 migrations applied · 2 pending',
    );
    expect(md).toContain('#### ✅ <code>20261104120000\\_invoice\\_due\\_date</code>: applied in 2.87 s (atomic)');
    const locks = tableAfter(page, 'applied in 2.87 s');
    // Longest held first.
    expect(locks[0]).toEqual(['<code>public.Invoice</code>', '🔴 <strong>AccessExclusiveLock</strong>', '2.79 s', '200,000']);
    expect(locks.map((l) => l[0])).toEqual([
      '<code>public.Invoice</code>',
      '<code>public.Organization</code>',
      '<code>public.Invoice_dueDate_idx</code>',
      '<code>public.Invoice_pkey</code>',
    ]);
    const probes = tableAfter(page, 'Traffic during the migration');
    expect(probes[1]).toEqual(['<code>public.Invoice</code>', 'write', '55', '2 ms', '2.38 s', '2.39 s', '2.39 s', '<strong>2.38 s</strong>', '0']);
    const tables = tableAfter(page, '<strong>Tables</strong>');
    expect(tables[0]).toEqual(['<code>public.Invoice</code>', '⚠️ yes (new relfilenode)', '200,000 → 200,000', '33.4 MiB → 36.2 MiB (+2.8 MiB)']);
    expect(md).toContain(
      '**Rollback:** ✅ proven: the schema after the rollback equals the schema before the migration (1.46 s) · ✅ re-applying the migration gives the same schema',
    );
    expect(md).toContain(
      '**Rollback:** ❌ mismatch: the rollback does not restore the schema (21 ms): 1 object differs after the rollback · ❌ re-applying the migration failed: type &quot;PaymentChannel&quot; already exists',
    );
  });

  it('names the masked snapshot a rehearsal ran on: backup, masking time and policy hash', () => {
    const reports = copy();
    rehearse(reports).snapshot = {
      source: 'masked',
      label: 'masked snapshot dbops_masked: backup 20261207T020000Z-daily-3f9a of astro, masked 2026-12-07T05:41:02Z (masking policy sha256 abababababab)',
      cloneMs: 1840,
      template: 'dbops_masked',
      masked: {
        database: 'dbops_masked',
        backupId: '20261207T020000Z-daily-3f9a',
        backupTakenAt: '2026-12-07T02:00:00Z',
        sourceDatabase: 'astro',
        policySha256: 'ab'.repeat(32),
        maskedAt: '2026-12-07T05:41:02Z',
        columns: 7,
        scan: { columns: 12, values: 3456, remaining: 0 },
        checks: 4,
      },
    };
    const md = renderMarkdown(reports);
    expect(md).toContain('(masked snapshot) cloned in 1.84 s');
    expect(md).toContain(
      `Rehearsed on the masked snapshot <code>dbops\\_masked</code>: backup <code>20261207T020000Z-daily-3f9a</code> of <code>astro</code>, masked at 2026-12-07T05:41:02Z, masking policy sha256 <code>${'ab'.repeat(32)}</code> · 7 columns masked, 0 of 3,456 original values remaining, 4 checks held`,
    );
  });

  it('shows the rollback diff in a collapsed <details> block as a diff', () => {
    const page = html(renderMarkdown(fixture));
    const details = [...page.matchAll(/<details><summary>([\s\S]*?)<\/summary>([\s\S]*?)<\/details>/g)];
    const diff = details.find((d) => d[1]!.startsWith('Schema diff after the rollback'))!;
    expect(diff[2]).toContain(
      '<pre><code class="language-diff">--- expected (before the migration)\n+++ actual (after the rollback)\n@@ types @@\n+type public.&quot;PaymentChannel&quot; as enum (&#39;CARD&#39;, &#39;SEPA&#39;, &#39;WIRE&#39;)',
    );
  });

  it('shows a re-apply diff in its own <details> block', () => {
    const reports = copy();
    Object.assign(rehearse(reports).migrations[0]!.rollback, {
      reapply: 'mismatch',
      reapplyDiff: '@@ indexes @@\n-index "Invoice_dueDate_idx" on ("dueDate")',
    });
    const page = html(renderMarkdown(reports));
    expect(page).toContain('<details><summary>Schema diff after re-applying (<code>-</code> first apply, <code>+</code> re-apply)</summary>');
    expect(page).toContain('-index &quot;Invoice_dueDate_idx&quot; on (&quot;dueDate&quot;)');
    expect(page).toContain('❌ re-applying the migration gives a different schema');
  });

  it('has the workload table and the rollbacks pairing', () => {
    const page = html(renderMarkdown(fixture));
    expect(tableAfter(page, 'Workload queries')).toEqual([
      ['<code>invoices_due_this_week</code>', '41 ms', '1 ms', '0.02×', 'changed'],
      ['<code>journal_lines_by_account</code>', '12 ms', '12 ms', '1.02×', 'same'],
    ]);
    expect(page).toContain('11 of 11 migrations in <code>prisma/migrations</code> have a rollback in <code>rollbacks</code>.');
    const pairs = tableAfter(page, 'Rollbacks</h3>');
    expect(pairs).toHaveLength(11);
    expect(pairs[8]![2]).toBe('⚠️ irreversible');
    expect(pairs[8]![3]).toContain('dropped Organization.legacyErpId with its data');
  });

  it("draws each migration's lock timeline as a Mermaid gantt: a section per relation, the mode as label, crit for ACCESS EXCLUSIVE, waits marked", () => {
    const [first, second] = mermaidBlocks(renderMarkdown(fixture));
    expect(first!.split('\n')).toEqual([
      'gantt',
      '    title Locks taken by 20261104120000_invoice_due_date',
      '    dateFormat x',
      '    axisFormat %S.%L s',
      '    todayMarker off',
      '    section migration',
      '    runs atomic 2.87 s :done, 0, 2871ms',
      '    section public.Invoice',
      '    waits for AccessExclusiveLock :crit, active, 0, 12ms',
      '    AccessExclusiveLock :crit, 12, 2790ms',
      '    section public.Organization',
      '    ShareRowExclusiveLock :12, 2790ms',
      '    section public.Invoice_pkey',
      '    AccessExclusiveLock :crit, 1510, 640ms',
      '    section public.Invoice_dueDate_idx',
      '    AccessExclusiveLock :crit, 1780, 1022ms',
    ]);
    // Sub-second migrations get a millisecond axis.
    expect(second).toContain('axisFormat %L ms');
    expect(second).toContain('AccessExclusiveLock :crit, 4, 25ms');
  });

  it('says when a step stopped with an error, and when reports come from different commits', () => {
    const reports = copy();
    const stopped = envelopeOf({
      step: 'rehearse',
      command: 'rehearse',
      startedAt: new Date(0),
      finishedAt: new Date(1500),
      commit: '1234567890abcdef',
      dbopsVersion: '0.1.0',
      thrown: new EnvError('could not connect to the snapshot server', { code: 'P1001', hint: 'Check STAGING_SNAPSHOT_URL' }),
    });
    reports[2] = { file: 'reports/rehearse.json', report: stopped };
    const md = renderMarkdown(reports);
    expect(md).toContain(
      '> ❌ **rehearse** stopped with <code>P1001</code>: could not connect to the snapshot server<br>**Fix:** Check STAGING\\_SNAPSHOT\\_URL',
    );
    expect(md).toContain(
      '⚠️ the reports come from different commits: lint <code>9f3c2a1b7d4e</code>, rollbacks <code>9f3c2a1b7d4e</code>, rehearse <code>1234567890ab</code>',
    );
    expect(md).toContain('| rehearse | ❌ fail (exit 3) |');
    expect(md).not.toContain('### ❌ Rehearsal');
  });
});

describe('hostile tool output', () => {
  const HOSTILE =
    'pipe | in <script>alert(1)</script> `tick` --> <!-- hidden --> <img src=x onerror=alert(2)> @astro/admins [link](javascript:alert(3)) *bold*\nsecond line';

  function hostileReports(): LoadedReport[] {
    const reports = copy();
    const lint = reports[0]!.report;
    lint.findings[0] = { ...lint.findings[0]!, message: HOSTILE, help: '</sub></td></tr><tr><td>forged', file: 'prisma/migrations/`x`|y/migration.sql' };
    (lint.data as LintData).irreversible.push({ migration: '20261104120000_x', reason: HOSTILE });
    const m = rehearse(reports).migrations[1]!;
    m.error = HOSTILE;
    m.locks[0]!.relation = 'evil:rel;name#1%%x';
    m.timeline[0]!.relation = 'evil:rel;name#1%%x\n    section injected';
    m.rollback.diff = '```\n</details>\n<script>alert(4)</script>\n```';
    return reports;
  }

  it('keeps every table row whole: a `|` or a forged row cannot split or add cells', () => {
    const page = html(renderMarkdown(hostileReports()));
    const rows = tableAfter(page, 'Findings (7)');
    expect(rows).toHaveLength(7);
    for (const row of rows) expect(row).toHaveLength(4);
    const hostile = rows.find((r) => r[3]!.includes('pipe'))!;
    expect(hostile[3]).toContain('pipe | in &lt;script&gt;alert(1)&lt;/script&gt; `tick` --&gt; &lt;!-- hidden --&gt;');
    expect(hostile[3]).toContain('<br>second line');
    expect(hostile[0]).toBe('<code>prisma/migrations/`x`|y/migration.sql:5:1</code>');
  });

  it('lets no HTML through: no script, image, link, comment, emphasis or mention', () => {
    const md = renderMarkdown(hostileReports());
    const page = html(md);
    expect(page).not.toMatch(/<script|<img|<a |<em>|<!--/i);
    expect(md).not.toContain('-->');
    expect(md).not.toMatch(/@astro/);
    expect(md).toContain('@\u200bastro/admins');
    // The diff is code, and cannot close the <details> it sits in.
    expect(page.match(/<details>/g)?.length).toBe(page.match(/<\/details>/g)?.length);
    expect(page).toContain('&lt;/details&gt;\n&lt;script&gt;alert(4)&lt;/script&gt;');
  });

  it('sanitizes Mermaid labels: no `:`, `;`, `#`, `%%` or line break reaches the chart', () => {
    const [, chart] = mermaidBlocks(renderMarkdown(hostileReports()));
    const lines = chart!.split('\n');
    expect(lines).toContain('    section evil rel name 1 x section injected');
    for (const line of lines.slice(5)) expect(line).toMatch(/^    (section [^:;#%]+|[^:;#%]+ :((crit|active|done), )*\d+, \d+ms)$/);
  });
});

describe('length limits', () => {
  function bigReports(): LoadedReport[] {
    const reports = copy();
    const data = rehearse(reports);
    const template = data.migrations[1]!;
    const diff = Array.from({ length: 400 }, (_, i) => `+column "c${i}" text not null default '${'x'.repeat(40)}'`).join('\n');
    data.migrations = Array.from({ length: 60 }, (_, i): MigrationRehearsal => ({
      ...structuredClone(template),
      name: `2026110412${String(i).padStart(4, '0')}_m${i}`,
      rollback: { ...template.rollback, diff },
    }));
    return reports;
  }

  it("a PR comment stays under GitHub's 65,536 characters, whole blocks only, and says what was left out", () => {
    const md = renderMarkdown(bigReports(), { prefix: `${COMMENT_MARKER}\n`, limit: 65_000 });
    expect(md.length).toBeLessThanOrEqual(65_000);
    expect(md.startsWith(`${COMMENT_MARKER}\n## ❌`)).toBe(true);
    expect(md).toMatch(/> ✂️ \d+ more sections did not fit GitHub's size limit/);
    const page = html(md);
    expect(page.match(/<details>/g)?.length).toBe(page.match(/<\/details>/g)?.length);
    // Every fence that opens closes: the truncation note is ordinary text, not code.
    expect(page).toMatch(/<blockquote>\s*<p>✂️/);
    expect(md).toContain('### Findings (7)');
  });

  it('clips a very long message in the findings table', () => {
    const reports = copy();
    reports[0]!.report.findings[0]!.message = `ALTER TABLE ${'x'.repeat(5000)}`;
    const row = tableAfter(html(renderMarkdown(reports)), 'Findings (7)').find((r) => r[3]!.startsWith('ALTER TABLE'))!;
    expect(row[3]!.split('<br>')[0]).toHaveLength(1000);
    expect(row[3]!.split('<br>')[0]!.endsWith('x…')).toBe(true);
  });

  it('caps a long diff inside its block and says how many lines are left out', () => {
    const md = renderMarkdown(bigReports());
    expect(md).toContain('… 200 more lines (full text in the report JSON)');
  });

  it('measures the job summary in bytes', () => {
    const md = renderMarkdown(bigReports(), { limit: 100_000, measure: (s) => Buffer.byteLength(s) });
    expect(Buffer.byteLength(md)).toBeLessThanOrEqual(100_000);
  });
});

describe('building blocks', () => {
  it('text() escapes Markdown, HTML and line breaks; code() cannot be closed by a backtick', () => {
    expect(text('a|b <i>c</i>\n_d_')).toBe('a\\|b &lt;i&gt;c&lt;/i&gt;<br>\\_d\\_');
    expect(code('`x`')).toBe('<code>\\`x\\`</code>');
  });

  it('fence() is longer than any backtick run in its content', () => {
    expect(fence('a ``` b', 'diff')).toBe('````diff\na ``` b\n````');
    expect(fence('plain')).toBe('```\nplain\n```');
  });

  it('capLines() keeps short text as is', () => {
    expect(capLines('a\nb', 5)).toBe('a\nb');
    expect(capLines('a\nb\nc', 2)).toBe('a\nb\n… 1 more line (full text in the report JSON)');
  });

  it('mermaidLabel() keeps names readable', () => {
    expect(mermaidLabel('public."Invoice"')).toBe('public. Invoice');
    expect(mermaidLabel('a:b;c#d%%e')).toBe('a b c d e');
    expect(mermaidLabel(':::')).toBe('unnamed');
  });

  it('lockGantt() caps the bars and counts what it left out; no timeline, no chart', () => {
    const m = structuredClone(rehearse(fixture).migrations[0]!);
    m.timeline = Array.from({ length: 90 }, (_, i) => ({ relation: `t${i % 20}`, mode: 'RowExclusiveLock', granted: true, startMs: i, endMs: i + 5 }));
    const gantt = lockGantt(m)!;
    expect(gantt.chart.match(/^    section t/gm)).toHaveLength(12);
    expect(gantt.omitted).toBe(90 - (gantt.chart.match(/RowExclusiveLock :/g)?.length ?? 0));
    expect(gantt.omitted).toBeGreaterThan(0);
    expect(lockGantt({ ...m, timeline: [] })).toBeUndefined();
  });
});
