import { describe, expect, it } from 'vitest';
import type { PhysicalBackup } from '../../pipeline/infra/pgbackrest/info.ts';
import { BackupsPolicy } from '../../pipeline/policy/backups.ts';
import { planPitrExpire, type PitrVerification } from '../../pipeline/protection/pitr/index.ts';

const stamp = (day: string) => day.replaceAll('-', '');
const backup = (type: PhysicalBackup['type'], label: string, day: string, prior: string | null, repo = 1): PhysicalBackup => ({
  label,
  type,
  repo,
  startedAt: `${day}T01:00:00.000Z`,
  stoppedAt: `${day}T01:10:00.000Z`,
  lsnStart: '0/0',
  lsnStop: '0/0',
  walStart: '',
  walStop: '',
  sizeBytes: 1,
  repositoryBytes: 1,
  prior,
  error: false,
  annotation: {},
});

// A full backup every Sunday from 6 September to 6 December 2026, a diff each Monday and an incr on it each
// Tuesday; every backup but the newest full verified.
const SUNDAYS = ['09-06', '09-13', '09-20', '09-27', '10-04', '10-11', '10-18', '10-25', '11-01', '11-08', '11-15', '11-22', '11-29', '12-06'].map(
  (d) => `2026-${d}`,
);
const fullLabel = (sunday: string) => `${stamp(sunday)}-010000F`;
const plusDays = (day: string, n: number) => new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
const BACKUPS: PhysicalBackup[] = SUNDAYS.flatMap((sunday) => {
  const full = fullLabel(sunday);
  if (sunday === '2026-12-06') return [backup('full', full, sunday, null)];
  const diff = `${full}_${stamp(plusDays(sunday, 1))}-010000D`;
  const incr = `${full}_${stamp(plusDays(sunday, 2))}-010000I`;
  return [backup('full', full, sunday, null), backup('diff', diff, plusDays(sunday, 1), full), backup('incr', incr, plusDays(sunday, 2), diff)];
});
const RECORDS: PitrVerification[] = [
  {
    at: '2026-12-05T12:00:00.000Z',
    ok: true,
    problems: [],
    backups: BACKUPS.filter((b) => !b.label.startsWith('20261206')).map((b) => b.label),
    durationMs: 1,
  },
];
const NOW = new Date('2026-12-06T03:00:00Z');
const policy = (retention: Record<string, unknown>) =>
  BackupsPolicy.parse({ version: 1, retention: { zone: 'UTC', unverified_grace: '2d' }, pitr: { retention } });

describe('pitr expire: GFS over full backups', () => {
  it('keeps the tiers, the floor, the unverified newest and the full the WAL window starts from; dependents go with their full', () => {
    const [plan] = planPitrExpire(BACKUPS, RECORDS, policy({ daily: 0, weekly: 1, monthly: 3, keep_last: 1, wal_window: '14d' }), [1], NOW);
    const kept = plan!.fulls.filter((f) => f.keep).map((f) => [f.label, f.reasons]);
    expect(kept).toEqual([
      ['20261206-010000F', ['not verified yet, kept 2d']],
      ['20261129-010000F', ['newest verified', 'keep_last 1/1', 'weekly 2026-W48', 'monthly 2026-11']],
      // 14 days before 6 December 03:00 is 22 November 03:00: restoring any moment since needs this one.
      ['20261122-010000F', ['start of the 14d WAL window']],
      ['20261025-010000F', ['monthly 2026-10']],
      ['20260927-010000F', ['monthly 2026-09']],
    ]);
    const expired = plan!.fulls.filter((f) => !f.keep);
    expect(expired.map((f) => f.label)).toEqual(['1115', '1108', '1101', '1018', '1011', '1004', '0920', '0913', '0906'].map((d) => `2026${d}-010000F`));
    expect(expired[0]!.reasons).toEqual(['not the newest of any kept day/week/month']);
    expect(expired[0]!.dependents).toEqual(['20261115-010000F_20261116-010000D', '20261115-010000F_20261117-010000I']);
    // WAL from the window's full on: the newest three full backups (the unverified one counts, as pgBackRest counts).
    expect(plan!.walFrom).toEqual({ label: '20261122-010000F', stoppedAt: '2026-11-22T01:10:00.000Z' });
    expect(plan!.archiveFulls).toBe(3);
  });

  it('expiring what it planned and planning again expires nothing more', () => {
    const p = policy({ daily: 0, weekly: 1, monthly: 3, keep_last: 1, wal_window: '14d' });
    const [first] = planPitrExpire(BACKUPS, RECORDS, p, [1], NOW);
    const gone = new Set(first!.fulls.filter((f) => !f.keep).flatMap((f) => [f.label, ...f.dependents]));
    const [second] = planPitrExpire(
      BACKUPS.filter((b) => !gone.has(b.label)),
      RECORDS,
      p,
      [1],
      NOW,
    );
    expect(second!.fulls.every((f) => f.keep)).toBe(true);
    expect(second!.walFrom).toEqual(first!.walFrom);
  });

  it('a window longer than the history keeps WAL from the oldest kept full; each repository is planned on its own', () => {
    const other = backup('full', '20261201-010000F', '2026-12-01', null, 2);
    const plans = planPitrExpire([...BACKUPS, other], RECORDS, policy({ daily: 0, weekly: 2, monthly: 0, keep_last: 1, wal_window: '365d' }), [1, 2], NOW);
    expect(plans[0]!.fulls.filter((f) => f.keep).map((f) => f.label)).toEqual(['20261206-010000F', '20261129-010000F', '20261122-010000F']);
    expect(plans[0]!.walFrom?.label).toBe('20261122-010000F');
    expect(plans[0]!.archiveFulls).toBe(3);
    // repo2's only full was never verified and is past the grace: still kept, being the repository's newest;
    // nothing of repo1 counts for it.
    expect(plans[1]!.fulls).toEqual([expect.objectContaining({ label: '20261201-010000F', keep: true, reasons: ['newest full backup of the repository'] })]);
  });
});
