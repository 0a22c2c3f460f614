import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runDbops } from '../helpers/cli.ts';
import { type ReportEnvelope } from '../../pipeline/core/result.ts';
import { REPORT_STEPS } from '../../pipeline/report/index.ts';

/** `dbops report` as a user runs it, on the fixture reports (its own process: nothing from a CI job's environment leaks in). */

const FIXTURES = join(import.meta.dirname, '../fixtures/reports/pr-failing');
const tmp = mkdtempSync(join(tmpdir(), 'dbops-report-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
function reportsDir(edit?: (step: string, r: ReportEnvelope) => ReportEnvelope | null): string {
  const dir = join(tmp, `r${++n}`);
  cpSync(FIXTURES, dir, { recursive: true });
  for (const step of ['lint', 'rollbacks', 'rehearse']) {
    if (!edit) continue;
    const path = join(dir, `${step}.json`);
    const changed = edit(step, JSON.parse(readFileSync(path, 'utf8')) as ReportEnvelope);
    if (changed === null) rmSync(path);
    else writeFileSync(path, JSON.stringify(changed));
  }
  return dir;
}

describe('dbops report', () => {
  it('prints every report the way its command does and exits 1 when one failed', async () => {
    const run = await runDbops(['report', '--reports-dir', reportsDir()]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^── lint ── fail · 1 error, 1 warning, 1 notice · 689 ms · commit 9f3c2a1b7d4e · /);
    expect(run.stdout).toContain('── rollbacks check ── pass · 0 errors');
    expect(run.stdout).toContain('── rehearse ── fail · 2 errors, 2 warnings');
    expect(run.stdout).toContain('20261104121500_payment_channel');
    expect(run.stdout.trimEnd().split('\n').at(-1)).toBe('dbops report: fail (lint fail, rollbacks pass, rehearse fail)');
  });

  it('exits 0 when every report passed or warned', async () => {
    const dir = reportsDir((_step, r) => ({ ...r, verdict: r.verdict === 'fail' ? 'warn' : r.verdict, exitCode: 0 }));
    const run = await runDbops(['report', '--reports-dir', dir]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('dbops report: warn (lint warn, rollbacks pass, rehearse warn)');
  });

  it('renders Markdown to stdout and SARIF to a file', async () => {
    const dir = reportsDir();
    const md = await runDbops(['report', '--reports-dir', dir, '--format', 'markdown']);
    expect(md.stdout.startsWith('## ❌ dbops migration checks: failed\n')).toBe(true);
    const out = join(dir, 'out', 'dbops.sarif');
    const sarif = await runDbops(['report', '--reports-dir', dir, '--format', 'sarif', '--output', out]);
    expect(sarif.code).toBe(1);
    expect(sarif.stdout).toBe(`Wrote the sarif report to ${out}\n`);
    expect((JSON.parse(readFileSync(out, 'utf8')) as { runs: Array<{ results: unknown[] }> }).runs[0]!.results).toHaveLength(7);
  });

  it('--json gives the verdict, every finding and a summary per step', async () => {
    const run = await runDbops(['report', '--reports-dir', reportsDir(), '--json']);
    const json = JSON.parse(run.stdout) as {
      command: string;
      verdict: string;
      findings: unknown[];
      data: { steps: Array<{ step: string; verdict: string; counts: object }>; github: null };
    };
    expect(json).toMatchObject({ command: 'report', verdict: 'fail', data: { github: null } });
    expect(json.findings).toHaveLength(7);
    expect(json.data.steps.map((s) => [s.step, s.verdict])).toEqual([
      ['lint', 'fail'],
      ['rollbacks', 'pass'],
      ['rehearse', 'fail'],
    ]);
  });

  it('a malformed report is a configuration error naming the file and the first bad key', async () => {
    const dir = reportsDir((step, r) => (step === 'lint' ? { ...r, data: { ...(r.data as object), counts: { error: 'one', warning: 1, notice: 1 } } } : r));
    const run = await runDbops(['report', '--reports-dir', dir]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${join(dir, 'lint.json')} is not a valid lint report: data.counts.error:`);
    expect(run.stdout).toBe('');
  });

  it('without reports says where it looked and what to run', async () => {
    const dir = reportsDir(() => null);
    const run = await runDbops(['report', '--reports-dir', dir]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`No reports in ${dir}/: expected ${REPORT_STEPS.map((s) => `${s}.json`).join(', ')}.`);
    expect(run.stderr).toContain('Fix: Run `dbops lint`');
    // Every step's report, the newer ones included.
    for (const step of ['lint', 'maintain-run', 'settings-check']) expect(REPORT_STEPS).toContain(step);
  });

  it('masks a connection string that reached a report, in every format', async () => {
    const dir = reportsDir((step, r) =>
      step === 'rehearse' ? { ...r, findings: [{ ...r.findings[0]!, message: 'clone failed: postgresql://snap:Leak3dPw@staging.internal:5432/astro' }] } : r,
    );
    const masked = {
      terminal: 'postgresql://snap:***@staging.internal:5432/astro',
      sarif: 'postgresql://snap:***@staging.internal:5432/astro',
      markdown: 'postgresql://snap:***@\u200bstaging.internal:5432/astro',
    };
    for (const [format, text] of Object.entries(masked)) {
      const run = await runDbops(['report', '--reports-dir', dir, '--format', format]);
      expect(run.all).not.toContain('Leak3dPw');
      expect(run.stdout).toContain(text);
    }
  });
});
