import { describe, expect, it } from 'vitest';
import type { EvidenceBundle } from '../../pipeline/evidence/bundle.ts';
import { CLOCK_SKEW_MS, reconcile } from '../../pipeline/evidence/reconcile.ts';
import type { MigrationRow } from '../../pipeline/change/migrations/history.ts';
import { executionData } from '../helpers/evidence.ts';

const row = (name: string, startedAt: string, o: { finished?: boolean; rolledBackAt?: string } = {}): MigrationRow => ({
  id: name,
  checksum: 'c',
  migrationName: name,
  startedAt,
  finishedAt: o.finished === false ? null : startedAt,
  rolledBackAt: o.rolledBackAt ?? null,
  logs: null,
  appliedStepsCount: 1,
});

const step = (name: string, action: 'apply' | 'rollback', outcome: 'applied' | 'failed' | 'rolled-back') => ({
  name,
  action,
  outcome,
  mode: 'atomic' as const,
  startedAt: null,
  durationMs: 1,
  lockRetries: 0,
});

function bundle(
  sequence: number,
  kind: EvidenceBundle['kind'],
  startedAt: string,
  createdAt: string,
  steps: ReturnType<typeof step>[],
  interrupted: EvidenceBundle['interrupted'] = null,
): EvidenceBundle {
  const execution = kind === 'interrupted' ? null : { ...executionData(), startedAt, finishedAt: createdAt, steps };
  return { sequence, kind, createdAt, execution, interrupted } as unknown as EvidenceBundle;
}

describe('reconcile', () => {
  it('a failed migration rolled back automatically is explained twice by one bundle; the same events a day later are outside', () => {
    const deploy = bundle(1, 'deploy', '2026-04-21T08:00:00.000Z', '2026-04-21T08:02:00.000Z', [
      step('m2', 'apply', 'failed'),
      step('m2', 'rollback', 'rolled-back'),
    ]);
    const inside = row('m2', '2026-04-21T08:01:00.000Z', { finished: false, rolledBackAt: '2026-04-21T08:01:30.000Z' });
    expect(reconcile([inside], [deploy], '2026-04-21T08:00:00.000Z').map((v) => [v.event, v.status, v.bundle])).toEqual([
      ['failed', 'explained', '#1 deploy'],
      ['rolled-back', 'explained', '#1 deploy'],
    ]);
    const later = row('m2', '2026-04-22T08:01:00.000Z', { finished: false, rolledBackAt: '2026-04-22T08:01:30.000Z' });
    expect(reconcile([later], [deploy], '2026-04-21T08:00:00.000Z').map((v) => v.status)).toEqual(['outside', 'outside']);
  });

  it('a bundle explains only what it did: an apply of another migration in its window is outside', () => {
    const deploy = bundle(1, 'deploy', '2026-04-21T08:00:00.000Z', '2026-04-21T08:02:00.000Z', [step('m1', 'apply', 'applied')]);
    const verdicts = reconcile([row('m1', '2026-04-21T08:00:30.000Z'), row('m9', '2026-04-21T08:00:40.000Z')], [deploy], '2026-04-21T08:00:00.000Z');
    expect(verdicts.map((v) => [v.migration, v.status])).toEqual([
      ['m1', 'explained'],
      ['m9', 'outside'],
    ]);
  });

  it('tolerates the clock skew between runner and database, and no more', () => {
    const deploy = bundle(1, 'deploy', '2026-04-21T08:00:00.000Z', '2026-04-21T08:02:00.000Z', [step('m1', 'apply', 'applied')]);
    const at = (ms: number) => new Date(Date.parse('2026-04-21T08:02:00.000Z') + ms).toISOString();
    expect(reconcile([row('m1', at(CLOCK_SKEW_MS))], [deploy], null)[0]!.status).toBe('before-evidence');
    expect(reconcile([row('m1', at(CLOCK_SKEW_MS))], [deploy], '2026-04-21T08:00:00.000Z')[0]!.status).toBe('explained');
    expect(reconcile([row('m1', at(CLOCK_SKEW_MS + 1))], [deploy], '2026-04-21T08:00:00.000Z')[0]!.status).toBe('outside');
  });

  it('an interrupted deploy explains what the database held for it when it was recorded', () => {
    const interrupted = bundle(2, 'interrupted', '', '2026-04-21T09:30:00.000Z', [], {
      action: 'deploy',
      startedAt: '2026-04-21T09:00:00.000Z',
      run: null,
      by: 'ci',
      planned: ['m3', 'm4'],
      state: [
        { migration: 'm3', state: 'applied' },
        { migration: 'm4', state: 'not-applied' },
      ],
    });
    const verdicts = reconcile([row('m3', '2026-04-21T09:00:05.000Z'), row('m4', '2026-04-21T09:40:00.000Z')], [interrupted], '2026-04-21T09:00:00.000Z');
    expect(verdicts.map((v) => [v.migration, v.status, v.bundle])).toEqual([
      ['m3', 'explained', '#2 interrupted'],
      ['m4', 'outside', null],
    ]);
  });
});
