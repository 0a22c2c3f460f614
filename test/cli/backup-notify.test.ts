import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { BackupEvent, SlackPayload } from '../../pipeline/report/backup-event.ts';
import { CIPHERTEXT, checks, DATA, envelope, failedVerify, ID, offsite, target } from '../helpers/backup-reports.ts';
import { dbops, testEnv } from '../helpers/cli.ts';
import { startWebhook, type Hook } from '../helpers/webhook.ts';
import { failingStatus, healthyStatus, statusEnvelope } from '../helpers/pitr-reports.ts';
import { type ReportEnvelope } from '../../pipeline/core/result.ts';

/**
 * `dbops backup notify` against a webhook on loopback, with report files written the way the backup steps
 * write them (each checked against the same schemas `dbops report` validates with).
 */

const tmp = mkdtempSync(join(tmpdir(), 'dbops-notify-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string) => {
  const dir = join(tmp, `${name}-${++n}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};

// ---- a webhook --------------------------------------------------------------------------------------------

const hooks: Hook[] = [];
afterEach(async () => {
  await Promise.all(hooks.splice(0).map((h) => h.close()));
});

/** Answers with the given statuses in turn, then 200; closed after each test. */
async function startHook(statuses: number[] = []): Promise<Hook> {
  const hook = await startWebhook(statuses);
  hooks.push(hook);
  return hook;
}

/** A loopback port nothing listens on. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

// ---- reports ----------------------------------------------------------------------------------------------

function reportsDir(reports: ReportEnvelope[]): string {
  const dir = fresh('reports');
  for (const r of reports) writeFileSync(join(dir, `${r.step}.json`), JSON.stringify(r, null, 2));
  return dir;
}

const successfulRun = () => reportsDir([envelope('backup-create'), envelope('backup-verify'), envelope('backup-replicate'), envelope('backup-prune')]);

/** A policies folder of its own, with a backup target of its own: where the announcement state is kept. */
function policies(notifications: string): string {
  const dir = fresh('policies');
  const target = fresh('target');
  writeFileSync(
    join(dir, 'backups.yaml'),
    `version: 1\ntargets:\n  local: { type: directory, path: ${JSON.stringify(target)}, primary: true }\nnotifications:\n${notifications}`,
  );
  return dir;
}
const DEFAULT_POLICY = '  webhook_env: DBOPS_BACKUP_WEBHOOK\n  on: [success, failure]\n  format: slack\n';

const notify = (reports: string, env: NodeJS.ProcessEnv, extra: string[] = [], policy = DEFAULT_POLICY, policiesDir = policies(policy)) =>
  dbops(['backup', 'notify', '--reports-dir', reports, '--policies-dir', policiesDir, ...extra], testEnv(env));

// ---- Slack shape --------------------------------------------------------------------------------------

type Block = SlackPayload['blocks'][number];
const fieldsOf = (p: SlackPayload) => p.blocks.flatMap((b) => ('fields' in b && b.fields ? b.fields.map((f) => f.text) : []));
const field = (p: SlackPayload, label: string) =>
  fieldsOf(p)
    .find((f) => f.startsWith(`*${label}*\n`))
    ?.slice(label.length + 3);

/** What Slack rejects with invalid_blocks: checked on every payload the tests see. */
function expectValidSlack(p: SlackPayload): void {
  expect(typeof p.text).toBe('string');
  expect(p.text.length).toBeGreaterThan(0);
  expect(p.blocks.length).toBeGreaterThan(0);
  expect(p.blocks.length).toBeLessThanOrEqual(50);
  for (const b of p.blocks as Block[]) {
    expect(['header', 'section', 'context']).toContain(b.type);
    if (b.type === 'header') {
      expect(b.text.type).toBe('plain_text');
      expect(b.text.text.length).toBeLessThanOrEqual(150);
    }
    if (b.type === 'section') {
      expect(b.text !== undefined || (b.fields?.length ?? 0) > 0).toBe(true);
      if (b.text) expect(b.text.text.length).toBeLessThanOrEqual(3000);
      expect(b.fields?.length ?? 0).toBeLessThanOrEqual(10);
      for (const f of b.fields ?? []) expect(f.text.length).toBeLessThanOrEqual(2000);
    }
    if (b.type === 'context') expect(b.elements.length).toBeLessThanOrEqual(10);
  }
}

// ---- tests --------------------------------------------------------------------------------------------

describe('dbops backup notify', () => {
  it('sends a success event in Slack shape: tier, size, duration, throughput and targets in the fields', async () => {
    const hook = await startHook();
    const run = await notify(successfulRun(), { DBOPS_BACKUP_WEBHOOK: hook.url });
    expect(run.code).toBe(0);
    expect(hook.requests).toHaveLength(1);
    const [req] = hook.requests;
    expect(req!.method).toBe('POST');
    expect(req!.headers['content-type']).toMatch(/^application\/json/);
    const payload = req!.body as SlackPayload;
    expectValidSlack(payload);
    expect(payload.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: '✅ Backup daily of astrofinance succeeded', emoji: true } });
    expect(field(payload, 'Tier')).toBe('daily');
    expect(field(payload, 'Backup')).toBe(ID);
    expect(field(payload, 'Size')).toBe('1.2 GiB (encrypted)');
    expect(field(payload, 'Duration')).toBe('3 min 5 s');
    expect(field(payload, 'Throughput')).toBe('6.8 MiB/s');
    expect(field(payload, 'Targets')).toBe('backup-server (/srv/dbops-backups/astrofinance), offsite (s3://astrofinance-db-backups/postgres/astrofinance/)');
    expect(field(payload, 'Verification')).toBe('read: passed (sha256, decrypt, archive)');
    expect(field(payload, 'Replicate')).toBe('offsite: 1 copied (1.2 GiB), 1 already there');
    expect(field(payload, 'Prune')).toBe('backup-server: 1 kept, 1 deleted');
    expect(payload.text).toBe('✅ Backup daily of astrofinance succeeded (1.2 GiB, 3 min 5 s, 6.8 MiB/s, to backup-server, offsite)');
    expect(run.stdout).toContain(`Webhook: sent to ${hook.host} (HTTP 200)`);
    expect(run.stdout).toContain('Job summary: not in GitHub Actions');
  });

  it('a failed verification is a failure event: exit 1, and the payload says which step failed and why', async () => {
    const hook = await startHook();
    const run = await notify(reportsDir([envelope('backup-create'), failedVerify()]), { DBOPS_BACKUP_WEBHOOK: hook.url });
    expect(run.code).toBe(1);
    expect(hook.requests).toHaveLength(1);
    const payload = hook.requests[0]!.body as SlackPayload;
    expectValidSlack(payload);
    expect(payload.blocks[0]).toMatchObject({ type: 'header', text: { text: '❌ Backup daily of astrofinance failed' } });
    const why = payload.blocks[1] as { type: string; text: { text: string } };
    expect(why.type).toBe('section');
    expect(why.text.text).toBe(
      `*backup verify* failed: sha256 check failed: SHA-256 of ${ID}/backup.dump.age is ${'e'.repeat(64)}, the manifest says ${'c'.repeat(64)}`,
    );
    expect(field(payload, 'Verification')).toMatch(/^read: FAILED \(sha256: SHA-256 of/);
    expect(payload.text).toContain('backup verify failed: sha256 check failed');
    // The job log says it too, and the webhook did its job.
    expect(run.stderr).toContain('Error: backup verify failed: sha256 check failed');
    expect(run.stdout).toContain(`Webhook: sent to ${hook.host}`);
  });

  it('a step that stopped is reported with its error and fix, with secrets masked again', async () => {
    const hook = await startHook();
    const stopped = envelope('backup-create', {
      verdict: 'fail',
      exitCode: 3,
      data: null,
      // Written by an older version that did not mask it: notify must not forward it.
      error: {
        code: 'P1001',
        message: "Can't reach database server at postgresql://backup:Sup3rS3cret@db.internal:5432/astrofinance",
        hint: 'Check that the server runs and accepts connections.',
      },
    });
    const run = await notify(reportsDir([stopped]), { DBOPS_BACKUP_WEBHOOK: hook.url }, ['--json']);
    expect(run.code).toBe(1);
    const body = JSON.stringify(hook.requests[0]!.body);
    expect(body).not.toContain('Sup3rS3cret');
    expect(body).toContain("backup create* failed: Can't reach database server at postgresql://backup:***@db.internal:5432/astrofinance");
    expect(body).toContain('_Fix:_ Check that the server runs and accepts connections.');
    expect(run.all).not.toContain('Sup3rS3cret');
    const json = JSON.parse(run.stdout) as { data: { event: BackupEvent } };
    expect(json.data.event).toMatchObject({
      outcome: 'failure',
      activity: 'backup',
      tier: null,
      failedSteps: [{ step: 'backup-create', hint: 'Check that the server runs and accepts connections.' }],
    });
  });

  it('no backup report at all is a failure that says so', async () => {
    const hook = await startHook();
    const dir = reportsDir([]);
    const run = await notify(dir, { DBOPS_BACKUP_WEBHOOK: hook.url });
    expect(run.code).toBe(1);
    const payload = hook.requests[0]!.body as SlackPayload;
    expectValidSlack(payload);
    expect(payload.blocks[0]).toMatchObject({ text: { text: '❌ Backup run failed: no backup report' } });
    expect(JSON.stringify(payload)).toContain(
      `no backup report in ${dir}/ (expected one of backup-create.json, backup-verify.json, backup-replicate.json, backup-prune.json, backup-restore.json, pitr-backup.json, pitr-verify.json, pitr-expire.json, pitr-status.json)`,
    );
  });

  it('a damaged report does not silence the others: failure naming the file', async () => {
    const hook = await startHook();
    const dir = reportsDir([envelope('backup-create')]);
    writeFileSync(join(dir, 'backup-verify.json'), '{"schemaVersion": 1, "step": "backup-ver');
    const run = await notify(dir, { DBOPS_BACKUP_WEBHOOK: hook.url }, ['--json']);
    expect(run.code).toBe(1);
    const event = (JSON.parse(run.stdout) as { data: { event: BackupEvent } }).data.event;
    expect(event.backupId).toBe(ID);
    expect(event.failedSteps).toEqual([
      expect.objectContaining({ step: join(dir, 'backup-verify.json'), message: expect.stringContaining('is not valid JSON') }),
    ]);
    expect(hook.requests).toHaveLength(1);
  });

  it('on: [failure] sends nothing for a success, and still sends failures', async () => {
    const hook = await startHook();
    const policy = '  on: [failure]\n';
    const ok = await notify(successfulRun(), { DBOPS_BACKUP_WEBHOOK: hook.url }, [], policy);
    expect(ok.code).toBe(0);
    expect(hook.requests).toHaveLength(0);
    expect(ok.stdout).toContain(`Webhook: not sent to ${hook.host}: notifications.on is [failure], this is a success`);
    const bad = await notify(reportsDir([envelope('backup-create'), failedVerify()]), { DBOPS_BACKUP_WEBHOOK: hook.url }, [], policy);
    expect(bad.code).toBe(1);
    expect(hook.requests).toHaveLength(1);
  });

  it('announces a failure once while it lasts, and its recovery once, even where successes are not announced', async () => {
    const hook = await startHook();
    const policy = '  on: [failure]\n';
    const dir = policies(policy);
    const env = { DBOPS_BACKUP_WEBHOOK: hook.url };
    // pitr status runs every 15 minutes: a failing archive must not page every run.
    const first = await notify(reportsDir([statusEnvelope(failingStatus())]), env, [], policy, dir);
    expect(first.code).toBe(1);
    expect(hook.requests).toHaveLength(1);
    const again = await notify(reportsDir([statusEnvelope(failingStatus())]), env, [], policy, dir);
    expect(again.code).toBe(1);
    expect(hook.requests).toHaveLength(1);
    expect(again.stdout).toMatch(/already announced: the pitr status alert opened at \S+ is still open/);
    // Another source fails meanwhile: announced on its own.
    await notify(reportsDir([envelope('backup-create'), failedVerify()]), env, [], policy, dir);
    expect(hook.requests).toHaveLength(2);
    // The archive recovers: announced once, although on: [failure] and a passing pitr status is never news.
    const recovered = await notify(reportsDir([statusEnvelope(healthyStatus())]), env, [], policy, dir);
    expect(recovered.code).toBe(0);
    expect(hook.requests).toHaveLength(3);
    expect((hook.requests[2]!.body as SlackPayload).text).toContain('Point-in-time recovery status');
    await notify(reportsDir([statusEnvelope(healthyStatus())]), env, [], policy, dir);
    expect(hook.requests).toHaveLength(3);
    // A delivery that failed is tried again on the next run: the state moves only once it went out.
    const down = await startHook([500, 500]);
    const lost = await notify(reportsDir([statusEnvelope(failingStatus())]), { DBOPS_BACKUP_WEBHOOK: down.url }, [], policy, dir);
    expect(lost.code).toBe(1);
    const retried = await notify(reportsDir([statusEnvelope(failingStatus())]), { DBOPS_BACKUP_WEBHOOK: down.url }, [], policy, dir);
    expect(retried.code).toBe(1);
    expect(down.requests).toHaveLength(3);
  });

  it('never prints the webhook URL or its token: stdout, stderr, --json, --dry-run, logs, the job summary', async () => {
    const hook = await startHook();
    const summary = join(fresh('summary'), 'summary.md');
    writeFileSync(summary, '');
    const env = { DBOPS_BACKUP_WEBHOOK: hook.url, GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary, DBOPS_LOG_LEVEL: 'debug' };
    const runs = [
      await notify(successfulRun(), env),
      await notify(successfulRun(), env, ['--json']),
      await notify(successfulRun(), env, ['--dry-run']),
      await notify(reportsDir([failedVerify()]), env, ['--verbose']),
    ];
    for (const run of runs) {
      expect(run.all).not.toContain(hook.token);
      expect(run.all).not.toContain('/services/');
      // Nothing even tried to print it: a masked copy would show up as ***.
      expect(run.all).not.toContain('***');
      expect(run.all).toContain(hook.host);
    }
    expect(readFileSync(summary, 'utf8')).not.toContain(hook.token);
    expect(hook.requests).toHaveLength(3);
  });

  it('retries once after a 5xx and succeeds', async () => {
    const hook = await startHook([500]);
    const run = await notify(successfulRun(), { DBOPS_BACKUP_WEBHOOK: hook.url });
    expect(run.code).toBe(0);
    expect(hook.requests).toHaveLength(2);
    expect(hook.requests[1]!.body).toEqual(hook.requests[0]!.body);
    expect(run.stdout).toContain(`Webhook: sent to ${hook.host} (HTTP 200, after 2 attempts)`);
  });

  it('a webhook that keeps failing: exit 3 for a success event, exit 1 (and the problem shown) for a failure event', async () => {
    const hook = await startHook([503, 503, 503, 503]);
    const ok = await notify(successfulRun(), { DBOPS_BACKUP_WEBHOOK: hook.url });
    expect(ok.code).toBe(3);
    expect(hook.requests).toHaveLength(2);
    expect(ok.stderr).toContain(`Error: The success notification was not delivered: NOT delivered to ${hook.host}: HTTP 503: internal_error (2 attempts).`);
    expect(ok.stderr).toContain('Fix: Check that the webhook in DBOPS_BACKUP_WEBHOOK is reachable from this runner and still valid.');
    const bad = await notify(reportsDir([failedVerify()]), { DBOPS_BACKUP_WEBHOOK: hook.url });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('Error: backup verify failed: sha256 check failed');
    expect(bad.stderr).toContain(`The failure notification was not delivered: NOT delivered to ${hook.host}: HTTP 503`);
  });

  it('a 4xx is not retried: the payload or the URL is wrong, sending it again changes nothing', async () => {
    const hook = await startHook([404]);
    const run = await notify(successfulRun(), { DBOPS_BACKUP_WEBHOOK: hook.url });
    expect(run.code).toBe(3);
    expect(hook.requests).toHaveLength(1);
    expect(run.stdout).toContain(`Webhook: NOT delivered to ${hook.host}: HTTP 404: invalid_payload`);
  });

  it('an unreachable webhook: retried once, then exit 3 for a success and exit 1 for a failure, the host named', async () => {
    const port = await deadPort();
    const url = `http://127.0.0.1:${port}/services/T0/B0/${randomBytes(12).toString('hex')}`;
    const ok = await notify(successfulRun(), { DBOPS_BACKUP_WEBHOOK: url }, ['--json']);
    expect(ok.code).toBe(3);
    const webhook = (JSON.parse(ok.stdout) as { data: { webhook: Record<string, unknown> } }).data.webhook;
    expect(webhook).toMatchObject({ env: 'DBOPS_BACKUP_WEBHOOK', host: `127.0.0.1:${port}`, status: 'failed', attempts: 2, httpStatus: null });
    expect(webhook['reason']).toMatch(/ECONNREFUSED/);
    const bad = await notify(reportsDir([failedVerify()]), { DBOPS_BACKUP_WEBHOOK: url });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`Webhook: NOT delivered to 127.0.0.1:${port}`);
  });

  it('without the webhook variable: no webhook, and it says so', async () => {
    const run = await notify(successfulRun(), {});
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Webhook: no webhook: DBOPS_BACKUP_WEBHOOK is not set (the job summary is the only notification)');
  });

  it('a variable that does not hold an http(s) URL is a configuration error, without echoing the value', async () => {
    const run = await notify(successfulRun(), { DBOPS_BACKUP_WEBHOOK: 'hooks.example.com/T0/B0/not-a-url-secret' });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('DBOPS_BACKUP_WEBHOOK does not hold an http(s) URL');
    expect(run.all).not.toContain('not-a-url-secret');
  });

  it('--dry-run prints the event and the payload and sends nothing; a failure still exits 1', async () => {
    const hook = await startHook();
    const run = await notify(successfulRun(), { DBOPS_BACKUP_WEBHOOK: hook.url }, ['--dry-run']);
    expect(run.code).toBe(0);
    expect(hook.requests).toHaveLength(0);
    expect(run.stdout).toContain(`Webhook: dry run: not sent to ${hook.host}`);
    const event = JSON.parse(run.stdout.slice(run.stdout.indexOf('Event:\n') + 7, run.stdout.indexOf('\n\nWebhook payload'))) as BackupEvent;
    expect(event).toMatchObject({ type: 'dbops.backup', outcome: 'success', tier: 'daily', backupId: ID, sizeBytes: CIPHERTEXT, throughputMiBs: 6.8 });
    const payload = JSON.parse(run.stdout.slice(run.stdout.indexOf('Webhook payload (slack):\n') + 25)) as SlackPayload;
    expectValidSlack(payload);
    const failed = await notify(reportsDir([failedVerify()]), { DBOPS_BACKUP_WEBHOOK: hook.url }, ['--dry-run']);
    expect(failed.code).toBe(1);
    expect(hook.requests).toHaveLength(0);
  });

  it('format: json sends the event object itself', async () => {
    const hook = await startHook();
    const run = await notify(successfulRun(), { DBOPS_BACKUP_WEBHOOK: hook.url }, [], '  format: json\n');
    expect(run.code).toBe(0);
    const event = hook.requests[0]!.body as BackupEvent;
    expect(event).toMatchObject({
      type: 'dbops.backup',
      outcome: 'success',
      activity: 'backup',
      tier: 'daily',
      backupId: ID,
      database: 'astrofinance',
      sizeBytes: CIPHERTEXT,
      size: '1.2 GiB',
      durationMs: 185_000,
      reason: null,
      failedSteps: [],
      targets: [target, offsite],
      replicate: { copied: 1, failed: 0 },
      prune: { deleted: 1, kept: 1, dryRun: false },
    });
  });

  it('a restore test (verify --restore alone) is announced as one, with the restore time', async () => {
    const hook = await startHook();
    const data = structuredClone(DATA['backup-verify']) as unknown as { record: Record<string, unknown> };
    data.record['level'] = 'restore';
    data.record['restoreMs'] = 95_000;
    data.record['checks'] = [
      ...checks(),
      { name: 'restore', ok: true, durationMs: 95_000 },
      { name: 'manifest', ok: true, durationMs: 900, message: '2 tables match' },
      { name: 'amcheck', ok: true, durationMs: 30_000 },
    ];
    const run = await notify(reportsDir([envelope('backup-verify', { data })]), { DBOPS_BACKUP_WEBHOOK: hook.url });
    expect(run.code).toBe(0);
    const payload = hook.requests[0]!.body as SlackPayload;
    expect(payload.blocks[0]).toMatchObject({ text: { text: `✅ Restore test of ${ID} succeeded` } });
    expect(field(payload, 'Verification')).toBe('restore: passed (sha256, decrypt, archive, restore, manifest, amcheck), restored in 1 min 35 s');
    expect(field(payload, 'Size')).toBe('1.2 GiB (encrypted)');
  });

  it('inside GitHub Actions: appends the Markdown to the job summary and links the run', async () => {
    const hook = await startHook();
    const summary = join(fresh('summary'), 'step-summary.md');
    writeFileSync(summary, '## an earlier step\n\n');
    const env = {
      DBOPS_BACKUP_WEBHOOK: hook.url,
      GITHUB_ACTIONS: 'true',
      GITHUB_STEP_SUMMARY: summary,
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_REPOSITORY: 'astrofinance/dbops',
      GITHUB_RUN_ID: '987654321',
    };
    const run = await notify(successfulRun(), env);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Job summary: written');
    const md = readFileSync(summary, 'utf8');
    expect(md.startsWith('## an earlier step\n\n## ✅ Backup daily of astrofinance succeeded\n')).toBe(true);
    expect(md).toContain(`| Backup | <code>${ID}</code> |`);
    expect(md).toContain('| Size | 1.2 GiB (encrypted) |');
    expect(md).toContain(`### ✅ Backup created: <code>${ID}</code>`);
    expect(md).toContain(`### ✅ Backup verified: <code>${ID}</code>, read \\(SHA-256, decryption, full archive read\\)`);
    expect(md).toContain('### ✅ Offsite copies from <code>backup-server</code>');
    expect(md).toContain('### ✅ Retention');
    expect(md).toContain(`<sub>Notification: sent to ${hook.host} \\(HTTP 200\\)</sub>`);
    const payload = hook.requests[0]!.body as SlackPayload;
    const context = payload.blocks.at(-1) as { type: string; elements: Array<{ text: string }> };
    expect(context.type).toBe('context');
    expect(context.elements[0]!.text).toContain('<https://github.com/astrofinance/dbops/actions/runs/987654321|astrofinance/dbops run 987654321>');

    // A failure summary names the failed step first.
    const failed = await notify(reportsDir([envelope('backup-create'), failedVerify()]), env);
    expect(failed.code).toBe(1);
    const after = readFileSync(summary, 'utf8').slice(md.length);
    expect(after).toMatch(/^## ❌ Backup daily of astrofinance failed\n\n> ❌ \*\*backup verify\*\* failed: sha256 check failed/);
    expect(after).toContain('| <code>sha256</code> | ❌ **failed** |');
  });

  it('escapes what Slack would turn into links or mentions', async () => {
    const hook = await startHook();
    const stopped = envelope('backup-create', {
      verdict: 'fail',
      exitCode: 3,
      data: null,
      error: { message: 'pg_dump: error: <!channel> & <https://evil.example|click>' },
    });
    await notify(reportsDir([stopped]), { DBOPS_BACKUP_WEBHOOK: hook.url });
    const body = JSON.stringify(hook.requests[0]!.body);
    expect(body).toContain('&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;');
    expect(body).not.toContain('<!channel>');
  });
});
