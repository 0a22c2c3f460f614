import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import Ajv from 'ajv-draft-04';
import addFormats from 'ajv-formats';
import type { Log, Result } from 'sarif';
import { beforeAll, describe, expect, it } from 'vitest';
import { EnvError } from '../../pipeline/core/errors.ts';
import { REPORT_STEPS } from '../../pipeline/report/schema.ts';
import { ruleTitle, toSarif } from '../../pipeline/report/sarif.ts';
import { readReports, type LoadedReport } from '../../pipeline/report/store.ts';
import { envelopeOf } from '../../pipeline/cli/record.ts';

/**
 * Validated against the official SARIF 2.1.0 JSON Schema (OASIS, the 2.1.0-rtm.5 revision GitHub accepts),
 * as shipped in @microsoft/jest-sarif. The schema is draft-04, and one of its `pattern`s is not valid under
 * the `u` flag, hence ajv-draft-04 with unicodeRegExp off.
 */
const schemaPath = createRequire(import.meta.url).resolve('@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json');
// Both are CommonJS; under NodeNext their default export is the module object.
const ajv = new Ajv.default({ allErrors: true, strict: false, unicodeRegExp: false });
addFormats.default(ajv);
const validate = ajv.compile(JSON.parse(readFileSync(schemaPath, 'utf8')) as object);

const FIXTURES = join(import.meta.dirname, '../fixtures/reports/pr-failing');
let fixture: LoadedReport[];
beforeAll(async () => {
  fixture = await readReports(FIXTURES, REPORT_STEPS);
});

const resultFor = (log: Log, rule: string): Result => log.runs[0]!.results!.find((r) => r.ruleId === rule)!;

describe('SARIF 2.1.0', () => {
  it('is valid against the official schema', () => {
    const log = toSarif(fixture, '0.1.0');
    const valid = validate(JSON.parse(JSON.stringify(log)));
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it('the schema check is real: a result without a message is rejected', () => {
    const log = JSON.parse(JSON.stringify(toSarif(fixture, '0.1.0'))) as { runs: Array<{ results: Array<Record<string, unknown>> }> };
    delete log.runs[0]!.results[0]!['message'];
    expect(validate(log)).toBe(false);
  });

  it('has one run of the dbops driver with its version and a rule per rule id', () => {
    const log = toSarif(fixture, '0.1.0');
    expect(log.version).toBe('2.1.0');
    expect(log.$schema).toBe('https://json.schemastore.org/sarif-2.1.0.json');
    expect(log.runs).toHaveLength(1);
    const driver = log.runs[0]!.tool.driver;
    expect(driver).toMatchObject({ name: 'dbops', version: '0.1.0' });
    expect(driver.rules!.map((r) => r.id).sort()).toEqual([
      'rehearse/access-exclusive',
      'rehearse/probe-blocked',
      'rehearse/rewrite',
      'rehearse/rollback-mismatch',
      'rollbacks/drops-data',
      'squawk/changing-column-type',
      'squawk/require-concurrent-index-creation',
    ]);
    const squawk = driver.rules!.find((r) => r.id === 'squawk/require-concurrent-index-creation')!;
    expect(squawk.shortDescription?.text).toBe('Require concurrent index creation (squawk)');
    expect(squawk.help?.text).toContain('Use `CONCURRENTLY`');
    expect(squawk.helpUri).toBe('https://squawkhq.com/docs/require-concurrent-index-creation');
    for (const rule of driver.rules!) {
      expect(rule.shortDescription?.text).toBeTruthy();
      expect(rule.help?.text).toBeTruthy();
    }
    // Each result points at its rule.
    for (const r of log.runs[0]!.results!) expect(driver.rules![r.ruleIndex!]!.id).toBe(r.ruleId);
  });

  it('maps severities to levels and positions to 1-based regions with an exclusive end column', () => {
    const log = toSarif(fixture, '0.1.0');
    const squawk = resultFor(log, 'squawk/require-concurrent-index-creation');
    expect(squawk.level).toBe('error');
    expect(squawk.message.text).toBe(
      'During normal index creation, table updates are blocked, but reads are still allowed.\n\nUse `CONCURRENTLY` to avoid blocking writes (and move the statement to a migration of its own: it cannot run in a transaction).',
    );
    expect(squawk.locations).toEqual([
      {
        physicalLocation: {
          artifactLocation: { uri: 'prisma/migrations/20261104120000_invoice_due_date/migration.sql' },
          region: { startLine: 5, startColumn: 1, endLine: 5, endColumn: 60 },
        },
      },
    ]);
    expect(resultFor(log, 'squawk/changing-column-type').level).toBe('warning');
    expect(resultFor(log, 'rollbacks/drops-data').level).toBe('note');
  });

  it('points a measured finding at its migration file, line 1, and keeps a file finding without a line on line 1', () => {
    const log = toSarif(fixture, '0.1.0');
    expect(resultFor(log, 'rehearse/access-exclusive').locations![0]!.physicalLocation).toEqual({
      artifactLocation: { uri: 'prisma/migrations/20261104120000_invoice_due_date/migration.sql' },
      region: { startLine: 1 },
    });
    expect(resultFor(log, 'rehearse/rollback-mismatch').locations![0]!.physicalLocation!.artifactLocation!.uri).toBe(
      'rollbacks/20261104121500_payment_channel.sql',
    );
  });

  it("uses the rollbacks report's migrations folder for migrations lint did not list", () => {
    const reports = structuredClone(fixture).filter((r) => r.report.step !== 'lint');
    (reports[0]!.report.data as { migrationsDir: string }).migrationsDir = 'db/migrations/';
    expect(resultFor(toSarif(reports, '0.1.0'), 'rehearse/rewrite').locations![0]!.physicalLocation!.artifactLocation!.uri).toBe(
      'db/migrations/20261104120000_invoice_due_date/migration.sql',
    );
  });

  it('gives stable fingerprints: the same finding with other measurements or moved lines keeps its print', () => {
    const before = toSarif(fixture, '0.1.0');
    const reports = structuredClone(fixture);
    const lint = reports[0]!.report;
    lint.findings[0]!.line = 9;
    lint.findings[0]!.endLine = 9;
    const rehearse = reports[2]!.report;
    rehearse.findings[0]!.message = rehearse.findings[0]!.message.replace('2.79 s', '3.41 s');
    const after = toSarif(reports, '0.1.0');
    const print = (log: Log, rule: string) => resultFor(log, rule).partialFingerprints!['dbopsFinding/v1'];
    for (const rule of ['squawk/require-concurrent-index-creation', 'rehearse/access-exclusive']) expect(print(after, rule)).toBe(print(before, rule));
    const all = before.runs[0]!.results!.map((r) => r.partialFingerprints!['dbopsFinding/v1']);
    expect(new Set(all).size).toBe(all.length);
  });

  it('numbers findings that differ only in their line apart, so each stays its own alert', () => {
    const reports = structuredClone(fixture);
    reports[0]!.report.findings.push({ ...reports[0]!.report.findings[0]!, line: 12, endLine: 12 });
    const prints = toSarif(reports, '0.1.0')
      .runs[0]!.results!.filter((r) => r.ruleId === 'squawk/require-concurrent-index-creation')
      .map((r) => r.partialFingerprints!['dbopsFinding/v1']!);
    expect(prints).toHaveLength(2);
    expect(prints[0]!.split(':')[0]).toBe(prints[1]!.split(':')[0]);
    expect(prints.map((p) => p.split(':')[1])).toEqual(['1', '2']);
  });

  it('uploads a finding two steps both report once', () => {
    const reports = structuredClone(fixture);
    reports[1]!.report.findings.push({ ...reports[0]!.report.findings[2]! });
    expect(toSarif(reports, '0.1.0').runs[0]!.results!.filter((r) => r.ruleId === 'rollbacks/drops-data')).toHaveLength(1);
  });

  it('reports a step that stopped as a failed invocation', () => {
    const reports = structuredClone(fixture);
    reports[2] = {
      file: 'r',
      report: envelopeOf({
        step: 'rehearse',
        command: 'rehearse',
        startedAt: new Date(0),
        finishedAt: new Date(1),
        commit: null,
        dbopsVersion: '0.1.0',
        thrown: new EnvError('no server', { hint: 'start one' }),
      }),
    };
    const log = toSarif(reports, '0.1.0');
    expect(log.runs[0]!.invocations).toEqual([
      { executionSuccessful: false, toolExecutionNotifications: [{ level: 'error', message: { text: 'dbops rehearse stopped: no server Fix: start one' } }] },
    ]);
    expect(validate(JSON.parse(JSON.stringify(log)))).toBe(true);
  });

  it('drops columns that would make an invalid region', () => {
    const reports = structuredClone(fixture);
    Object.assign(reports[0]!.report.findings[0]!, { line: 4, column: 10, endLine: 4, endColumn: 3 });
    const region = resultFor(toSarif(reports, '0.1.0'), 'squawk/require-concurrent-index-creation').locations![0]!.physicalLocation!.region;
    expect(region).toEqual({ startLine: 4, startColumn: 10, endLine: 4 });
  });

  it('titles rules readably', () => {
    expect(ruleTitle('squawk/adding-field-with-default')).toBe('Adding field with default (squawk)');
    expect(ruleTitle('history/edited')).toBe('Edited (history)');
    expect(ruleTitle('standalone_rule')).toBe('Standalone rule');
  });
});
