import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { loadSpecs } from '../../pipeline/cli/registry.ts';
import { createLogger } from '../../pipeline/core/logger.ts';
import type { ReportEnvelope } from '../../pipeline/core/result.ts';
import { PITR_REPORT_DATA } from '../../pipeline/protection/pitr/index.ts';
import { BACKUP_STEPS, NOTIFY_STEPS, PITR_STEPS } from '../../pipeline/report/backup-md.ts';
import { buildEvent, notSentBecause, slackPayload, summaryMarkdown, type BackupEvent, type Delivery } from '../../pipeline/report/backup-event.ts';
import { renderMarkdown } from '../../pipeline/report/markdown.ts';
import { REPORT_STEPS } from '../../pipeline/report/schema.ts';
import { parseReport, type LoadedReport } from '../../pipeline/report/store.ts';
import { renderTerminal } from '../../pipeline/report/terminal.ts';
import { backupData, failingStatus, FULL, healthyStatus, pitrEnvelope, statusEnvelope, verifyData } from '../helpers/pitr-reports.ts';

const commands = await loadSpecs();

/** The pitr steps' reports on the backup notification channel: the event, its Slack payload, the job summary. */

const loaded = (...reports: ReportEnvelope[]): LoadedReport[] =>
  // Through the same parser `dbops backup notify` and `dbops report` read files with.
  reports.map((r) => ({ file: `reports/${r.step}.json`, report: parseReport(`reports/${r.step}.json`, JSON.stringify(r)) }));
const eventOf = (...reports: ReportEnvelope[]): BackupEvent =>
  buildEvent(loaded(...reports), [], { reportsDir: 'reports', env: {}, now: new Date('2026-12-07T10:00:05Z') });
const delivery: Delivery = { env: 'DBOPS_BACKUP_WEBHOOK', host: 'hooks.example.com', status: 'sent', attempts: 1, httpStatus: 200, reason: null };

describe('pitr reports on the backup channel', () => {
  it('every pitr report is read back with its schema, and notify reads them after the logical steps', () => {
    expect([...PITR_STEPS].sort()).toEqual(Object.keys(PITR_REPORT_DATA).sort());
    for (const step of PITR_STEPS) expect(REPORT_STEPS).toContain(step);
    expect(NOTIFY_STEPS).toEqual([...BACKUP_STEPS, ...PITR_STEPS]);
    const written = commands.filter((c) => c.path[0] === 'pitr' && c.report).map((c) => [c.path.join(' '), c.report]);
    expect(written).toEqual(
      expect.arrayContaining([
        ['pitr backup', 'pitr-backup'],
        ['pitr verify', 'pitr-verify'],
        ['pitr status', 'pitr-status'],
      ]),
    );
    // Only the commands that write a report take --reports-dir.
    for (const c of commands.filter((c) => c.path[0] === 'pitr')) expect('reportsDir' in c.inputs.shape, c.path.join(' ')).toBe(c.report !== undefined);
  });

  it('a failing status is a failure event whose reason names every failed check, with the fix', () => {
    const e = eventOf(statusEnvelope(failingStatus()));
    expect(e).toMatchObject({ outcome: 'failure', activity: 'pitr status', title: 'Point-in-time recovery status of main failed', tier: null, backupId: null });
    const archiving =
      'WAL archiving is failing: 57 failed attempt(s), the newest for 0000000100000041000000C8 at 2026-12-07T09:59:58.000Z; the last success was at 2026-12-07T09:38:00.000Z';
    const rpo = 'RPO exposure is 22 min, over the objective of 15 min: 22 WAL segment(s) wait to be archived';
    expect(e.reason).toBe(`pitr status failed: ${archiving}; ${rpo}`);
    expect(e.failedSteps).toEqual([
      {
        step: 'pitr-status',
        command: 'pitr status',
        message: `${archiving}; ${rpo}`,
        hint: expect.stringMatching(/^Read the server log for archive_command's error/),
      },
    ]);
    expect(e.pitr).toEqual({
      stanza: 'main',
      backup: null,
      verification: null,
      expire: null,
      status:
        'RPO exposure 22 min (objective 15 min); last archived 0000000100000041000000C7 at 2026-12-07T09:38:00.000Z; 57 failed attempts; 22 segments waiting',
    });

    const slack = slackPayload(e);
    expect(slack.blocks[0]).toMatchObject({ type: 'header', text: { text: '❌ Point-in-time recovery status of main failed' } });
    const why = (slack.blocks[1] as { text: { text: string } }).text.text;
    expect(why).toContain('*pitr status* failed: WAL archiving is failing: 57 failed attempt(s)');
    expect(why).toContain('RPO exposure is 22 min, over the objective of 15 min');
    expect(why).toContain("_Fix:_ Read the server log for archive_command's error");
    expect(slack.text).toContain('Point-in-time recovery status of main failed: pitr status failed: WAL archiving is failing');
    expect(JSON.stringify(slack.blocks)).toContain('*Archiving*\\nRPO exposure 22 min (objective 15 min)');
  });

  it('a passing status is a success event, never sent to the webhook even when notifications.on has success; failures are sent', () => {
    const ok = eventOf(statusEnvelope(healthyStatus()));
    expect(ok).toMatchObject({ outcome: 'success', activity: 'pitr status', title: 'Point-in-time recovery status of main succeeded', reason: null });
    expect(notSentBecause(ok, ['success', 'failure'])).toMatch(/^a passing pitr status is not announced \(it runs every 15 minutes\)/);
    const bad = eventOf(statusEnvelope(failingStatus()));
    expect(notSentBecause(bad, ['success', 'failure'])).toBeNull();
    expect(notSentBecause(bad, ['failure'])).toBeNull();
    // notifications.on still decides first.
    expect(notSentBecause(bad, ['success'])).toBe('notifications.on is [success], this is a failure');
    // A heartbeat warning leaves the status passing: a success, not announced.
    const quiet = healthyStatus();
    quiet.heartbeat = { ...quiet.heartbeat!, ageMs: 14 * 60_000 };
    expect(eventOf(statusEnvelope(quiet)).outcome).toBe('success');
    // A physical backup's success is sent as `on` says, like a logical one.
    const backup = eventOf(pitrEnvelope('pitr-backup', backupData()), pitrEnvelope('pitr-verify', verifyData()));
    expect(notSentBecause(backup, ['success', 'failure'])).toBeNull();
  });

  it('a physical backup and its verification: one success event naming the backup, its type and its stanza', () => {
    const e = eventOf(pitrEnvelope('pitr-backup', backupData(), { durationMs: 402_000 }), pitrEnvelope('pitr-verify', verifyData()));
    expect(e).toMatchObject({
      outcome: 'success',
      activity: 'physical backup',
      title: 'Physical backup full of main succeeded',
      backupId: FULL.label,
      durationMs: 401_000,
      duration: '6 min 41 s',
      pitr: {
        stanza: 'main',
        backup: `full ${FULL.label} in repository 1: 38.2 GiB of cluster, 9.7 GiB stored`,
        verification: 'passed: 1 backup and their WAL, in 3 min 12 s',
        status: null,
      },
    });
    expect(e.steps.map((s) => s.step)).toEqual(['pitr-backup', 'pitr-verify']);
  });

  it('the expiry after them: a line in the event and a section in the summary, with what went and where WAL starts', () => {
    const old = {
      label: '20261108-010002F',
      stoppedAt: '2026-11-08T01:08:00.000Z',
      status: 'verified' as const,
      keep: false,
      reasons: ['not the newest of any kept day/week/month'],
      dependents: ['20261108-010002F_20261109-010001D'],
    };
    const kept = { ...old, label: FULL.label, stoppedAt: FULL.stoppedAt, keep: true, reasons: ['newest verified'], dependents: [] };
    const expire = {
      stanza: 'main',
      dryRun: false,
      zone: 'Europe/Berlin',
      walWindow: '14d',
      repos: [{ repo: 1, fulls: [kept, old], walFrom: { label: FULL.label, stoppedAt: FULL.stoppedAt }, archiveFulls: 1, expired: [old.label] }],
    };
    const reports = [pitrEnvelope('pitr-backup', backupData()), pitrEnvelope('pitr-verify', verifyData()), pitrEnvelope('pitr-expire', expire)];
    const e = eventOf(...reports);
    expect(e.outcome).toBe('success');
    expect(e.pitr?.expire).toBe(`repo1: 1 full kept, 1 expired, WAL from ${FULL.label}`);
    const md = summaryMarkdown(e, loaded(...reports), delivery);
    expect(md).toContain('Physical backups expired: stanza <code>main</code> (WAL window 14d)');
    expect(md).toContain(`repository 1: 1 full backup kept, expired <code>${old.label}</code> (+1 diff/incr) · WAL from <code>${FULL.label}</code>`);
  });

  it('a corrupted repository: the verification fails the event, naming the first problems and how many more', () => {
    const problems = Array.from({ length: 5 }, (_, i) => `checksum invalid: ${FULL.label}/pg_data/base/16384/1642${i}`);
    const verify = pitrEnvelope('pitr-verify', verifyData(problems), {
      verdict: 'fail',
      exitCode: 1,
      findings: problems.map((message) => ({ rule: 'pitr/verify', severity: 'error', message })),
    });
    const e = eventOf(pitrEnvelope('pitr-backup', backupData()), verify);
    expect(e.title).toBe('Physical backup full of main failed');
    expect(e.reason).toBe(`pitr verify failed: ${problems.slice(0, 3).join('; ')}; and 2 more problems`);
    expect(e.pitr?.verification).toBe('FAILED: 5 problems (3 min 12 s)');
  });

  it('a step that stopped (no data): failure with its error, the database password masked', () => {
    const stopped = pitrEnvelope('pitr-status', null, {
      verdict: 'fail',
      exitCode: 3,
      error: { message: 'connect ECONNREFUSED for postgresql://postgres:Sup3rS3cret@db.internal:5432/astro', hint: 'Check that the server runs.' },
    });
    const e = eventOf(stopped);
    expect(e).toMatchObject({ outcome: 'failure', activity: 'pitr status', title: 'Point-in-time recovery status failed', pitr: null });
    const everything = JSON.stringify([e, slackPayload(e), summaryMarkdown(e, loaded(stopped), delivery)]);
    expect(everything).not.toContain('Sup3rS3cret');
    expect(e.reason).toBe('pitr status failed: connect ECONNREFUSED for postgresql://postgres:***@db.internal:5432/astro');
  });

  it('job summary: the event, then a compact status section with the failed checks', () => {
    const reports = loaded(statusEnvelope(failingStatus()));
    const md = summaryMarkdown(eventOf(...reports.map((r) => r.report)), reports, delivery);
    expect(md).toMatch(/^## ❌ Point-in-time recovery status of main failed\n\n> ❌ \*\*pitr status\*\* failed: WAL archiving is failing/);
    expect(md).toContain('| Stanza | <code>main</code> |');
    expect(md).toContain('### ❌ Point-in-time recovery status: stanza <code>main</code>');
    expect(md).toContain('| RPO exposure | ❌ 22 min (objective 15 min) |');
    expect(md).toContain('| Failed attempts | 57, the newest for <code>0000000100000041000000C8</code> 2 s before the check |');
    expect(md).toContain('| Newest full backup | <code>20261207-010003F</code>, 8 h 53 min before the check |');
    expect(md).toContain('- ❌ RPO exposure is 22 min, over the objective of 15 min: 22 WAL segment\\(s\\) wait to be archived.');
  });

  it('dbops report: pitr reports make a "dbops backups" document, and each command renders its own report on the terminal', async () => {
    const reports = loaded(pitrEnvelope('pitr-backup', backupData()), pitrEnvelope('pitr-verify', verifyData()), statusEnvelope(healthyStatus()));
    const md = renderMarkdown(reports);
    expect(md.startsWith('## ✅ dbops backups: all checks passed\n')).toBe(true);
    expect([...md.matchAll(/^### (.*)$/gm)].map((m) => m[1])).toEqual([
      '✅ Physical backup of stanza <code>main</code>',
      '✅ Repository verified: stanza <code>main</code>',
      '✅ Point-in-time recovery status: stanza <code>main</code>',
    ]);
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', stream: new Writable({ write: (c: Buffer, _e, done) => (lines.push(c.toString()), done()) }) });
    const text = await renderTerminal(reports, commands, log);
    expect(lines.filter((l) => l.includes('cannot render'))).toEqual([]);
    expect(text).toContain(`Backup ${FULL.label} (full) in repository 1`);
    expect(text).toContain('Repository verified in 3 min 12 s');
    expect(text).toContain('Healthy: archiving works and the exposure is within the objective.');
  });
});
