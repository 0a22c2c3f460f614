// policies/workload.sql: named query blocks, their errors, and the plan shape used to detect plan changes.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../pipeline/core/errors.ts';
import { parseWorkload, planShape } from '../../pipeline/change/rehearsal/workload.ts';

describe('parseWorkload', () => {
  it('reads named blocks with their line, keeping comments and dropping the trailing semicolon', () => {
    const text =
      '-- preamble, ignored\nSELECT 0;\n\n-- name: open_invoices\n-- what a customer owes\nSELECT * FROM "Invoice" WHERE note = \'a;b\';\n\n-- name: trial-balance.v2\r\nSELECT 1\n';
    expect(parseWorkload(text, 'workload.sql')).toEqual([
      { name: 'open_invoices', sql: '-- what a customer owes\nSELECT * FROM "Invoice" WHERE note = \'a;b\'', line: 4 },
      { name: 'trial-balance.v2', sql: 'SELECT 1', line: 8 },
    ]);
  });

  it('reports every malformed block at once, with file and line', () => {
    const text =
      '-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n-- name: empty\n-- only a comment\n-- name: two\nSELECT 1; SELECT 2;\n-- name: bad name!\nSELECT 3;\n';
    const error = (() => {
      try {
        parseWorkload(text, 'policies/workload.sql');
      } catch (e) {
        return e;
      }
    })() as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain('policies/workload.sql:3: the name "a" is used twice');
    expect(error.message).toContain('policies/workload.sql:5: "empty" has no SQL');
    expect(error.message).toContain('policies/workload.sql:7: "two" holds more than one statement');
    expect(error.message).toContain('policies/workload.sql:9: "bad name!" is not a valid query name');
  });

  it("the repository's workload parses: AstroFinance queries with unique names", () => {
    const queries = parseWorkload(readFileSync('policies/workload.sql', 'utf8'), 'policies/workload.sql');
    expect(queries.length).toBeGreaterThanOrEqual(5);
    expect(queries.map((q) => q.name)).toEqual(expect.arrayContaining(['trial_balance', 'open_invoices_of_customer', 'account_ledger_for_period']));
    for (const q of queries) expect(q.sql).toMatch(/^(--[^\n]*\n)*SELECT/);
  });
});

describe('planShape', () => {
  it('lists node types with join type, strategy, relation and index, indented by depth; costs and timings do not count', () => {
    const plan = {
      'Node Type': 'Aggregate',
      Strategy: 'Hashed',
      'Total Cost': 10,
      Plans: [
        {
          'Node Type': 'Hash Join',
          'Join Type': 'Inner',
          'Actual Total Time': 3,
          Plans: [
            { 'Node Type': 'Seq Scan', 'Relation Name': 'JournalLine' },
            { 'Node Type': 'Hash', Plans: [{ 'Node Type': 'Index Scan', 'Relation Name': 'Account', 'Index Name': 'Account_pkey' }] },
          ],
        },
        { 'Node Type': 'Limit', 'Subplan Name': 'InitPlan 1 (returns $0)' },
      ],
    };
    expect(planShape(plan)).toBe(
      [
        'Aggregate [Hashed]',
        '  Hash Join (Inner)',
        '    Seq Scan on JournalLine',
        '    Hash',
        '      Index Scan on Account using Account_pkey',
        '  Limit <InitPlan 1 (returns $0)>',
      ].join('\n'),
    );
    expect(planShape({ ...plan, 'Total Cost': 99 })).toBe(planShape(plan));
  });
});
