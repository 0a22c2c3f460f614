import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EnvError } from '../../pipeline/core/errors.ts';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { REPORT_STEPS } from '../../pipeline/report/schema.ts';
import { readReports, type LoadedReport } from '../../pipeline/report/store.ts';
import { genericRender, renderTerminal } from '../../pipeline/report/terminal.ts';
import { type CommandSpec } from '../../pipeline/cli/contract.ts';
import { type StepResult } from '../../pipeline/core/result.ts';
import { envelopeOf } from '../../pipeline/cli/record.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/reports/pr-failing');
let fixture: LoadedReport[];
beforeAll(async () => {
  fixture = await readReports(FIXTURES, REPORT_STEPS);
});

const Inputs = z.object({ reportsDir: z.string().default('reports'), flavour: z.string().default('plain') });
const spec = (report: string, load: CommandSpec['load']): CommandSpec => ({ path: [report], summary: '', examples: [], inputs: Inputs, report, load });

describe('terminal rendering of reports', () => {
  it("renders each report with its own step module, given the result and the step's default inputs", async () => {
    const seen: Array<{ verdict: string; findings: number; input: unknown }> = [];
    const own = spec('lint', async () => ({
      run: async () => ({ verdict: 'pass', findings: [], data: null }),
      render: (r: StepResult<unknown>, input: unknown) => {
        seen.push({ verdict: r.verdict, findings: r.findings.length, input });
        return `lint rendered ${(r.data as { squawk: { version: string } }).squawk.version}\n`;
      },
    }));
    const text = await renderTerminal(fixture.slice(0, 1), [own], silentLogger());
    expect(seen).toEqual([{ verdict: 'fail', findings: 3, input: { reportsDir: 'reports', flavour: 'plain' } }]);
    expect(text).toBe(
      `── lint ── fail · 1 error, 1 warning, 1 notice · 689 ms · commit 9f3c2a1b7d4e · ${join(FIXTURES, 'lint.json')}\nlint rendered 2.66.0\n\ndbops report: fail (lint fail)\n`,
    );
  });

  it('falls back to a list of findings when the step module cannot be loaded or cannot render', async () => {
    const missing = spec('lint', () => Promise.reject(new Error('Cannot find module ./steps/lint/index.ts')));
    const broken = spec('rehearse', async () => ({
      run: async () => ({ verdict: 'pass', findings: [], data: null }),
      render: () => {
        throw new TypeError('x is undefined');
      },
    }));
    const text = await renderTerminal(fixture, [missing, broken], silentLogger());
    expect(text).toContain(
      '  error   squawk/require-concurrent-index-creation  prisma/migrations/20261104120000_invoice_due_date/migration.sql:5:1\n          During normal index creation',
    );
    expect(text).toContain('          fix: Use `CONCURRENTLY`');
    expect(text).toContain('  error   rehearse/access-exclusive  20261104120000_invoice_due_date\n');
    // No module at all for rollbacks: its (empty) findings.
    expect(text).toContain('── rollbacks check ── pass · 0 errors, 0 warnings, 0 notices');
    expect(text).toContain('No findings.');
    expect(text.trimEnd().split('\n').at(-1)).toBe('dbops report: fail (lint fail, rollbacks pass, rehearse fail)');
  });

  it('shows why a step stopped and does not ask its module to render missing data', async () => {
    const stopped = envelopeOf({
      step: 'rehearse',
      command: 'rehearse',
      startedAt: new Date(0),
      finishedAt: new Date(2000),
      commit: null,
      dbopsVersion: '0.1.0',
      thrown: new EnvError('could not connect to the snapshot server', { code: 'P1001', hint: 'Check STAGING_SNAPSHOT_URL.' }),
    });
    let called = false;
    const own = spec('rehearse', async () => ({ run: async () => ({ verdict: 'pass', findings: [], data: null }), render: () => ((called = true), '') }));
    const text = await renderTerminal([{ file: 'reports/rehearse.json', report: stopped }], [own], silentLogger());
    expect(called).toBe(false);
    expect(text).toBe(
      '── rehearse ── fail (exit 3) · 0 errors, 0 warnings, 0 notices · 2.00 s · commit unknown · reports/rehearse.json\nStopped (P1001): could not connect to the snapshot server\nFix: Check STAGING_SNAPSHOT_URL.\n\ndbops report: fail (rehearse fail)\n',
    );
  });

  it('genericRender says so when there is nothing to list', () => {
    expect(genericRender({ ...fixture[1]!.report })).toBe('No findings.\n');
  });
});
