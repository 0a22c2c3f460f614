import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EnvError } from '../../pipeline/core/errors.ts';
import { REGISTRY, type CommandEntry } from '../../pipeline/cli/registry.ts';
import { dbops, ROOT } from '../helpers/cli.ts';
import { defineCommand } from '../../pipeline/cli/contract.ts';
import { ReportEnvelope, type StepResult } from '../../pipeline/core/result.ts';

/**
 * The CLI's one exit path writes `<--reports-dir>/<report>.json` for every command whose registry entry
 * names a report. A probe command (added to this test process's registry only) stands in for lint and
 * rehearse so that passing, failing and throwing are all under the test's control.
 */

const tmp = mkdtempSync(join(tmpdir(), 'dbops-report-write-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ProbeInputs = z.object({
  reportsDir: z.string().default('reports'),
  outcome: z.enum(['pass', 'fail', 'throw', 'crash', 'lose-reports']).default('pass'),
  json: z.boolean().default(false),
});

// Test commands in the real registry: the CLI finds, describes and runs them like its own.
const registry = REGISTRY as CommandEntry[];
registry.push({
  path: ['probe-step'],
  spec: async () => defineCommand({ path: ['probe-step'], summary: 'test probe', examples: [], inputs: ProbeInputs, report: 'probe' }),
  run: async () => ({
    async run(input: z.output<typeof ProbeInputs>): Promise<StepResult<{ checked: number; dsn: string }>> {
      if (input.outcome === 'throw')
        throw new EnvError('staging snapshot postgresql://snap:Sup3rS3cret@staging.internal/astro is unreachable', { hint: 'Check STAGING_SNAPSHOT_URL.' });
      if (input.outcome === 'crash') throw new TypeError("Cannot read properties of undefined (reading 'name')");
      // The work is done, then the reports folder becomes a file (a job's cleanup, a full disk): only the report is lost.
      if (input.outcome === 'lose-reports') {
        rmSync(input.reportsDir, { recursive: true, force: true });
        mkdirSync(dirname(input.reportsDir), { recursive: true });
        writeFileSync(input.reportsDir, 'in the way\n');
      }
      return {
        verdict: input.outcome === 'lose-reports' ? 'pass' : input.outcome,
        findings:
          input.outcome === 'fail'
            ? [
                {
                  rule: 'probe/leak',
                  severity: 'error',
                  message: 'lock timeout on postgresql://app:Sup3rS3cret@db.internal:5432/astro?schema=public',
                  file: 'prisma/migrations/m1/migration.sql',
                  line: 3,
                },
              ]
            : [],
        data: { checked: 2, dsn: 'postgresql://app:Sup3rS3cret@db.internal/astro' },
      };
    },
    render: (r: StepResult<{ checked: number }>) => `probe ${r.verdict}\n`,
  }),
});

registry.push({
  path: ['probe-plain'],
  spec: async () => defineCommand({ path: ['probe-plain'], summary: 'test probe without a report', examples: [], inputs: ProbeInputs }),
  run: async () => ({ run: async () => ({ verdict: 'pass', findings: [], data: null }), render: () => '' }),
});

const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
let n = 0;
const reportsDir = () => join(tmp, `run${++n}`, 'reports');
const read = (dir: string) => ReportEnvelope.parse(JSON.parse(readFileSync(join(dir, 'probe.json'), 'utf8')));

describe('report writing in the CLI', () => {
  it('writes the envelope after a passing step: timing, git HEAD, dbops version, data', async () => {
    const dir = reportsDir();
    const run = await dbops(['probe-step', '--reports-dir', dir]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('probe pass\n');
    const report = read(dir);
    expect(report).toMatchObject({
      schemaVersion: 1,
      step: 'probe',
      command: 'probe-step',
      verdict: 'pass',
      exitCode: 0,
      commit: head,
      dbopsVersion: version,
      findings: [],
    });
    expect(Date.parse(report.finishedAt)).toBeGreaterThanOrEqual(Date.parse(report.startedAt));
    expect(report.durationMs).toBe(Date.parse(report.finishedAt) - Date.parse(report.startedAt));
    expect(report.data).toEqual({ checked: 2, dsn: 'postgresql://app:***@db.internal/astro' });
    expect(readdirSync(dir)).toEqual(['probe.json']);
  });

  it('writes a failing verdict with exit 1 and redacts the connection string in a finding message', async () => {
    const dir = reportsDir();
    const run = await dbops(['probe-step', '--reports-dir', dir, '--outcome', 'fail']);
    expect(run.code).toBe(1);
    const text = readFileSync(join(dir, 'probe.json'), 'utf8');
    expect(text).not.toContain('Sup3rS3cret');
    const report = read(dir);
    expect(report).toMatchObject({ verdict: 'fail', exitCode: 1 });
    expect(report.findings).toEqual([
      {
        rule: 'probe/leak',
        severity: 'error',
        message: 'lock timeout on postgresql://app:***@db.internal:5432/astro?schema=public',
        file: 'prisma/migrations/m1/migration.sql',
        line: 3,
      },
    ]);
  });

  it('writes the report when the step throws a DbopsError: verdict fail, the error, its exit code', async () => {
    const dir = reportsDir();
    const run = await dbops(['probe-step', '--reports-dir', dir, '--outcome', 'throw']);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('is unreachable');
    const report = read(dir);
    expect(report).toMatchObject({
      verdict: 'fail',
      exitCode: 3,
      findings: [],
      data: null,
      error: { message: 'staging snapshot postgresql://snap:***@staging.internal/astro is unreachable', hint: 'Check STAGING_SNAPSHOT_URL.' },
    });
    expect(readFileSync(join(dir, 'probe.json'), 'utf8')).not.toContain('Sup3rS3cret');
  });

  it('writes the report of a crashed step as an internal error (exit 70)', async () => {
    const dir = reportsDir();
    const run = await dbops(['probe-step', '--reports-dir', dir, '--outcome', 'crash']);
    expect(run.code).toBe(70);
    expect(read(dir)).toMatchObject({
      verdict: 'fail',
      exitCode: 70,
      error: { message: "Internal error: Cannot read properties of undefined (reading 'name')" },
    });
  });

  it('records commit null outside a git work tree', async () => {
    const dir = reportsDir();
    const cwd = process.cwd();
    process.chdir(tmp);
    try {
      expect((await dbops(['probe-step', '--reports-dir', dir])).code).toBe(0);
    } finally {
      process.chdir(cwd);
    }
    expect(read(dir).commit).toBeNull();
  });

  it('a later run replaces the report', async () => {
    const dir = reportsDir();
    await dbops(['probe-step', '--reports-dir', dir, '--outcome', 'fail']);
    await dbops(['probe-step', '--reports-dir', dir]);
    expect(read(dir).verdict).toBe('pass');
    expect(readdirSync(dir)).toEqual(['probe.json']);
  });

  it('a reports folder that cannot be created stops the command before it runs (exit 2)', async () => {
    const file = join(tmp, `file${++n}`);
    writeFileSync(file, 'a file\n');
    const run = await dbops(['probe-step', '--reports-dir', join(file, 'reports')]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`--reports-dir ${join(file, 'reports')} cannot be written: ${file} is a file, not a folder.`);
  });

  it('a report that cannot be written after the work is done: the output says what was done, exit 3', async () => {
    const dir = reportsDir();
    const run = await dbops(['probe-step', '--reports-dir', dir, '--outcome', 'lose-reports']);
    expect(run.code).toBe(3);
    expect(run.stdout).toBe('probe pass\n');
    expect(run.stderr).toContain(`Could not write the report ${join(dir, 'probe.json')}`);
    expect(run.stderr).toContain('The probe-step itself completed as reported above.');
    expect(run.stderr).not.toContain('Internal error');
  });

  it('commands without a report entry write nothing', async () => {
    const dir = reportsDir();
    const run = await dbops(['probe-plain', '--reports-dir', dir]);
    expect(run.code).toBe(0);
    expect(existsSync(dir)).toBe(false);
  });
});
