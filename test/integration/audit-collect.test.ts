// `dbops audit collect` on a cluster of its own with pgaudit loaded and a jsonlog server log: a DDL and a role
// change by a named user, a read of an audited table by the application and one of a table that is not
// audited, failed logins; collecting twice adds nothing, a log rotated between collections loses nothing; one
// byte changed in a stored segment is found by `dbops evidence verify`; no parameter or password in a segment.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvidenceBundle } from '../../pipeline/evidence/index.ts';
import type { AuditCollectData } from '../../pipeline/commands/audit/collect/run.ts';
import type { AuditReviewData } from '../../pipeline/commands/audit/review/run.ts';
import { startAuditCluster, type AuditCluster } from '../helpers/audit-cluster.ts';
import { dbops, testEnv } from '../helpers/cli.ts';
import { queryUrl } from '../helpers/db.ts';
import { tempDir } from '../helpers/migrations.ts';
import { waitFor } from '../helpers/wait.ts';
import { startWebhook } from '../helpers/webhook.ts';

const ALICE_PASSWORD = 'Alice-Audit-Secret-1';
const NEW_ROLE_PASSWORD = 'Bob-New-Role-Secret-2';
const CARD = '4111111111111111';

describe('dbops audit collect', () => {
  let ac: AuditCluster;
  let home = '';
  const env = (extra: NodeJS.ProcessEnv = {}) => testEnv({ DBOPS_LOCAL_DIR: join(home, 'local'), ...extra });
  const evidenceDir = () => join(home, 'local', 'evidence', 'local');

  const as = async (user: string, password: string, statements: string[]) => {
    const url = new URL(ac.url('shop'));
    url.username = user;
    url.password = password;
    const c = new pg.Client({ connectionString: url.toString() });
    await c.connect();
    try {
      for (const s of statements) await c.query(s);
    } finally {
      await c.end();
    }
  };
  const collect = async () => {
    const r = await dbops(
      ['audit', 'collect', '--database-url', ac.url('shop'), '--log-dir', ac.logDir, '--json', '--reports-dir', join(home, 'reports')],
      env(),
    );
    return { ...r, data: r.stdout ? (JSON.parse(r.stdout) as { data: AuditCollectData }).data : undefined };
  };
  const segments = async (): Promise<EvidenceBundle[]> => {
    const names = (await readdir(evidenceDir())).filter((n) => n.endsWith('-audit-log.json')).sort();
    return Promise.all(names.map(async (n) => JSON.parse(await readFile(join(evidenceDir(), n), 'utf8')) as EvidenceBundle));
  };
  const lines = async () => (await segments()).flatMap((b) => b.auditLog!.lines);
  /** The server writes its log asynchronously: wait until a line mentioning `text` is in a log file. */
  const logged = (text: string) =>
    waitFor(`the server log to mention ${text}`, async () => {
      for (const f of await readdir(ac.logDir)) if ((await readFile(join(ac.logDir, f), 'utf8')).includes(text)) return true;
      return false;
    });

  beforeAll(async () => {
    home = await tempDir('dbops-audit-collect-');
    ac = await startAuditCluster('collect', {
      'pgaudit.log': "'role, ddl'",
      'pgaudit.role': "'auditor'",
      'pgaudit.log_parameter': 'off',
      log_connections: 'on',
    });
    await queryUrl(ac.url('postgres'), 'CREATE DATABASE shop');
    await queryUrl(
      ac.url('shop'),
      `CREATE EXTENSION pgaudit;
      CREATE ROLE auditor NOLOGIN;
      CREATE ROLE alice LOGIN CREATEROLE PASSWORD '${ALICE_PASSWORD}';
      CREATE ROLE app LOGIN PASSWORD 'app-pw';
      GRANT CREATE, USAGE ON SCHEMA public TO alice;
      CREATE TABLE cards (id int, pan text); CREATE TABLE notes (id int);
      INSERT INTO cards VALUES (1, '${CARD}');
      GRANT SELECT ON cards, notes TO app;
      GRANT SELECT ON cards TO auditor;`,
    );
  }, 60_000);
  afterAll(async () => {
    await ac?.stop();
  });

  it('stores a DDL and a role change by their user, a read of the audited table and not of the other one, and failed logins', async () => {
    await as('alice', ALICE_PASSWORD, ['CREATE TABLE alice_ledger (id int)', `CREATE ROLE bob_new LOGIN PASSWORD '${NEW_ROLE_PASSWORD}'`]);
    await as('app', 'app-pw', [`SELECT * FROM cards WHERE pan = '${CARD}'`, 'SELECT * FROM notes']);
    for (let i = 0; i < 3; i++) await expect(as('alice', 'wrong-password', [])).rejects.toThrow(/password authentication failed/);
    await logged('bob_new');

    const first = await collect();
    expect(first.code, first.stderr).toBe(0);
    expect(first.data!.segments.length).toBeGreaterThanOrEqual(1);
    const all = await lines();
    const ddl = all.find((l) => l.audit?.command === 'CREATE TABLE' && l.audit.object === 'public.alice_ledger');
    expect(ddl).toMatchObject({ user: 'alice', database: 'shop', kind: 'audit', audit: { type: 'SESSION', class: 'DDL' } });
    const role = all.find((l) => l.audit?.command === 'CREATE ROLE' && l.audit.statement?.includes('bob_new'));
    expect(role).toMatchObject({ user: 'alice', audit: { class: 'ROLE' } });
    const reads = all.filter((l) => l.audit?.type === 'OBJECT');
    expect(reads.map((l) => [l.user, l.audit!.command, l.audit!.object])).toEqual([['app', 'SELECT', 'public.cards']]);
    expect(all.some((l) => l.audit?.type === 'OBJECT' && l.audit.object === 'public.notes')).toBe(false);

    const summary = (await segments()).at(-1)!.auditLog!.summary;
    expect(summary.failedLogins).toEqual([expect.objectContaining({ user: 'alice', count: 3 })]);
    expect(summary.roleChanges.map((r) => [r.user, r.command])).toContainEqual(['alice', 'CREATE ROLE']);
    expect(summary.superuserSessions.some((s) => s.user === 'postgres')).toBe(true);

    // No parameter, password or card number in any segment, output or report.
    const stored = (await readdir(evidenceDir())).map((n) => join(evidenceDir(), n));
    const texts = [first.stdout, first.stderr, ...(await Promise.all(stored.map((p) => readFile(p, 'utf8'))))];
    for (const t of texts) for (const secret of [ALICE_PASSWORD, NEW_ROLE_PASSWORD, CARD]) expect(t).not.toContain(secret);
    // pgaudit redacts the password itself; dbops masks every literal left (the card number in the audited read).
    expect(role!.audit!.statement).toBe('CREATE ROLE bob_new LOGIN PASSWORD <REDACTED>');
    expect(reads[0]!.audit!.statement).toBe("SELECT * FROM cards WHERE pan = '…'");
  });

  it('collecting again adds nothing; a log rotated between collections loses nothing', async () => {
    const before = (await lines()).length;
    const again = await collect();
    expect(again.code, again.stderr).toBe(0);
    expect(again.data!.segments).toEqual([]);
    expect((await lines()).length).toBe(before);

    await as('alice', ALICE_PASSWORD, ['CREATE TABLE before_rotation (id int)']);
    await logged('before_rotation');
    await ac.rotate();
    await as('alice', ALICE_PASSWORD, ['CREATE TABLE after_rotation (id int)']);
    await logged('after_rotation');
    const third = await collect();
    expect(third.code, third.stderr).toBe(0);
    const objects = (await lines()).map((l) => l.audit?.object).filter(Boolean);
    expect(objects.filter((o) => o === 'public.before_rotation')).toHaveLength(1);
    expect(objects.filter((o) => o === 'public.after_rotation')).toHaveLength(1);
    expect(objects.filter((o) => o === 'public.alice_ledger')).toHaveLength(1);
    // Two files were read: the one that rotated away and the new one.
    expect(new Set((await segments()).at(-1)!.auditLog!.source.files.map((f) => f.file)).size).toBe(2);
  });

  it('without --log-dir it reads the log through the server: the same lines; a role without the privilege is told the GRANT', async () => {
    const other = join(home, 'through-server');
    const out = await dbops(
      ['audit', 'collect', '--database-url', ac.url('shop'), '--json', '--reports-dir', join(home, 'reports')],
      testEnv({ DBOPS_LOCAL_DIR: other }),
    );
    expect(out.code, out.stderr).toBe(0);
    expect((JSON.parse(out.stdout) as { data: AuditCollectData }).data.logDir).toMatch(/^server:/);
    const dir = join(other, 'evidence', 'local');
    const names = (await readdir(dir)).filter((n) => n.endsWith('-audit-log.json'));
    const viaServer = (await Promise.all(names.map(async (n) => (JSON.parse(await readFile(join(dir, n), 'utf8')) as EvidenceBundle).auditLog!.lines))).flat();
    const key = (l: { at: string; kind: string; user: string | null; audit?: { statement: string | null } | undefined }) =>
      `${l.at} ${l.kind} ${l.user} ${l.audit?.statement ?? ''}`;
    expect(viaServer.map(key).sort()).toEqual((await lines()).map(key).sort());

    await queryUrl(ac.url('postgres'), "CREATE ROLE reader LOGIN PASSWORD 'reader-pw'");
    const url = new URL(ac.url('shop'));
    url.username = 'reader';
    url.password = 'reader-pw';
    const denied = await dbops(['audit', 'collect', '--database-url', url.toString()], testEnv({ DBOPS_LOCAL_DIR: join(home, 'denied') }));
    expect(denied.code, denied.stderr).toBe(3);
    expect(denied.stderr).toContain('GRANT pg_monitor TO "reader"');
    expect(denied.stderr).not.toContain('reader-pw');
  });

  it('the monthly review counts the failed logins and names the security events; --notify posts them', async () => {
    const policies = join(home, 'policies');
    await mkdir(policies, { recursive: true });
    await writeFile(join(policies, 'audit.yaml'), JSON.stringify({ version: 1, failed_login_burst: { count: 3, within: '10min' } }));
    const month = new Date().toISOString().slice(0, 7);
    const hook = await startWebhook();
    let out;
    try {
      out = await dbops(
        ['audit', 'review', '--month', month, '--policies-dir', policies, '--reports-dir', join(home, 'reports'), '--notify', '--json'],
        env({ DBOPS_AUDIT_WEBHOOK: hook.url }),
      );
    } finally {
      await hook.close();
    }
    expect(out.code, out.stderr).toBe(0);
    const review = (JSON.parse(out.stdout) as { data: AuditReviewData }).data;
    expect(review.totals.failedLogins).toBe(3);
    expect(review.failedLogins).toEqual([expect.objectContaining({ user: 'alice', count: 3 })]);
    const kinds = review.events.map((e) => `${e.kind} ${e.user}`);
    expect(kinds).toContain('failed-login-burst alice');
    expect(kinds).toContain('role-change-outside-pipeline alice');
    expect(kinds.some((k) => k.startsWith('superuser-session'))).toBe(true);
    expect(hook.requests).toHaveLength(1);
    expect((hook.requests[0]!.body as { text: string }).text).toContain('failed-login-burst');
    const page = await readFile(review.markdown, 'utf8');
    expect(page).toContain(`# Audit review: local, ${month}`);
    expect(page).toMatch(/\| alice \| 3 \|/);
    for (const secret of [ALICE_PASSWORD, NEW_ROLE_PASSWORD, CARD, hook.token]) expect(page + out.stdout + out.stderr).not.toContain(secret);
  });

  it('one byte changed in a stored segment is found by evidence verify, naming it', async () => {
    const ok = await dbops(['evidence', 'verify', '--dir', join(home, 'local', 'evidence'), '--environment', 'local', '--json'], env());
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    const name = (await readdir(evidenceDir())).filter((n) => n.endsWith('-audit-log.json')).sort()[0]!;
    const path = join(evidenceDir(), name);
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replace('alice_ledger', 'alice_lodger'));
    const broken = await dbops(['evidence', 'verify', '--dir', join(home, 'local', 'evidence'), '--environment', 'local'], env());
    expect(broken.code).toBe(1);
    expect(broken.stdout + broken.stderr).toContain(name.replace(/\.json$/, ''));
  });
});

describe('dbops audit collect: csvlog', () => {
  let ac: AuditCluster;
  let home = '';
  const env = () => testEnv({ DBOPS_LOCAL_DIR: join(home, 'local') });

  beforeAll(async () => {
    home = await tempDir('dbops-audit-csv-');
    ac = await startAuditCluster('csv', { log_destination: "'csvlog'", 'pgaudit.log': "'ddl'", 'pgaudit.log_parameter': 'off' });
    await queryUrl(ac.url('postgres'), 'CREATE DATABASE shop');
    await queryUrl(ac.url('shop'), 'CREATE EXTENSION pgaudit');
    await mkdir(join(home, 'policies'), { recursive: true });
    await writeFile(join(home, 'policies', 'audit.yaml'), JSON.stringify({ version: 1, log_format: 'csvlog' }));
  }, 60_000);
  afterAll(async () => {
    await ac?.stop();
  });

  it('reads records that span lines and carry quotes, and never twice', async () => {
    // A statement over three lines with quotes and a comma: one csvlog record over three lines.
    await queryUrl(ac.url('shop'), `CREATE TABLE "multi, ""line"""\n(id int,\n note text DEFAULT 'a, "b"')`);
    await waitFor('the csvlog to hold the statement', async () => {
      for (const f of await readdir(ac.logDir)) if (f.endsWith('.csv') && (await readFile(join(ac.logDir, f), 'utf8')).includes('multi')) return true;
      return false;
    });
    const args = [
      'audit',
      'collect',
      '--database-url',
      ac.url('shop'),
      '--log-dir',
      ac.logDir,
      '--policies-dir',
      join(home, 'policies'),
      '--json',
      '--reports-dir',
      join(home, 'reports'),
    ];
    const first = await dbops(args, env());
    expect(first.code, first.stderr).toBe(0);
    const dir = join(home, 'local', 'evidence', 'local');
    const read = async () =>
      (
        await Promise.all(
          (await readdir(dir))
            .filter((n) => n.endsWith('-audit-log.json'))
            .map(async (n) => (JSON.parse(await readFile(join(dir, n), 'utf8')) as EvidenceBundle).auditLog!.lines),
        )
      ).flat();
    const ddl = (await read()).find((l) => l.audit?.command === 'CREATE TABLE');
    expect(ddl).toMatchObject({ user: 'postgres', database: 'shop', audit: { class: 'DDL', object: 'public."multi, ""line"""' } });
    expect(ddl!.audit!.statement).toBe(`CREATE TABLE "multi, ""line"""\n(id int,\n note text DEFAULT '…')`);
    const count = (await read()).length;
    const again = await dbops(args, env());
    expect(again.code, again.stderr).toBe(0);
    expect((await read()).length).toBe(count);
  });
});
