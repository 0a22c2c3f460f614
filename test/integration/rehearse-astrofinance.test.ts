// End to end on the synthetic AstroFinance dataset (scale 0.2: ≈ 200,000 journal lines): the repository's
// own newest migrations (--last 2), then the blocking example migration of test/fixtures. The synthetic
// template is built once per base state and reused by later rehearsals, which only clone it.
import { cp, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dbops, ROOT } from '../helpers/cli.ts';
import { adminUrl, queryUrl, urlFor } from '../helpers/db.ts';
import { tempDir } from '../helpers/migrations.ts';
import { type Finding, ReportEnvelope } from '../../pipeline/core/result.ts';
import { RehearseData } from '../../pipeline/change/rehearsal/model.ts';

const SCALE = '0.2';
const templates = new Set<string>();
afterAll(async () => {
  for (const t of templates) await queryUrl(adminUrl(), `DROP DATABASE IF EXISTS "${t}" WITH (FORCE)`);
});

async function rehearse(...args: string[]): Promise<{ code: number; all: string; data: RehearseData; findings: Finding[]; reports: string }> {
  const reports = args.includes('--reports-dir') ? args[args.indexOf('--reports-dir') + 1]! : await tempDir('dbops-reports-');
  const run = await dbops(['rehearse', '--database-url', adminUrl(), '--scale', SCALE, '--reports-dir', reports, '--json', ...args]);
  const out = JSON.parse(run.stdout) as { data: RehearseData; findings: Finding[] };
  expect(out.data, run.all).toBeDefined();
  if (out.data.snapshot.template) templates.add(out.data.snapshot.template);
  return { code: run.code, all: run.all, data: out.data, findings: out.findings, reports };
}

const exists = async (database: string) => (await queryUrl(adminUrl(), 'SELECT 1 FROM pg_database WHERE datname = $1', [database])).length > 0;

describe('rehearse on the synthetic AstroFinance dataset', () => {
  it("rehearses the repository's two newest migrations: a CONCURRENTLY index and an irreversible column drop", async () => {
    const r = await rehearse('--last', '2');
    expect(r.code, r.all).toBe(0);
    const d = r.data;
    expect(d.snapshot).toMatchObject({ source: 'synthetic', scale: 0.2, reused: false });
    expect(d.base.applied).toHaveLength(7);
    expect(d.pending).toEqual(['20260915160000_audit_event_entity_index', '20261020091500_drop_organization_legacy_erp_id']);
    const [lines] = await queryUrl<{ n: string }>(urlFor(d.snapshot.template!), 'SELECT count(*) AS n FROM "JournalLine"');
    expect(Number(lines!.n)).toBeGreaterThanOrEqual(200_000);
    expect(await exists(d.snapshot.clone!)).toBe(false);

    const [index, drop] = d.migrations;
    expect(index).toMatchObject({ status: 'applied', mode: 'split', touched: ['AuditEvent'] });
    expect(index!.locks.find((l) => l.relation === 'AuditEvent')).toMatchObject({ mode: 'ShareUpdateExclusiveLock' });
    expect(index!.locks.find((l) => l.relation === 'AuditEvent')!.rows).toBeGreaterThan(50_000);
    expect(index!.probes.map((p) => `${p.table} ${p.operation} ${p.maxBlockedMs}`).sort()).toEqual(['AuditEvent read 0', 'AuditEvent write 0']);
    expect(index!.tables.find((t) => t.relation === 'AuditEvent')).toMatchObject({ rewritten: false });
    expect(index!.tables.find((t) => t.relation === 'AuditEvent')!.bytesAfter!).toBeGreaterThan(
      index!.tables.find((t) => t.relation === 'AuditEvent')!.bytesBefore!,
    );
    expect(index!.rollback).toMatchObject({ status: 'proven', reapply: 'matched' });

    expect(drop).toMatchObject({ status: 'applied', mode: 'atomic', touched: ['Organization'] });
    expect(drop!.locks.find((l) => l.relation === 'Organization')).toMatchObject({ mode: 'AccessExclusiveLock', rows: 5 });
    expect(drop!.tables.find((t) => t.relation === 'Organization')).toMatchObject({ rewritten: false, rowsBefore: 5, rowsAfter: 5 });
    expect(drop!.rollback.status).toBe('irreversible');
    expect(r.findings.find((f) => f.rule === 'rehearse/irreversible')).toMatchObject({
      severity: 'notice',
      migration: '20261020091500_drop_organization_legacy_erp_id',
      file: 'rollbacks/20261020091500_drop_organization_legacy_erp_id.sql',
    });

    // Every named query of policies/workload.sql ran on both sides; the audit-trail query now uses the new index.
    expect(d.workload.length).toBeGreaterThanOrEqual(5);
    for (const w of d.workload)
      expect({ name: w.name, before: w.before !== null, after: w.after !== null }).toEqual({ name: w.name, before: true, after: true });
    const audit = d.workload.find((w) => w.name === 'invoice_audit_trail')!;
    expect(audit.planChanged).toBe(true);
    expect(audit.before!.shape).not.toContain('AuditEvent_organizationId_entityType_entityId_idx');
    expect(audit.after!.shape).toContain('AuditEvent_organizationId_entityType_entityId_idx');
    expect(r.findings.some((f) => f.severity === 'error')).toBe(false);

    // The report file the CLI wrote is a valid envelope whose data satisfies the rehearse schema.
    const envelope = ReportEnvelope.parse(JSON.parse(await readFile(join(r.reports, 'rehearse.json'), 'utf8')));
    expect(envelope).toMatchObject({ step: 'rehearse', exitCode: 0 });
    expect(['pass', 'warn']).toContain(envelope.verdict); // a busy machine may slow a workload query down
    expect(RehearseData.parse(envelope.data).migrations).toHaveLength(2);

    // A second rehearsal of the same base state only clones the cached template.
    const again = await rehearse('--last', '2');
    expect(again.data.snapshot).toMatchObject({ source: 'synthetic', reused: true, template: d.snapshot.template });
    expect(again.data.migrations.map((m) => m.rollback.status)).toEqual(['proven', 'irreversible']);
  });

  it('the blocking example migration (test/fixtures/blocking-migration) fails with measured errors', async () => {
    const fixture = join(ROOT, 'test', 'fixtures', 'blocking-migration');
    const migrations = await tempDir('dbops-blocking-');
    const rollbacks = await tempDir('dbops-blocking-rollbacks-');
    await cp(join(ROOT, 'prisma', 'migrations'), migrations, { recursive: true });
    await cp(join(fixture, 'migrations'), migrations, { recursive: true });
    await cp(join(ROOT, 'rollbacks'), rollbacks, { recursive: true });
    await cp(join(fixture, 'rollbacks'), rollbacks, { recursive: true });
    const name = (await readdir(join(fixture, 'migrations'), { withFileTypes: true })).find((e) => e.isDirectory())!.name;

    // dbops lint first, into the same reports folder: rehearse re-judges its static findings.
    const reports = await tempDir('dbops-reports-');
    const lint = await dbops(['lint', '--last', '1', '--migrations-dir', migrations, '--rollbacks-dir', rollbacks, '--reports-dir', reports, '--json']);
    const lintRules = (JSON.parse(lint.stdout) as { findings: Finding[] }).findings.map((f) => f.rule);
    expect(lintRules).toEqual(expect.arrayContaining(['squawk/require-concurrent-index-creation', 'squawk/adding-field-with-default']));

    // --last 3: the same base state as above (its template is reused), then the two real migrations and the example.
    const r = await rehearse('--last', '3', '--migrations-dir', migrations, '--rollbacks-dir', rollbacks, '--reports-dir', reports);
    expect(r.code, r.all).toBe(1);
    expect(r.data.snapshot.reused).toBe(true);
    expect(r.data.migrations.map((x) => x.status)).toEqual(['applied', 'applied', 'applied']);
    const m = r.data.migrations[2];
    expect(m).toMatchObject({ name, status: 'applied', touched: ['JournalLine'] });
    const journal = m!.tables.find((t) => t.relation === 'JournalLine')!;
    expect(journal.rewritten).toBe(true);
    expect(journal.rowsBefore).toBeGreaterThanOrEqual(200_000);
    expect(m!.locks.find((l) => l.relation === 'JournalLine')!.mode).toBe('AccessExclusiveLock');
    expect(Math.max(...m!.probes.filter((p) => p.table === 'JournalLine').map((p) => p.maxBlockedMs))).toBeGreaterThan(0);
    expect(m!.rollback).toMatchObject({ status: 'proven', reapply: 'matched' });

    const errors = r.findings.filter((f) => f.severity === 'error');
    expect(errors.every((f) => f.migration === name)).toBe(true);
    const rewrite = errors.find((f) => f.rule === 'rehearse/rewrite')!;
    expect(rewrite.message).toContain('rewrote "JournalLine"');
    expect(rewrite).toMatchObject({ migration: name, line: 13 });
    expect(rewrite.file).toBe(join(migrations, name, 'migration.sql'));
    // Both static findings are about "JournalLine", where budgets fired: the budget findings name them.
    expect(rewrite.message).toContain('Static check adding-field-with-default (lint warning) flagged this statement');
    const blocked = r.findings.find((f) => f.rule === 'rehearse/probe-blocked' && f.message.includes('"JournalLine"'))!;
    expect(blocked.line).toBe(10);
    expect(blocked.message).toContain('Static check require-concurrent-index-creation');
    expect(r.findings.some((f) => f.rule.startsWith('squawk/'))).toBe(false);
    // ACCESS EXCLUSIVE on a 200,000-row table and the blocked probes are at least warnings.
    expect(r.findings.find((f) => f.rule === 'rehearse/access-exclusive')?.severity).toMatch(/warning|error/);
    expect(r.findings.find((f) => f.rule === 'rehearse/probe-blocked')?.severity).toMatch(/warning|error/);
  });
});
