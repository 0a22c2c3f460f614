// GFS retention (restic semantics, bucketed in the policy's zone): fixed fixtures around the DST switches and
// month/week boundaries, each run under several process time zones, plus fast-check properties.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compactUtc, type BackupEntry, type VerificationRecord } from '../../pipeline/protection/backup/manifest.ts';
import type { RetentionDecision } from '../../pipeline/protection/backup/report.ts';
import { bucketsOf, planRetention } from '../../pipeline/protection/backup/retention.ts';
import { BackupsPolicy, type Tier } from '../../pipeline/policy/backups.ts';
import { retentionCovers } from '../../pipeline/evidence/retention.ts';

type Status = BackupEntry['status'];
type Retention = BackupsPolicy['retention'];

const retention = (over: Partial<Record<keyof Retention, unknown>> = {}): Retention => BackupsPolicy.parse({ version: 1, retention: over }).retention;

let serial = 0;
function backup(
  finishedAt: string,
  o: { tier?: Tier; status?: Status; database?: string; failed?: { check: 'sha256' | 'decrypt' | 'archive'; message: string } } = {},
): BackupEntry {
  const tier = o.tier ?? 'daily';
  const status = o.status ?? 'verified';
  const finished = new Date(finishedAt);
  const id = `${compactUtc(finished)}-${tier}-${(serial++ % 0x10000).toString(16).padStart(4, '0')}`;
  const verifiedAt = new Date(finished.getTime() + 600_000).toISOString();
  const record = (ok: boolean): VerificationRecord => ({
    formatVersion: 1,
    backupId: id,
    target: 'local',
    at: verifiedAt,
    level: 'read',
    ok,
    checks: [
      { name: 'sha256', ok: ok || o.failed?.check !== 'sha256', durationMs: 5, ...(o.failed?.check === 'sha256' ? { message: o.failed.message } : {}) },
      { name: 'decrypt', ok: ok || o.failed?.check !== 'decrypt', durationMs: 5, ...(o.failed?.check === 'decrypt' ? { message: o.failed.message } : {}) },
      {
        name: 'archive',
        ok: ok || (o.failed !== undefined && o.failed.check !== 'archive'),
        durationMs: 5,
        ...(o.failed?.check === 'archive' ? { message: o.failed.message } : {}),
      },
    ],
    durationMs: 15,
    dbops: { version: '0.1.0', commit: null },
  });
  const verifications = status === 'unverified' ? [] : [record(status === 'verified')];
  return {
    manifest: {
      formatVersion: 1,
      id,
      tier,
      database: { name: o.database ?? 'astrofinance', systemIdentifier: '7400000000000000001', serverVersion: '15.18', serverVersionNum: 150018 },
      startedAt: new Date(finished.getTime() - 60_000).toISOString(),
      finishedAt: finished.toISOString(),
      dump: { format: 'custom', compressionLevel: 1, pgDump: 'pg_dump (PostgreSQL) 15.18', plaintextBytes: 1000, durationMs: 60_000 },
      object: { key: 'backup.dump.age', ciphertextBytes: 1200, sha256: '0'.repeat(64) },
      encryption: { format: 'age-v1', recipients: [{ name: 'ops', recipient: `age1${'q'.repeat(58)}`, fingerprint: '0123456789abcdef' }] },
      tables: [],
      dbops: { version: '0.1.0', commit: null },
    },
    verifications,
    status,
    ...(status === 'verified' ? { verified: verifications[0] } : {}),
  };
}

/** Named fixture backups → the names planRetention keeps and deletes. */
function plan(named: Record<string, BackupEntry>, policy: Retention, now = '2027-01-01T00:00:00Z') {
  const nameOf = new Map(Object.entries(named).map(([name, e]) => [e.manifest.id, name]));
  const decisions = planRetention(Object.values(named), policy, new Date(now));
  const byName = Object.fromEntries(decisions.map((d) => [nameOf.get(d.id)!, d]));
  const names = (keep: boolean) =>
    decisions
      .filter((d) => d.keep === keep)
      .map((d) => nameOf.get(d.id)!)
      .sort();
  return { decisions, keep: names(true), del: names(false), reasons: (name: string) => byName[name]!.reasons };
}

const PROCESS_ZONES = ['UTC', 'Pacific/Chatham', 'America/Los_Angeles'];
const originalTz = process.env.TZ;

describe.each(PROCESS_ZONES)('fixtures with the process in TZ=%s', (tz) => {
  beforeAll(() => {
    process.env.TZ = tz;
  });
  afterAll(() => {
    if (originalTz === undefined) delete process.env.TZ;
    else process.env.TZ = originalTz;
  });

  it('runs in the time zone it names (Node honours TZ set at runtime)', () => {
    const offset = new Date('2026-07-01T00:00:00Z').getTimezoneOffset();
    expect(offset).toBe({ UTC: 0, 'Pacific/Chatham': -765, 'America/Los_Angeles': 420 }[tz]);
  });

  it('buckets ISO weeks by the week-year of their Thursday', () => {
    expect(bucketsOf(new Date('2027-01-01T12:00:00Z'), 'UTC')).toEqual({ day: '2027-01-01', week: '2026-W53', month: '2027-01' });
    expect(bucketsOf(new Date('2021-01-03T12:00:00Z'), 'UTC').week).toBe('2020-W53');
    expect(bucketsOf(new Date('2024-12-30T12:00:00Z'), 'UTC').week).toBe('2025-W01');
    expect(bucketsOf(new Date('2026-11-23T12:00:00Z'), 'UTC').week).toBe('2026-W48');
    // Sunday ends the ISO week: 2026-11-01 (Sunday) is still W44, the Monday after is W45.
    expect(bucketsOf(new Date('2026-11-01T12:00:00Z'), 'UTC').week).toBe('2026-W44');
    expect(bucketsOf(new Date('2026-11-02T12:00:00Z'), 'UTC').week).toBe('2026-W45');
  });

  it('2026-03-29 in Europe/Berlin: 02:00–02:59 does not exist; buckets follow the Berlin calendar, not UTC', () => {
    const named = {
      F: backup('2026-03-22T12:00:00Z'), // Sun 22, W12
      A: backup('2026-03-27T01:30:00Z'), // Fri 27 02:30 CET, W13
      B: backup('2026-03-29T00:30:00Z'), // Sun 29 01:30 CET (before the switch)
      C: backup('2026-03-29T01:30:00Z'), // Sun 29 03:30 CEST (after it)
      D: backup('2026-03-29T02:30:00Z'), // Sun 29 04:30 CEST
      E: backup('2026-03-29T22:30:00Z'), // Mon 30 00:30 CEST, W14 (still Sunday the 29th in UTC)
    };
    expect(bucketsOf(new Date('2026-03-29T00:30:00Z'), 'Europe/Berlin')).toEqual({ day: '2026-03-29', week: '2026-W13', month: '2026-03' });
    expect(bucketsOf(new Date('2026-03-29T01:30:00Z'), 'Europe/Berlin').day).toBe('2026-03-29');
    expect(bucketsOf(new Date('2026-03-29T22:30:00Z'), 'Europe/Berlin')).toEqual({ day: '2026-03-30', week: '2026-W14', month: '2026-03' });

    const policy = { daily: 2, weekly: 2, monthly: 0, keep_last: 1 };
    const berlin = plan(named, retention({ ...policy, zone: 'Europe/Berlin' }));
    expect(berlin.keep).toEqual(['D', 'E']);
    expect(berlin.del).toEqual(['A', 'B', 'C', 'F']);
    expect(berlin.reasons('E')).toEqual(['newest verified', 'keep_last 1/1', 'daily 2026-03-30', 'weekly 2026-W14']);
    expect(berlin.reasons('D')).toEqual(['daily 2026-03-29', 'weekly 2026-W13']);
    expect(berlin.reasons('B')).toEqual(['not the newest of any kept day/week/month']);
    // The same backups bucketed in UTC keep a different set: the zone decides, and is honoured.
    const utc = plan(named, retention({ ...policy, zone: 'UTC' }));
    expect(utc.keep).toEqual(['A', 'E', 'F']);
  });

  it('2026-10-25 in Europe/Berlin: 02:30 happens twice; the instants order the backups, not the wall clock', () => {
    const named = {
      K: backup('2026-10-23T12:00:00Z'), // Fri 23
      J: backup('2026-10-24T23:30:00Z'), // Sun 25 01:30 CEST (Saturday in UTC)
      G: backup('2026-10-25T00:30:00Z'), // Sun 25 02:30 CEST
      H: backup('2026-10-25T01:30:00Z'), // Sun 25 02:30 CET, the second 02:30
      I: backup('2026-10-25T23:30:00Z'), // Mon 26 00:30 CET, W44 (Sunday in UTC)
    };
    const policy = { daily: 3, weekly: 2, monthly: 0, keep_last: 1 };
    const berlin = plan(named, retention({ ...policy, zone: 'Europe/Berlin' }));
    expect(berlin.keep).toEqual(['H', 'I', 'K']);
    expect(berlin.del).toEqual(['G', 'J']);
    expect(berlin.reasons('H')).toEqual(['daily 2026-10-25', 'weekly 2026-W43']);
    expect(berlin.reasons('I')).toEqual(['newest verified', 'keep_last 1/1', 'daily 2026-10-26', 'weekly 2026-W44']);
    expect(berlin.reasons('K')).toEqual(['daily 2026-10-23']);
    expect(plan(named, retention({ ...policy, zone: 'UTC' })).keep).toEqual(['I', 'J', 'K']);
  });

  it('2026-03-08 in America/New_York: 02:00 does not exist; late-evening backups belong to the local day', () => {
    const named = {
      O: backup('2026-03-08T04:30:00Z'), // Sat 7 23:30 EST (Sunday in UTC)
      L: backup('2026-03-08T06:30:00Z'), // Sun 8 01:30 EST
      M: backup('2026-03-08T07:30:00Z'), // Sun 8 03:30 EDT (02:xx skipped)
      N: backup('2026-03-09T03:30:00Z'), // Sun 8 23:30 EDT (Monday in UTC)
      P: backup('2026-03-09T04:30:00Z'), // Mon 9 00:30 EDT, W11
    };
    const policy = { daily: 2, weekly: 2, monthly: 0, keep_last: 1 };
    const ny = plan(named, retention({ ...policy, zone: 'America/New_York' }));
    expect(ny.keep).toEqual(['N', 'P']);
    expect(ny.del).toEqual(['L', 'M', 'O']);
    expect(ny.reasons('N')).toEqual(['daily 2026-03-08', 'weekly 2026-W10']);
    expect(plan(named, retention({ ...policy, zone: 'UTC' })).keep).toEqual(['M', 'P']);
  });

  it('a backup on Sunday 2026-11-01 is daily, weekly and monthly at once and counts in each tier', () => {
    const named = {
      R1: backup('2026-10-30T01:00:00Z'),
      R2: backup('2026-10-31T01:00:00Z'),
      R3: backup('2026-11-01T01:00:00Z'), // Sunday the 1st: the newest of its day, of ISO week 44 and of November
      R4: backup('2026-12-02T01:00:00Z'),
      R5: backup('2026-12-03T01:00:00Z'),
    };
    const r = plan(named, retention({ zone: 'Europe/Berlin', daily: 3, weekly: 2, monthly: 2, keep_last: 1 }));
    expect(r.reasons('R3')).toEqual(['daily 2026-11-01', 'weekly 2026-W44', 'monthly 2026-11']);
    // OR semantics: R3 fills a daily slot, so the third daily is not pushed back to R2 (borg would keep R2).
    expect(r.keep).toEqual(['R3', 'R4', 'R5']);
    expect(r.del).toEqual(['R1', 'R2']);
  });

  it('2026-03-01: a Saturday-evening UTC backup is Sunday the 1st in Berlin (daily+weekly+monthly there)', () => {
    const named = { X1: backup('2026-02-27T12:00:00Z'), X2: backup('2026-02-28T23:30:00Z'), X3: backup('2026-04-10T12:00:00Z') };
    const policy = { daily: 2, weekly: 2, monthly: 3, keep_last: 1 };
    const berlin = plan(named, retention({ ...policy, zone: 'Europe/Berlin' }));
    expect(berlin.reasons('X2')).toEqual(['daily 2026-03-01', 'weekly 2026-W09', 'monthly 2026-03']);
    expect(berlin.reasons('X1')).toEqual(['monthly 2026-02']);
    const utc = plan(named, retention({ ...policy, zone: 'UTC' }));
    expect(utc.reasons('X2')).toEqual(['daily 2026-02-28', 'weekly 2026-W09', 'monthly 2026-02']);
    // In UTC February has X1 and X2, so only two months exist: X1 survives as the short tier's oldest.
    expect(utc.reasons('X1')).toEqual(['monthly: oldest (tier not full, 2/3)']);
  });

  it('2026-05-31T23:30Z is June in Berlin: the month boundary follows the zone', () => {
    const named = { S1: backup('2026-05-30T12:00:00Z'), S2: backup('2026-05-31T23:30:00Z'), S3: backup('2026-06-15T12:00:00Z') };
    const policy = { daily: 0, weekly: 0, monthly: 2, keep_last: 1 };
    const berlin = plan(named, retention({ ...policy, zone: 'Europe/Berlin' }));
    expect(berlin.keep).toEqual(['S1', 'S3']);
    expect(berlin.reasons('S1')).toEqual(['monthly 2026-05']);
    expect(plan(named, retention({ ...policy, zone: 'UTC' })).keep).toEqual(['S2', 'S3']);
  });

  it('empty days do not count: daily 3 reaches back over gaps of several days', () => {
    const named = {
      d1: backup('2026-11-01T02:00:00Z'),
      d2: backup('2026-11-02T02:00:00Z'),
      d3: backup('2026-11-03T02:00:00Z'),
      d10: backup('2026-11-10T02:00:00Z'),
      d20early: backup('2026-11-20T02:00:00Z'),
      d20late: backup('2026-11-20T21:00:00Z'),
    };
    const r = plan(named, retention({ zone: 'UTC', daily: 3, weekly: 0, monthly: 0, keep_last: 1 }), '2026-11-21T00:00:00Z');
    expect(r.keep).toEqual(['d10', 'd20late', 'd3']);
    expect(r.del).toEqual(['d1', 'd2', 'd20early']);
  });

  it('failed and unverified backups never count toward a tier; unverified ones get a grace period', () => {
    const named = {
      T1: backup('2026-11-15T02:00:00Z'),
      T2: backup('2026-11-16T02:00:00Z'),
      T4: backup('2026-11-17T01:00:00Z'),
      T3: backup('2026-11-17T02:00:00Z', { status: 'failed', failed: { check: 'decrypt', message: 'chunk 3 failed authentication' } }),
      T5: backup('2026-11-18T02:00:00Z', { status: 'unverified' }),
      T6: backup('2026-11-19T02:00:00Z', { status: 'unverified' }),
      T7: backup('2026-11-20T02:00:00Z', { status: 'failed', failed: { check: 'sha256', message: 'expected 3f…, got 9a…' } }),
    };
    const r = plan(named, retention({ zone: 'UTC', daily: 3, weekly: 0, monthly: 0, keep_last: 2, unverified_grace: '2d' }), '2026-11-20T12:00:00Z');
    expect(r.keep).toEqual(['T1', 'T2', 'T4', 'T6']);
    expect(r.del).toEqual(['T3', 'T5', 'T7']);
    // The failed T3 is newer on the 17th, but the day is represented by the verified T4.
    expect(r.reasons('T4')).toEqual(['newest verified', 'keep_last 1/2', 'daily 2026-11-17']);
    expect(r.reasons('T2')).toEqual(['keep_last 2/2', 'daily 2026-11-16']);
    expect(r.reasons('T1')).toEqual(['daily 2026-11-15']);
    expect(r.reasons('T3')).toEqual(['verification failed: decrypt (chunk 3 failed authentication)']);
    expect(r.reasons('T7')).toEqual(['verification failed: sha256 (expected 3f…, got 9a…)']);
    expect(r.reasons('T6')).toEqual(['not verified yet, kept 2d']);
    expect(r.reasons('T5')).toEqual(['unverified after 2d']);
    // Newest first.
    expect(r.decisions.map((d) => d.finishedAt)).toEqual([...r.decisions.map((d) => d.finishedAt)].sort().reverse());
  });

  it('keeps the newest verified backup when every newer backup failed', () => {
    const good = backup('2026-11-01T02:00:00Z');
    const failed = Array.from({ length: 8 }, (_, i) =>
      backup(`2026-11-${String(i + 2).padStart(2, '0')}T02:00:00Z`, {
        status: 'failed',
        failed: { check: 'archive', message: 'pg_restore: error: could not read input file' },
      }),
    );
    const decisions = planRetention(
      [...failed, good],
      retention({ zone: 'UTC', daily: 0, weekly: 0, monthly: 0, keep_last: 1 }),
      new Date('2026-11-10T12:00:00Z'),
    );
    expect(decisions.filter((d) => d.keep).map((d) => d.id)).toEqual([good.manifest.id]);
    expect(decisions.find((d) => d.id === good.manifest.id)!.reasons).toEqual(['newest verified', 'keep_last 1/1']);
    expect(decisions.filter((d) => !d.keep)).toHaveLength(8);
    // With the default tiers, seven corrupt dailies do not evict it either.
    const defaults = planRetention([...failed, good], retention({ zone: 'UTC' }), new Date('2026-11-10T12:00:00Z'));
    expect(defaults.filter((d) => d.keep).map((d) => d.id)).toEqual([good.manifest.id]);
  });

  it('pre-deploy backups are kept for pre_deploy and never count toward the tiers', () => {
    const named = {
      P1: backup('2026-08-01T10:00:00Z', { tier: 'pre-deploy' }),
      P2: backup('2026-11-01T10:00:00Z', { tier: 'pre-deploy' }),
      P4: backup('2026-11-10T10:00:00Z', { tier: 'pre-deploy', status: 'unverified' }),
      D1: backup('2026-11-17T02:00:00Z'),
      D2: backup('2026-11-18T02:00:00Z'),
      D3: backup('2026-11-19T02:00:00Z'),
      P3: backup('2026-11-19T18:00:00Z', { tier: 'pre-deploy' }),
    };
    const r = plan(named, retention({ zone: 'UTC', daily: 2, weekly: 0, monthly: 0, keep_last: 1, pre_deploy: '90d' }), '2026-11-20T12:00:00Z');
    expect(r.keep).toEqual(['D2', 'D3', 'P2', 'P3']);
    expect(r.del).toEqual(['D1', 'P1', 'P4']);
    // P3 is the newest verified backup (the floor counts it), but Nov 19 is still represented by D3.
    expect(r.reasons('P3')).toEqual(['newest verified', 'keep_last 1/1', 'pre-deploy, kept 90d']);
    expect(r.reasons('D3')).toEqual(['daily 2026-11-19']);
    expect(r.reasons('P2')).toEqual(['pre-deploy, kept 90d']);
    expect(r.reasons('P1')).toEqual(['pre-deploy older than 90d']);
    expect(r.reasons('P4')).toEqual(['unverified after 2d']);
  });

  it('a tier with fewer buckets than it asks for also keeps the oldest backup', () => {
    const named = {
      W0: backup('2026-09-10T01:00:00Z'),
      W1: backup('2026-09-10T12:00:00Z'),
      W2: backup('2026-10-05T12:00:00Z'),
      W3: backup('2026-10-20T12:00:00Z'),
      W4: backup('2026-11-02T01:00:00Z'),
      W5: backup('2026-11-02T05:00:00Z'),
      W6: backup('2026-11-03T12:00:00Z'),
    };
    const r = plan(named, retention({ zone: 'UTC', daily: 7, weekly: 4, monthly: 12, keep_last: 1 }), '2026-11-04T00:00:00Z');
    expect(r.keep).toEqual(['W0', 'W1', 'W2', 'W3', 'W5', 'W6']);
    expect(r.del).toEqual(['W4']);
    // 5 days of 7 and 3 months of 12: W0 is kept by both short tiers; 4 weeks of 4 is full.
    expect(r.reasons('W0')).toEqual(['daily: oldest (tier not full, 5/7)', 'monthly: oldest (tier not full, 3/12)']);
    expect(r.reasons('W1')).toEqual(['daily 2026-09-10', 'weekly 2026-W37', 'monthly 2026-09']);
  });

  it('databases in one target are separate series: one never evicts the other', () => {
    const named = {
      a1: backup('2026-11-18T02:00:00Z'),
      a2: backup('2026-11-19T02:00:00Z'),
      b1: backup('2026-11-10T02:00:00Z', { database: 'ledger' }),
      b2: backup('2026-11-11T02:00:00Z', { database: 'ledger' }),
    };
    const r = plan(named, retention({ zone: 'UTC', daily: 1, weekly: 0, monthly: 0, keep_last: 1 }), '2026-11-20T00:00:00Z');
    expect(r.keep).toEqual(['a2', 'b2']);
    expect(r.decisions.find((d) => d.database === 'ledger' && d.keep)!.reasons).toEqual(['newest verified', 'keep_last 1/1', 'daily 2026-11-11']);
  });

  it('keeps a backup whose finishedAt is not a timestamp, and counts it nowhere', () => {
    const odd = backup('2026-11-19T02:00:00Z');
    odd.manifest.finishedAt = 'yesterday';
    const r = planRetention([odd, backup('2026-11-18T02:00:00Z')], retention({ zone: 'UTC', daily: 1, keep_last: 1 }), new Date('2026-11-20T00:00:00Z'));
    expect(r.find((d) => d.id === odd.manifest.id)).toMatchObject({ keep: true, reasons: ['finishedAt "yesterday" is not a timestamp: kept, counts nowhere'] });
    expect(r.filter((d) => d.keep)).toHaveLength(2);
  });
});

describe('delete reasons', () => {
  it('a failed backup names the first failed check with its message on one line, then the others', () => {
    const e = backup('2026-11-19T02:00:00Z', {
      status: 'failed',
      failed: { check: 'archive', message: `pg_restore: error: could not read\n  input file: ${'x'.repeat(300)}` },
    });
    e.verifications[0]!.checks.push(
      { name: 'restore', ok: false, durationMs: 0, message: 'not run: archive failed' },
      { name: 'manifest', ok: false, durationMs: 0, message: 'not run: archive failed' },
    );
    const [d] = planRetention([e], retention({ zone: 'UTC' }), new Date('2026-11-20T00:00:00Z'));
    expect(d!.keep).toBe(false);
    expect(d!.reasons).toHaveLength(1);
    expect(d!.reasons[0]).toMatch(/^verification failed: archive \(pg_restore: error: could not read input file: x+…\); also restore, manifest$/);
    expect(d!.reasons[0]!.length).toBeLessThan(240);
  });
});

// ---- properties ------------------------------------------------------------------------------------------

const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Pacific/Chatham', 'Asia/Kolkata', 'Australia/Lord_Howe', 'America/Santiago'];
const START = Date.parse('2026-01-01T00:00:00Z');
const YEAR = 366 * 86_400_000;

const arbEntry = fc.record({
  offset: fc.oneof(
    fc.integer({ min: 0, max: YEAR }),
    fc.integer({ min: 0, max: 20 }).map((d) => d * 86_400_000 + 2 * 3_600_000),
  ),
  tier: fc.constantFrom<Tier>('daily', 'daily', 'daily', 'weekly', 'monthly', 'pre-deploy'),
  status: fc.constantFrom<Status>('verified', 'verified', 'verified', 'failed', 'unverified'),
  database: fc.constantFrom('astrofinance', 'astrofinance', 'astrofinance', 'ledger'),
});
const arbPolicy = fc.record({
  zone: fc.constantFrom(...ZONES),
  daily: fc.integer({ min: 0, max: 8 }),
  weekly: fc.integer({ min: 0, max: 5 }),
  monthly: fc.integer({ min: 0, max: 13 }),
  keep_last: fc.integer({ min: 1, max: 4 }),
  pre_deploy: fc.constantFrom('0', '1d', '90d'),
  unverified_grace: fc.constantFrom('0', '2d'),
});
const arbCase = fc
  .record({ entries: fc.array(arbEntry, { maxLength: 40 }), policy: arbPolicy, nowOffset: fc.integer({ min: 0, max: 120 * 86_400_000 }) })
  .map(({ entries, policy, nowOffset }) => ({
    entries: entries.map((e) =>
      backup(new Date(START + e.offset).toISOString(), {
        tier: e.tier,
        status: e.status,
        database: e.database,
        failed: { check: 'sha256', message: 'mismatch' },
      }),
    ),
    policy: retention(policy),
    now: new Date(START + YEAR + nowOffset),
  }));

const newestVerified = (entries: readonly BackupEntry[], n: number) =>
  entries
    .filter((e) => e.status === 'verified')
    .sort((a, b) => Date.parse(b.manifest.finishedAt) - Date.parse(a.manifest.finishedAt) || (a.manifest.id < b.manifest.id ? 1 : -1))
    .slice(0, n)
    .map((e) => e.manifest.id);
const keptIds = (ds: RetentionDecision[]) => new Set(ds.filter((d) => d.keep).map((d) => d.id));
const TIER_REASON = /^(daily|weekly|monthly)[ :]/;

describe('retention properties', () => {
  it('never deletes the newest verified backup, nor any of the newest keep_last verified', () => {
    fc.assert(
      fc.property(arbCase, ({ entries, policy, now }) => {
        const kept = keptIds(planRetention(entries, policy, now));
        for (const id of newestVerified(entries, policy.keep_last)) expect(kept.has(id)).toBe(true);
        for (const db of ['astrofinance', 'ledger']) {
          const [newest] = newestVerified(
            entries.filter((e) => e.manifest.database.name === db),
            1,
          );
          if (newest) expect(kept.has(newest)).toBe(true);
        }
      }),
    );
  });

  it('gives the same decisions whatever the input order', () => {
    fc.assert(
      fc.property(
        arbCase.chain((c) => fc.tuple(fc.constant(c), fc.shuffledSubarray(c.entries, { minLength: c.entries.length, maxLength: c.entries.length }))),
        ([{ entries, policy, now }, shuffled]) => {
          expect(planRetention(shuffled, policy, now)).toEqual(planRetention(entries, policy, now));
        },
      ),
    );
  });

  it('decides every backup once, newest first, each decision with at least one reason', () => {
    fc.assert(
      fc.property(arbCase, ({ entries, policy, now }) => {
        const ds = planRetention(entries, policy, now);
        expect(ds.map((d) => d.id).sort()).toEqual(entries.map((e) => e.manifest.id).sort());
        for (const d of ds) expect(d.reasons.length).toBeGreaterThan(0);
        for (let i = 1; i < ds.length; i++) expect(Date.parse(ds[i - 1]!.finishedAt)).toBeGreaterThanOrEqual(Date.parse(ds[i]!.finishedAt));
      }),
    );
  });

  it('never keeps a failed backup, and only verified scheduled backups count toward a tier or the floors', () => {
    fc.assert(
      fc.property(arbCase, ({ entries, policy, now }) => {
        for (const d of planRetention(entries, policy, now)) {
          if (d.status === 'failed') expect(d.keep).toBe(false);
          const counted = d.reasons.some((r) => TIER_REASON.test(r));
          if (counted) expect([d.status, d.tier === 'pre-deploy']).toEqual(['verified', false]);
          if (d.reasons.some((r) => r.startsWith('keep_last') || r === 'newest verified')) expect(d.status).toBe('verified');
        }
      }),
    );
  });

  // Holds for these semantics (see the doc comment of planRetention): what a plan keeps contains the newest
  // backup of every bucket that decided anything, so planning again finds the same buckets.
  it('is idempotent: planning again on the kept backups at the same time deletes nothing more', () => {
    fc.assert(
      fc.property(arbCase, ({ entries, policy, now }) => {
        const kept = keptIds(planRetention(entries, policy, now));
        const again = planRetention(
          entries.filter((e) => kept.has(e.manifest.id)),
          policy,
          now,
        );
        expect(again.filter((d) => !d.keep)).toEqual([]);
      }),
    );
  });

  it('keeps per tier exactly what restic keeps (newest first, a new bucket value keeps, the oldest while the tier is short)', () => {
    // restic's own loop (internal/restic/snapshot_policy.go ApplyPolicy), over the backups eligible for the tiers.
    const restic = (eligible: BackupEntry[], n: number, key: (e: BackupEntry) => string) => {
      const sorted = [...eligible].sort(
        (a, b) => Date.parse(b.manifest.finishedAt) - Date.parse(a.manifest.finishedAt) || (a.manifest.id < b.manifest.id ? 1 : -1),
      );
      const kept = new Set<string>();
      let count = n;
      let last: string | undefined;
      sorted.forEach((e, nr) => {
        if (count <= 0) return;
        const val = key(e);
        if (val !== last || nr === sorted.length - 1) {
          kept.add(e.manifest.id);
          last = val;
          count--;
        }
      });
      return kept;
    };
    fc.assert(
      fc.property(arbCase, ({ entries, policy, now }) => {
        const single = entries.filter((e) => e.manifest.database.name === 'astrofinance');
        const ds = planRetention(single, policy, now);
        const eligible = single.filter((e) => e.status === 'verified' && e.manifest.tier !== 'pre-deploy');
        for (const [tier, bucket] of [
          ['daily', 'day'],
          ['weekly', 'week'],
          ['monthly', 'month'],
        ] as const) {
          const expected = restic(eligible, policy[tier], (e) => bucketsOf(new Date(e.manifest.finishedAt), policy.zone)[bucket]);
          const actual = new Set(ds.filter((d) => d.reasons.some((r) => r.startsWith(`${tier} `) || r.startsWith(`${tier}:`))).map((d) => d.id));
          expect(actual).toEqual(expected);
        }
      }),
    );
  });
});

describe('retentionCovers', () => {
  it('months against months exactly; days against the longest the months can be', () => {
    expect(retentionCovers('12mo', '1y')).toBe(true);
    expect(retentionCovers('1y', '12mo')).toBe(true);
    expect(retentionCovers('11mo', '12mo')).toBe(false);
    expect(retentionCovers('12mo', '365d')).toBe(true);
    expect(retentionCovers('365d', '12mo')).toBe(false);
    expect(retentionCovers('366d', '12mo')).toBe(true);
    expect(retentionCovers('400d', '13mo')).toBe(true);
    expect(retentionCovers('395d', '13mo')).toBe(false);
  });
});
