import { describe, expect, it } from 'vitest';
import type { PlacedFinding } from '../../pipeline/report/findings.ts';
import { planAnnotations } from '../../pipeline/cli/annotations.ts';

const f = (over: Partial<PlacedFinding>): PlacedFinding => ({ rule: 'squawk/x', severity: 'error', message: 'm', step: 'lint', ...over });

describe('planAnnotations', () => {
  it('keeps 10 per severity, errors first, and counts the rest', () => {
    const findings = [
      ...Array.from({ length: 13 }, (_, i) => f({ message: `e${i}` })),
      ...Array.from({ length: 11 }, (_, i) => f({ severity: 'warning', message: `w${i}` })),
      f({ severity: 'notice' }),
    ];
    const plan = planAnnotations(findings);
    expect(plan.shown.map((a) => a.severity)).toEqual([...Array(10).fill('error'), ...Array(10).fill('warning'), 'notice']);
    expect(plan.shown[0]!.message).toBe('e0');
    expect(plan.omitted).toBe(4);
  });

  it('stays within the job budget', () => {
    const plan = planAnnotations(
      Array.from({ length: 30 }, (_, i) => f({ severity: (['error', 'warning', 'notice'] as const)[i % 3]! })),
      12,
    );
    expect(plan.shown).toHaveLength(12);
    expect(plan.omitted).toBe(18);
  });

  it('places a finding on its lines, with columns only when it spans one line', () => {
    const [single, multi, whole, none] = planAnnotations([
      f({ path: 'a.sql', line: 5, column: 3, endLine: 5, endColumn: 40, help: 'do this' }),
      f({ path: 'a.sql', line: 5, column: 3, endLine: 7, endColumn: 2 }),
      f({ path: 'prisma/migrations/m/migration.sql', migration: 'm', step: 'rehearse', rule: 'rehearse/rewrite' }),
      f({ rule: 'rehearse/clone' }),
    ]).shown;
    expect(single).toEqual({
      severity: 'error',
      message: 'm\ndo this',
      title: 'dbops lint: squawk/x',
      file: 'a.sql',
      startLine: 5,
      endLine: 5,
      startColumn: 3,
      endColumn: 40,
    });
    expect(multi).toEqual({ severity: 'error', message: 'm', title: 'dbops lint: squawk/x', file: 'a.sql', startLine: 5, endLine: 7 });
    expect(whole).toEqual({
      severity: 'error',
      message: 'm',
      title: 'dbops rehearse: rehearse/rewrite',
      file: 'prisma/migrations/m/migration.sql',
      startLine: 1,
      endLine: 1,
    });
    expect(none).toEqual({ severity: 'error', message: 'm', title: 'dbops lint: rehearse/clone' });
  });
});
