import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Ajv from 'ajv-draft-04';
import addFormats from 'ajv-formats';
import { beforeAll, describe, expect, it } from 'vitest';
import { BACKUP_REPORT_DATA } from '../../pipeline/protection/backup/report.ts';
import { createLogger } from '../../pipeline/core/logger.ts';
import { loadSpecs } from '../../pipeline/cli/registry.ts';
import { BACKUP_STEPS } from '../../pipeline/report/backup-md.ts';
import { REPORT_STEPS } from '../../pipeline/report/schema.ts';
import { renderMarkdown } from '../../pipeline/report/markdown.ts';
import { toSarif } from '../../pipeline/report/sarif.ts';
import { parseReport, readReports, type LoadedReport } from '../../pipeline/report/store.ts';
import { renderTerminal } from '../../pipeline/report/terminal.ts';
import { DATA, envelope, failedVerify, ID } from '../helpers/backup-reports.ts';

const commands = await loadSpecs();

/** `dbops report` on the backup steps' reports: Markdown sections, the terminal renderers, SARIF. */

const loaded = (...reports: Array<ReturnType<typeof envelope>>): LoadedReport[] =>
  // Through the same parser `dbops report` reads files with.
  reports.map((r) => ({ file: `reports/${r.step}.json`, report: parseReport(`reports/${r.step}.json`, JSON.stringify(r)) }));
const fullRun = () => loaded(envelope('backup-create'), failedVerify(), envelope('backup-replicate'), envelope('backup-prune'), envelope('backup-restore'));

const schemaPath = createRequire(import.meta.url).resolve('@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json');
const ajv = new Ajv.default({ allErrors: true, strict: false, unicodeRegExp: false });
addFormats.default(ajv);
const validate = ajv.compile(JSON.parse(readFileSync(schemaPath, 'utf8')) as object);

let pr: LoadedReport[];
beforeAll(async () => {
  pr = await readReports(join(import.meta.dirname, '../fixtures/reports/pr-failing'), REPORT_STEPS);
});

describe('backup reports in dbops report', () => {
  it('knows every backup report there is, in the order a scheduled run writes them', () => {
    expect([...BACKUP_STEPS].sort()).toEqual(Object.keys(BACKUP_REPORT_DATA).sort());
    for (const step of BACKUP_STEPS) expect(REPORT_STEPS).toContain(step);
  });

  it('Markdown: a backup headline and one compact section per step, in run order', () => {
    const md = renderMarkdown(fullRun());
    expect(md.startsWith('## ❌ dbops backups: failed\n')).toBe(true);
    const headings = [...md.matchAll(/^### (.*)$/gm)].map((m) => m[1]);
    expect(headings).toEqual([
      'Findings (1)',
      `✅ Backup created: <code>${ID}</code>`,
      `❌ Backup verification failed: <code>${ID}</code>, read \\(SHA-256, decryption, full archive read\\)`,
      '✅ Offsite copies from <code>backup-server</code>',
      '✅ Retention',
      `✅ Restore of <code>${ID}</code> into <code>postgresql://restore:\\*\\*\\*@\u200brestore-host:5432/astro\\_restored</code>`,
    ]);
    expect(md).toContain('1.2 GiB encrypted (dump 1.1 GiB, compression level 1) · 3 min 5 s at 6.8 MiB/s · stored on <code>backup-server</code>');
    expect(md).toContain('| <code>sha256</code> | ❌ **failed** | 40.00 s | SHA-256 of');
    expect(md).toContain('| <code>offsite</code> | s3://astrofinance-db-backups/postgres/astrofinance/ | 1 (1.2 GiB) | 1 | 0 |');
    expect(md).toContain('| <code>20261115T020001Z-daily-aaaa</code> | daily | verified | **delete** | no tier keeps it |');
    expect(md).toContain('| pg\\_restore | 1 min 35 s |');
  });

  it('Markdown: text from a report cannot break a table, open HTML or ping anyone', () => {
    const bad = failedVerify();
    (bad.data as { record: { checks: Array<{ message?: string }> } }).record.checks[0]!.message = 'a | b <img src=x onerror=alert(1)> @astrofinance/ops';
    const md = renderMarkdown(loaded(bad));
    const row = md.split('\n').find((l) => l.startsWith('| <code>sha256</code>'))!;
    expect(row).toBe('| <code>sha256</code> | ❌ **failed** | 40.00 s | a \\| b &lt;img src=x onerror=alert\\(1\\)&gt; @\u200bastrofinance/ops |');
  });

  it('Markdown: a long retention list shows the newest decisions and says how many more there are', () => {
    const prune = structuredClone(DATA['backup-prune']) as unknown as { targets: Array<{ decisions: unknown[] }> };
    const one = (i: number) => ({
      id: `2026${String(1 + Math.floor(i / 28)).padStart(2, '0')}${String(1 + (i % 28)).padStart(2, '0')}T020000Z-daily-${i.toString(16).padStart(4, '0')}`,
      tier: 'daily',
      finishedAt: `2026-${String(1 + Math.floor(i / 28)).padStart(2, '0')}-${String(1 + (i % 28)).padStart(2, '0')}T02:03:00.000Z`,
      status: 'verified',
      keep: i > 90,
      reasons: [i > 90 ? 'daily' : 'no tier keeps it'],
    });
    prune.targets[0]!.decisions = Array.from({ length: 100 }, (_, i) => one(i));
    const md = renderMarkdown(loaded(envelope('backup-prune', { data: prune })));
    expect(md).toContain('<summary>Decisions on <code>backup-server</code> (100)</summary>');
    expect(md).toContain('… and 40 older.');
    // Newest first.
    expect(md.indexOf(one(99).id)).toBeLessThan(md.indexOf(one(98).id));
    expect(md).not.toContain(one(0).id);
  });

  it('Markdown: a step that stopped has no section, only the headline that says why; mixed with PR reports the title stays', () => {
    const stopped = envelope('backup-create', {
      verdict: 'fail',
      exitCode: 3,
      data: null,
      error: { code: 'P1001', message: "Can't reach database server", hint: 'Check DATABASE_URL.' },
    });
    const md = renderMarkdown(loaded(stopped));
    expect(md).toContain("> ❌ **backup create** stopped with <code>P1001</code>: Can't reach database server<br>**Fix:** Check DATABASE\\_URL.");
    expect(md).not.toContain('### ');
    const mixed = renderMarkdown([...pr, ...loaded(envelope('backup-create'))]);
    expect(mixed.startsWith('## ❌ dbops migration checks: failed\n')).toBe(true);
    expect(mixed.indexOf('### ✅ Backup created')).toBeGreaterThan(mixed.indexOf('### ❌ Rehearsal'));
  });

  it('SARIF: findings about no file go to the notifications, so GitHub accepts the file; code findings are unchanged', () => {
    const alone = toSarif(fullRun(), '0.1.0');
    expect(validate(JSON.parse(JSON.stringify(alone)))).toBe(true);
    const run = alone.runs[0]!;
    // GitHub rejects a whole upload with a result without a location.
    expect(run.results).toEqual([]);
    expect(run.invocations![0]!.toolExecutionNotifications).toEqual([
      { level: 'error', message: { text: expect.stringMatching(/^backup\/sha256: 20261124T020003Z-daily-3f9a: sha256: SHA-256 of/) } },
    ]);
    const mixed = toSarif([...pr, ...fullRun()], '0.1.0');
    expect(validate(JSON.parse(JSON.stringify(mixed)))).toBe(true);
    expect(mixed.runs[0]!.results).toHaveLength(toSarif(pr, '0.1.0').runs[0]!.results!.length);
    for (const r of mixed.runs[0]!.results!) expect(r.locations?.length, r.ruleId).toBeGreaterThan(0);
  });

  it('terminal: every backup step module renders its own stored report (none falls back or throws)', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', stream: new Writable({ write: (c: Buffer, _e, done) => (lines.push(c.toString()), done()) }) });
    const text = await renderTerminal(fullRun(), commands, log);
    expect(lines.filter((l) => l.includes('cannot render'))).toEqual([]);
    for (const step of ['backup create', 'backup verify', 'backup replicate', 'backup prune', 'backup restore']) expect(text).toContain(`── ${step} ── `);
    expect(text).not.toContain('No findings.');
    expect(text).toContain(ID);
    expect(text.trimEnd().split('\n').at(-1)).toMatch(/^dbops report: fail \(/);
  });
});
