// Measurements → findings: budgets from policy, rollback proofs, workload comparisons, lint findings
// re-judged with the evidence, and the verdict.
import { describe, expect, it } from 'vitest';
import { RehearsePolicy } from '../../pipeline/policy/rehearse.ts';
import {
  budgetFindings,
  isLockRule,
  judgeLintFindings,
  proofFindings,
  verdictOf,
  workloadFindings,
  type RehearsedMigration,
  type TableFinding,
} from '../../pipeline/change/rehearsal/budgets.ts';
import { type Finding } from '../../pipeline/core/result.ts';
import { type MigrationRehearsal, type RehearseData } from '../../pipeline/change/rehearsal/model.ts';

const policy = RehearsePolicy.parse({});
const NAME = '20260301000000_change';

function rehearsal(over: Partial<MigrationRehearsal> = {}): MigrationRehearsal {
  return {
    name: NAME,
    mode: 'atomic',
    status: 'applied',
    durationMs: 100,
    sampleIntervalMs: 25,
    samples: 4,
    touched: ['Big', 'Small'],
    locks: [],
    timeline: [],
    probes: [],
    tables: [],
    rollback: { status: 'proven', reapply: 'matched' },
    ...over,
  };
}

function migration(r: MigrationRehearsal): RehearsedMigration {
  return {
    rehearsal: r,
    file: `prisma/migrations/${NAME}/migration.sql`,
    rollbackFile: `rollbacks/${NAME}.sql`,
    refs: [
      { kind: 'IndexStmt', line: 2, endLine: 2, relations: ['Small'] },
      { kind: 'IndexStmt', line: 4, endLine: 4, relations: ['Big'] },
      { kind: 'AlterTableStmt', line: 6, endLine: 7, relations: ['Big'] },
    ],
    tableOf: new Map([['Big_idx', 'Big']]),
  };
}

const table = (relation: string, rows: number, rewritten = false) => ({
  relation,
  rewritten,
  rowsBefore: rows,
  rowsAfter: rows,
  bytesBefore: 8192,
  bytesAfter: rewritten ? 16384 : 8192,
});
const probe = (t: string, operation: 'read' | 'write', maxBlockedMs: number) => ({
  table: t,
  operation,
  samples: 10,
  p50Ms: 1,
  p95Ms: 2,
  p99Ms: 3,
  maxMs: Math.max(3, maxBlockedMs),
  maxBlockedMs,
  errors: 0,
});
const sev = (fs: TableFinding[]) => fs.map((f) => `${f.finding.severity} ${f.finding.rule}${f.relation ? ` ${f.relation}` : ''}`);

describe('budgetFindings', () => {
  it('nothing when every measurement is within budget', () => {
    expect(
      budgetFindings(
        migration(rehearsal({ locks: [{ relation: 'Big', mode: 'AccessExclusiveLock', heldMs: 150, rows: 500_000 }], probes: [probe('Big', 'write', 499)] })),
        policy,
      ),
    ).toEqual([]);
  });

  it('duration: warning and error thresholds', () => {
    expect(sev(budgetFindings(migration(rehearsal({ durationMs: 10_000 })), policy))).toEqual(['warning rehearse/duration']);
    expect(sev(budgetFindings(migration(rehearsal({ durationMs: 120_000 })), policy))).toEqual(['error rehearse/duration']);
  });

  it('ACCESS EXCLUSIVE counts only on tables with at least min_rows, and points at the statement that takes it', () => {
    const r = rehearsal({
      locks: [
        { relation: 'Big', mode: 'AccessExclusiveLock', heldMs: 2500, rows: 10_000 },
        { relation: 'Small', mode: 'AccessExclusiveLock', heldMs: 9000, rows: 9_999 },
        { relation: 'New', mode: 'AccessExclusiveLock', heldMs: 9000, rows: null },
        { relation: 'Other', mode: 'ShareLock', heldMs: 9000, rows: 1_000_000 },
      ],
    });
    const found = budgetFindings(migration(r), policy);
    expect(sev(found)).toEqual(['error rehearse/access-exclusive Big']);
    expect(found[0]!.finding).toMatchObject({ line: 6, endLine: 7, file: `prisma/migrations/${NAME}/migration.sql`, migration: NAME });
    expect(found[0]!.finding.message).toContain('held ACCESS EXCLUSIVE on "Big" (10,000 rows) for 2.50 s');
  });

  it('probe-blocked: the worst probe per table', () => {
    const found = budgetFindings(
      migration(rehearsal({ probes: [probe('Big', 'read', 600), probe('Big', 'write', 5000), probe('Small', 'write', 100)] })),
      policy,
    );
    expect(sev(found)).toEqual(['error rehearse/probe-blocked Big']);
    expect(found[0]!.finding.message).toContain('a write of "Big" waited 5.00 s');
    expect(found[0]!.finding.line).toBe(4);
  });

  it('rewrite: error from error_rows, warning from warning_rows, notice below', () => {
    const r = rehearsal({ tables: [table('Big', 100_000, true), table('Mid', 10_000, true), table('Small', 20, true), table('Untouched', 1_000_000)] });
    expect(sev(budgetFindings(migration(r), policy))).toEqual(['error rehearse/rewrite Big', 'warning rehearse/rewrite Mid', 'notice rehearse/rewrite Small']);
  });

  it('thresholds come from policy', () => {
    const strict = RehearsePolicy.parse({ budgets: { rewrite: { warning_rows: 10, error_rows: 15 }, duration: { warning: '50ms', error: '1h' } } });
    expect(sev(budgetFindings(migration(rehearsal({ tables: [table('Small', 20, true)] })), strict))).toEqual([
      'warning rehearse/duration',
      'error rehearse/rewrite Small',
    ]);
  });

  it('a migration that did not run has no measurements to judge', () => {
    expect(budgetFindings(migration(rehearsal({ status: 'not-run', durationMs: 999_999 })), policy)).toEqual([]);
  });
});

describe('proofFindings', () => {
  const rules = (r: MigrationRehearsal) => proofFindings(migration(r)).map((f) => `${f.severity} ${f.rule}`);
  it('one finding per outcome', () => {
    expect(rules(rehearsal())).toEqual([]);
    expect(rules(rehearsal({ rollback: { status: 'missing', reapply: 'not-run' } }))).toEqual(['error rehearse/rollback-missing']);
    expect(rules(rehearsal({ rollback: { status: 'irreversible', reason: 'data lost', reapply: 'not-run' } }))).toEqual(['notice rehearse/irreversible']);
    expect(rules(rehearsal({ rollback: { status: 'failed', reason: '42P01: relation does not exist', reapply: 'not-run' } }))).toEqual([
      'error rehearse/rollback-failed',
    ]);
    expect(rules(rehearsal({ rollback: { status: 'mismatch', diff: '+ index x', reapply: 'failed', reapplyError: '42P07: already exists' } }))).toEqual([
      'error rehearse/rollback-mismatch',
      'error rehearse/reapply-failed',
    ]);
    expect(rules(rehearsal({ rollback: { status: 'proven', reapply: 'mismatch', reapplyDiff: '- x' } }))).toEqual(['error rehearse/reapply-mismatch']);
    expect(rules(rehearsal({ status: 'failed', error: '22012: division by zero' }))).toEqual(['error rehearse/apply-failed']);
    expect(rules(rehearsal({ status: 'not-run', error: 'an earlier one failed' }))).toEqual(['warning rehearse/not-run']);
  });

  it('rollback findings point at the rollback file, with the diff in the message', () => {
    const [f] = proofFindings(migration(rehearsal({ rollback: { status: 'mismatch', diff: '--- a\n+++ b\n+ index "Big_idx" on "Big"', reapply: 'matched' } })));
    expect(f).toMatchObject({ file: `rollbacks/${NAME}.sql`, migration: NAME });
    expect(f!.message).toContain('+ index "Big_idx" on "Big"');
  });
});

describe('workloadFindings', () => {
  const plan = (ms: number, shape = 'Seq Scan on Big') => ({ ms, shape, totalCost: 1, sharedHit: 1, sharedRead: 0 });
  const w = (name: string, over: Partial<RehearseData['workload'][number]>) => ({
    name,
    before: plan(10),
    after: plan(10),
    planChanged: false,
    ratio: 1,
    ...over,
  });
  const lines = new Map([['q', 4]]);
  const rules = (results: RehearseData['workload']) =>
    workloadFindings({ results, lines, file: 'policies/workload.sql' }, policy).map((f) => `${f.severity} ${f.rule}${f.line ? `:${f.line}` : ''}`);

  it('a query failing after the migrations is an error naming it; failing on both sides, a warning', () => {
    expect(rules([w('q', { after: null, ratio: null, error: '42703: column "memo" does not exist' })])).toEqual(['error rehearse/workload-failed:4']);
    expect(rules([w('other', { before: null, after: null, ratio: null, error: 'syntax error' })])).toEqual(['warning rehearse/workload-failed']);
    expect(rules([w('q', { before: null, ratio: null })])).toEqual([]);
  });

  it('slower beyond the ratio and the minimum delta is a warning; a plan change is a notice', () => {
    expect(rules([w('q', { after: plan(25), ratio: 2.5 })])).toEqual(['warning rehearse/workload-slower:4']);
    expect(rules([w('q', { before: plan(1), after: plan(4), ratio: 4 })])).toEqual([]); // 3 ms: timer noise
    expect(rules([w('q', { after: plan(15), ratio: 1.5 })])).toEqual([]);
    expect(rules([w('q', { after: plan(1, 'Index Scan on Big using Big_idx'), ratio: 0.1, planChanged: true })])).toEqual(['notice rehearse/plan-changed:4']);
  });
});

describe('judgeLintFindings', () => {
  const lint = (rule: string, line: number, over: Partial<Finding> = {}): Finding => ({
    rule,
    severity: 'warning',
    message: 'static',
    file: `prisma/migrations/${NAME}/migration.sql`,
    line,
    migration: NAME,
    ...over,
  });
  const measured = rehearsal({
    locks: [
      { relation: 'Small', mode: 'ShareLock', heldMs: 3, rows: 20 },
      { relation: 'Big', mode: 'ShareLock', heldMs: 900, rows: 2_000_000 },
    ],
    tables: [table('Small', 20), table('Big', 2_000_000)],
    probes: [probe('Small', 'write', 2), probe('Big', 'write', 900)],
  });

  it('a lock rule on a small table becomes a notice carrying the measurement', () => {
    const m = migration(measured);
    const out = judgeLintFindings([lint('squawk/require-concurrent-index-creation', 2)], [m], new Map([[NAME, budgetFindings(m, policy)]]), policy);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ rule: 'squawk/require-concurrent-index-creation', severity: 'notice', line: 2, migration: NAME });
    expect(out[0]!.message).toContain('"Small" (20 rows), ShareLock held 3 ms (blocks writes), not rewritten, probes blocked at most 2 ms');
    expect(out[0]!.message).toContain('Harmless at this size');
  });

  it('on a table where a budget fired, the budget finding names the static check and no second finding is made', () => {
    const m = migration(measured);
    const budget = new Map([[NAME, budgetFindings(m, policy)]]);
    const out = judgeLintFindings([lint('require-concurrent-index-creation', 4, { severity: 'notice' })], [m], budget, policy);
    expect(out).toEqual([]);
    const blocked = budget.get(NAME)!.find((b) => b.finding.rule === 'rehearse/probe-blocked')!;
    expect(blocked.finding.message).toContain(
      'Static check require-concurrent-index-creation (lint notice) flagged this statement; the measurement confirms it and escalates it to warning.',
    );
  });

  it('each static finding is attached to the budget finding that measures what it warns about, on its own statement', () => {
    const r = rehearsal({
      locks: [{ relation: 'Big', mode: 'AccessExclusiveLock', heldMs: 100, rows: 2_000_000 }],
      tables: [table('Big', 2_000_000, true)],
      probes: [probe('Big', 'write', 900)],
    });
    const m = migration(r);
    const budget = new Map([[NAME, budgetFindings(m, policy)]]);
    expect(judgeLintFindings([lint('squawk/require-concurrent-index-creation', 4), lint('squawk/adding-field-with-default', 7)], [m], budget, policy)).toEqual(
      [],
    );
    const by = (rule: string) => budget.get(NAME)!.find((b) => b.finding.rule === rule)!.finding;
    expect(by('rehearse/probe-blocked')).toMatchObject({ line: 4 });
    expect(by('rehearse/probe-blocked').message).toContain('Static check require-concurrent-index-creation');
    expect(by('rehearse/probe-blocked').message).not.toContain('adding-field-with-default');
    expect(by('rehearse/rewrite')).toMatchObject({ line: 6, endLine: 7 });
    expect(by('rehearse/rewrite').message).toContain(
      'Static check adding-field-with-default (lint warning) flagged this statement; the measurement confirms it and escalates it to error.',
    );
  });

  it('ignores rules that are not about locks or rewrites, rollback files, other migrations and lines outside any statement', () => {
    const m = migration(measured);
    const budget = new Map([[NAME, budgetFindings(m, policy)]]);
    const ignored = [
      lint('squawk/prefer-robust-stmts', 2),
      lint('squawk/require-concurrent-index-creation', 2, { file: `rollbacks/${NAME}.sql` }),
      lint('squawk/require-concurrent-index-creation', 2, { migration: 'another' }),
      lint('squawk/require-concurrent-index-creation', 3),
    ];
    expect(judgeLintFindings(ignored, [m], budget, policy)).toEqual([]);
    expect(isLockRule('squawk/adding-field-with-default')).toBe(true);
    expect(isLockRule('changing-column-type')).toBe(true);
    expect(isLockRule('squawk/ban-drop-column')).toBe(false);
  });
});

it('verdictOf: any error fails, any warning warns', () => {
  const f = (severity: Finding['severity']): Finding => ({ rule: 'x', severity, message: '' });
  expect(verdictOf([])).toBe('pass');
  expect(verdictOf([f('notice')])).toBe('pass');
  expect(verdictOf([f('notice'), f('warning')])).toBe('warn');
  expect(verdictOf([f('warning'), f('error')])).toBe('fail');
});

describe('the rehearse policy', () => {
  it('has documented defaults and bounds the sampling interval at 50ms', () => {
    expect(policy).toMatchObject({
      scale: 0.2,
      seed: 42,
      sample_interval: '25ms',
      probes: { interval: '25ms', max_tables: 6 },
      workload: { file: 'workload.sql', runs: 3, slowdown_ratio: 2, min_delta: '5ms' },
    });
    expect(policy.budgets).toEqual({
      duration: { warning: '10s', error: '2min' },
      access_exclusive: { min_rows: 10_000, warning: '200ms', error: '2s' },
      probe_blocked: { warning: '500ms', error: '5s' },
      rewrite: { warning_rows: 10_000, error_rows: 100_000 },
    });
    expect(RehearsePolicy.safeParse({ sample_interval: '100ms' }).success).toBe(false);
    expect(RehearsePolicy.safeParse({ sample_interval: '0' }).success).toBe(false);
    expect(RehearsePolicy.safeParse({ sample_interval: '10ms' }).success).toBe(true);
    expect(RehearsePolicy.safeParse({ budgets: { rewrite: { error_rows: 5, extra: 1 } } }).success).toBe(false);
  });
});
