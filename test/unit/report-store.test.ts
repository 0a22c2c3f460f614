import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, EnvError, RefusedError } from '../../pipeline/core/errors.ts';
import { writeFileAtomic } from '../../pipeline/core/fs.ts';
import { parseReport, readReports } from '../../pipeline/report/store.ts';
import { ReportEnvelope, type StepResult } from '../../pipeline/core/result.ts';
import { envelopeOf, type StepOutcome, writeReport } from '../../pipeline/cli/record.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/reports/pr-failing');
const tmp = mkdtempSync(join(tmpdir(), 'dbops-report-store-'));
afterAll(() => import('node:fs').then((fs) => fs.rmSync(tmp, { recursive: true, force: true })));
let n = 0;
const freshDir = () => join(tmp, `r${++n}`);

const outcome = (over: Partial<StepOutcome>): StepOutcome => ({
  step: 'rollbacks',
  command: 'rollbacks check',
  startedAt: new Date('2026-11-04T12:00:00.000Z'),
  finishedAt: new Date('2026-11-04T12:00:01.250Z'),
  commit: 'abc123',
  dbopsVersion: '0.1.0',
  ...over,
});

const passing: StepResult<unknown> = {
  verdict: 'pass',
  findings: [],
  data: { migrationsDir: 'prisma/migrations', rollbacksDir: 'rollbacks', pairs: [{ migration: 'm1', rollback: 'rollbacks/m1.sql', status: 'paired' }] },
};

describe('writeReport', () => {
  it('writes a valid envelope, creating the folder, with the verdict turned into an exit code', async () => {
    const dir = join(freshDir(), 'nested', 'reports');
    const path = await writeReport(dir, outcome({ result: { ...passing, verdict: 'fail' } }));
    expect(path).toBe(join(dir, 'rollbacks.json'));
    const written = ReportEnvelope.parse(JSON.parse(readFileSync(path, 'utf8')));
    expect(written).toMatchObject({
      schemaVersion: 1,
      step: 'rollbacks',
      command: 'rollbacks check',
      verdict: 'fail',
      exitCode: 1,
      durationMs: 1250,
      commit: 'abc123',
      dbopsVersion: '0.1.0',
      startedAt: '2026-11-04T12:00:00.000Z',
    });
    expect(written.data).toEqual(passing.data);
    expect(written.error).toBeUndefined();
    expect(readdirSync(dir)).toEqual(['rollbacks.json']);
  });

  it('keeps an exit code the step chose (exit 3 after the last lock-timeout retry) and its error block', async () => {
    const dir = freshDir();
    await writeReport(
      dir,
      outcome({ result: { ...passing, verdict: 'fail', exitCode: 3, error: { code: 'P1002', message: 'lock timeout', hint: 'retry later' } } }),
    );
    const written = parseReport('x', readFileSync(join(dir, 'rollbacks.json'), 'utf8'));
    expect(written.exitCode).toBe(3);
    expect(written.error).toEqual({ code: 'P1002', message: 'lock timeout', hint: 'retry later' });
  });

  it('records a thrown DbopsError as a failed report with its exit code, message and hint, and no data', async () => {
    const dir = freshDir();
    await writeReport(dir, outcome({ thrown: new EnvError('database unreachable at db:5432', { hint: 'start it', code: 'P1001' }) }));
    const text = readFileSync(join(dir, 'rollbacks.json'), 'utf8');
    const written = parseReport('x', text, 'rollbacks');
    expect(written).toMatchObject({
      verdict: 'fail',
      exitCode: 3,
      findings: [],
      data: null,
      error: { code: 'P1001', message: 'database unreachable at db:5432', hint: 'start it' },
    });
    const internal = envelopeOf(outcome({ thrown: new TypeError('x is undefined') }));
    expect(internal).toMatchObject({ verdict: 'fail', exitCode: 70, error: { message: 'Internal error: x is undefined' } });
    expect(envelopeOf(outcome({ thrown: new RefusedError('no') })).exitCode).toBe(1);
  });

  it('redacts connection strings anywhere in the report and stays valid JSON', async () => {
    const dir = freshDir();
    const leaky: StepResult<unknown> = {
      verdict: 'fail',
      findings: [{ rule: 'rehearse/clone', severity: 'error', message: 'could not connect to postgresql://app:s3cr%22et@staging.internal:5432/astro' }],
      data: { label: 'postgres://snap:hunter22@10.0.0.5/snapshot', nested: [{ dsn: 'host=db password=topsecret user=app' }] },
      error: { message: 'clone of postgresql://app:s3cr%22et@staging.internal/astro failed' },
    };
    const path = await writeReport(dir, outcome({ step: 'probe', result: leaky }));
    const text = readFileSync(path, 'utf8');
    for (const secret of ['s3cr', 'hunter22', 'topsecret']) expect(text).not.toContain(secret);
    const parsed = JSON.parse(text) as ReportEnvelope;
    expect(parsed.findings[0]!.message).toBe('could not connect to postgresql://app:***@staging.internal:5432/astro');
    expect(parsed.data).toEqual({ label: 'postgres://snap:***@10.0.0.5/snapshot', nested: [{ dsn: 'host=db password=*** user=app' }] });
  });

  it('an unwritable target is an environment error naming the file', async () => {
    const dir = freshDir();
    // A folder where the file should go: the rename fails.
    mkdirSync(join(dir, 'rollbacks.json'), { recursive: true });
    mkdirSync(join(dir, 'rollbacks.json', 'occupied'));
    await expect(writeReport(dir, outcome({ result: passing }))).rejects.toThrow(EnvError);
    await expect(writeReport(dir, outcome({ result: passing }))).rejects.toThrow(join(dir, 'rollbacks.json'));
    expect(readdirSync(dir)).toEqual(['rollbacks.json']);
  });
});

describe('writeFileAtomic', () => {
  it('readers see the old content or the new, never a partial file, and no temp file is left', async () => {
    const dir = freshDir();
    const path = join(dir, 'lint.json');
    // With a plain writeFile (truncate, then write) most reads of this loop see a truncated file.
    const versions = Array.from({ length: 40 }, (_, i) => JSON.stringify({ v: i, pad: String(i % 10).repeat(200_000) }));
    await writeFileAtomic(path, versions[0]!);
    let reading = true;
    let reads = 0;
    const reader = (async () => {
      for (; reading; reads++) JSON.parse(await readFile(path, 'utf8')); // throws on a torn read
    })();
    for (const v of versions.slice(1)) await writeFileAtomic(path, v);
    await Promise.all(versions.slice(1, 6).map((v) => writeFileAtomic(path, v)));
    reading = false;
    await reader;
    expect(reads).toBeGreaterThan(0);
    expect(readdirSync(dir)).toEqual(['lint.json']);
    expect(versions).toContain(readFileSync(path, 'utf8'));
  });
});

describe('parseReport and readReports', () => {
  it('reads the fixture reports in the order asked for, skipping steps without a file', async () => {
    const loaded = await readReports(FIXTURES, ['lint', 'gate', 'rollbacks', 'rehearse']);
    expect(loaded.map((l) => l.report.step)).toEqual(['lint', 'rollbacks', 'rehearse']);
    expect(loaded[0]!.file).toBe(join(FIXTURES, 'lint.json'));
  });

  it('names the file and the first bad key of a malformed report (exit 2)', () => {
    const good = JSON.parse(readFileSync(join(FIXTURES, 'rehearse.json'), 'utf8'));
    const bad = structuredClone(good);
    bad.data.migrations[0].timeline[1].endMs = 'late';
    const error = (() => {
      try {
        parseReport('reports/rehearse.json', JSON.stringify(bad), 'rehearse');
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.exitCode).toBe(2);
    expect(error!.message).toContain('reports/rehearse.json');
    expect(error!.message).toContain('data.migrations[0].timeline[1].endMs');

    const envelope = { ...good, verdict: 'maybe' };
    expect(() => parseReport('reports/rehearse.json', JSON.stringify(envelope))).toThrow(/reports\/rehearse\.json.*verdict/);
    expect(() => parseReport('reports/rehearse.json', '{"schemaVersion": 1,')).toThrow(/reports\/rehearse\.json is not valid JSON/);
    expect(() => parseReport('reports/lint.json', JSON.stringify(good), 'lint')).toThrow(/step: expected "lint", found "rehearse"/);
    expect(() => parseReport('reports/rehearse.json', JSON.stringify({ ...good, schemaVersion: 2 }))).toThrow(/schemaVersion/);
  });

  it('accepts a stopped step without data, and any data for a step without a schema', () => {
    const stopped = envelopeOf(outcome({ step: 'rehearse', command: 'rehearse', thrown: new EnvError('no server') }));
    expect(parseReport('r.json', JSON.stringify(stopped)).data).toBeNull();
    const other = envelopeOf(outcome({ step: 'drill', command: 'drill', result: { verdict: 'pass', findings: [], data: { anything: true } } }));
    expect(parseReport('g.json', JSON.stringify(other)).data).toEqual({ anything: true });
    // A passing rehearse report must carry rehearse data.
    const empty = envelopeOf(outcome({ step: 'rehearse', command: 'rehearse', result: { verdict: 'pass', findings: [], data: null } }));
    expect(() => parseReport('r.json', JSON.stringify(empty))).toThrow(/r\.json is not a valid rehearse report: data/);
  });

  it('a report file that cannot be read as JSON is named in the error', async () => {
    const dir = freshDir();
    mkdirSync(dir);
    writeFileSync(join(dir, 'lint.json'), 'not json');
    await expect(readReports(dir, ['lint'])).rejects.toThrow(`${join(dir, 'lint.json')} is not valid JSON`);
  });
});
