import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tsImport } from 'tsx/esm/api';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { commands } from '../../pipeline/registry.ts';
import { ROOT } from '../helpers/cli.ts';

/**
 * Every workflow file is parsed with GitHub's own parser (the grammar GitHub applies, kept current by
 * GitHub), then checked for the rules dbops' workflows follow.
 */

// The package imports its JSON schema without an import attribute, which Node's own ESM loader refuses;
// tsx's loader (the one dbops runs under) accepts it.
const { convertWorkflowTemplate, NoOperationTraceWriter, parseWorkflow } = (await tsImport('@actions/workflow-parser', import.meta.url)) as typeof import('@actions/workflow-parser');

const DIR = join(ROOT, '.github/workflows');
const files = readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f)).sort();

interface Step {
  uses?: string;
  run?: string;
  if?: string;
  env?: Record<string, string>;
  with?: Record<string, unknown>;
  'continue-on-error'?: boolean;
}
interface Job {
  permissions?: unknown;
  steps?: Step[];
  env?: Record<string, string>;
  if?: string;
  needs?: string | string[];
  services?: Record<string, { image: string }>;
}
interface Workflow {
  on: unknown;
  permissions?: unknown;
  concurrency?: { group: string; 'cancel-in-progress'?: boolean };
  jobs: Record<string, Job>;
}

const load = (file: string) => parse(readFileSync(join(DIR, file), 'utf8')) as Workflow;
const triggers = (w: Workflow): string[] => (typeof w.on === 'string' ? [w.on] : Array.isArray(w.on) ? (w.on as string[]) : Object.keys(w.on as object));
const steps = (w: Workflow) => Object.entries(w.jobs).flatMap(([job, j]) => (j.steps ?? []).map((s) => ({ job, ...s })));

/** Each `dbops …` invocation in a run script: the words after `dbops` up to the end of that command. */
function dbopsInvocations(script: string): string[][] {
  const found: string[][] = [];
  for (const line of script.replace(/\\\n/g, ' ').split(/\n|&&|\|\||;/)) {
    const m = /(?:^|\s)(?:npx\s+|npm\s+run\s+-s\s+|npm\s+run\s+)?dbops(?:\s+--)?\s+(.*)$/.exec(line);
    if (m) found.push(m[1]!.trim().split(/\s+/).filter(Boolean));
  }
  return found;
}

describe.each(files)('.github/workflows/%s', (file) => {
  const text = readFileSync(join(DIR, file), 'utf8');
  const workflow = load(file);

  it('parses with GitHub\'s workflow parser without errors', async () => {
    const result = parseWorkflow({ name: file, content: text }, new NoOperationTraceWriter());
    expect(result.context.errors.getErrors().map((e) => e.message)).toEqual([]);
    expect(result.value).toBeDefined();
    const template = await convertWorkflowTemplate(result.context, result.value!);
    expect(template.errors ?? []).toEqual([]);
    expect(template.jobs.length).toBe(Object.keys(workflow.jobs).length);
  });

  it('states its token permissions explicitly (top level or on every job)', () => {
    const everyJob = Object.values(workflow.jobs).every((j) => j.permissions !== undefined);
    expect(workflow.permissions !== undefined || everyJob).toBe(true);
    // `write-all` is never least privilege.
    expect(text).not.toMatch(/permissions:\s*write-all/);
  });

  it('never checks out pull request code under pull_request_target', () => {
    if (!triggers(workflow).includes('pull_request_target')) return;
    for (const s of steps(workflow).filter((s) => s.uses?.startsWith('actions/checkout'))) {
      expect(String(s.with?.['ref'] ?? '')).not.toMatch(/pull_request\.head|head_ref|refs\/pull/);
    }
  });

  it('passes untrusted pull request data through env, never inline in a script', () => {
    for (const s of steps(workflow).filter((s) => s.run)) {
      const inline = [...s.run!.matchAll(/\$\{\{([^}]*)\}\}/g)].map((m) => m[1]!);
      for (const expr of inline) expect(expr, `${s.job}: ${s.run}`).not.toMatch(/github\.event\.|github\.head_ref|inputs\./);
    }
  });

  it('runs only dbops commands and flags that exist', () => {
    for (const s of steps(workflow).filter((s) => s.run)) {
      for (const words of dbopsInvocations(s.run!)) {
        const firstFlag = words.findIndex((w) => w.startsWith('-'));
        const path = firstFlag < 0 ? words : words.slice(0, firstFlag);
        const spec = commands.find((c) => c.path.length <= path.length && c.path.every((p, i) => p === path[i]));
        expect(spec, `${s.job}: dbops ${words.join(' ')}`).toBeDefined();
        const flags = words.filter((w) => w.startsWith('--')).map((w) => w.slice(2).split('=')[0]!);
        const known = new Set([...Object.keys(spec!.inputs.shape).map((k) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)), 'verbose', 'quiet', 'help']);
        for (const flag of flags) expect(known, `${s.job}: dbops ${spec!.path.join(' ')} --${flag}`).toContain(flag);
      }
    }
  });
});

describe('the checks themselves', () => {
  it('the parser reports what GitHub would reject', () => {
    const bad = 'on: pull_request\npermissions:\n  id-tokens: write\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    timeout-minutes: abc\n    steps:\n      - run: echo hi\n';
    const errors = parseWorkflow({ name: 'bad.yml', content: bad }, new NoOperationTraceWriter()).context.errors.getErrors().map((e) => e.message);
    expect(errors.join('\n')).toMatch(/id-tokens/);
    expect(errors.join('\n')).toMatch(/abc/);
  });

  it('dbopsInvocations finds each dbops command in a script, whichever way it is started', () => {
    expect(dbopsInvocations('npm ci\nnpx dbops lint --base "origin/$BASE_REF" && npm run -s dbops -- rollbacks check\necho dbops')).toEqual([
      ['lint', '--base', '"origin/$BASE_REF"'],
      ['rollbacks', 'check'],
    ]);
  });
});

describe('migration-pr.yml', () => {
  const w = load('migration-pr.yml');
  const all = steps(w);
  const runs = (pattern: RegExp) => all.filter((s) => s.run && pattern.test(s.run));

  it('runs on pull requests that touch migrations, rollbacks or policies, never pull_request_target', () => {
    expect(triggers(w)).toEqual(['pull_request']);
    const on = w.on as { pull_request: { paths: string[]; types: string[] } };
    expect(on.pull_request.paths).toEqual(['prisma/**', 'rollbacks/**', 'policies/**']);
    // A label can allow destructive statements, so adding or removing one must re-run lint.
    expect(on.pull_request.types).toEqual(expect.arrayContaining(['opened', 'synchronize', 'labeled', 'unlabeled']));
  });

  it('has one concurrency group per pull request that cancels the previous run', () => {
    expect(w.concurrency?.group).toMatch(/\$\{\{\s*github\.event\.pull_request\.number\s*\}\}/);
    expect(w.concurrency?.['cancel-in-progress']).toBe(true);
  });

  it('grants no permission by default and write scopes only to the job that publishes', () => {
    expect(w.permissions).toEqual({});
    for (const [name, job] of Object.entries(w.jobs)) {
      const perms = job.permissions as Record<string, string>;
      expect(perms['contents'], name).toBe('read');
      const writes = Object.entries(perms).filter(([, v]) => v === 'write').map(([k]) => k).sort();
      expect(writes, name).toEqual(name === 'report' ? ['pull-requests', 'security-events'] : []);
    }
  });

  it('checks out the full history where the base ref is compared, on Node 24', () => {
    for (const name of ['lint', 'rehearse']) {
      const checkout = w.jobs[name]!.steps!.find((s) => s.uses?.startsWith('actions/checkout'));
      expect(checkout?.with?.['fetch-depth'], name).toBe(0);
    }
    for (const s of all.filter((s) => s.uses?.startsWith('actions/setup-node'))) expect(s.with?.['node-version']).toBe(24);
    expect(runs(/apt-get install .*postgresql postgresql-contrib/).length).toBeGreaterThan(0);
    expect(runs(/^npm ci$/).length).toBe(Object.keys(w.jobs).length);
  });

  it('lints with the base ref and the PR labels from env, and keeps going so the report still runs', () => {
    const [lint] = runs(/dbops lint/);
    expect(lint?.run).toBe('npx dbops lint --base "origin/$BASE_REF" --labels "$PR_LABELS"');
    expect(lint?.env?.['PR_LABELS']).toBe("${{ join(github.event.pull_request.labels.*.name, ',') }}");
    expect(lint?.['continue-on-error']).toBe(true);
  });

  it('rehearses on the staging snapshot only for same-repository PRs with the secret, else on the service container', () => {
    const job = w.jobs['rehearse']!;
    const mapped = job.env?.['SNAPSHOT_URL'] ?? '';
    expect(mapped).toContain('secrets.STAGING_SNAPSHOT_URL');
    expect(mapped).toContain('github.event.pull_request.head.repo.full_name == github.repository');
    // The secret appears nowhere else: not in a script, not in another job.
    expect(readFileSync(join(DIR, 'migration-pr.yml'), 'utf8').match(/secrets\.\w/g)).toHaveLength(1);
    const [staging] = runs(/--snapshot-url/);
    const [synthetic] = runs(/dbops rehearse .*--database-url/);
    expect(staging?.if).toBe("env.SNAPSHOT_URL != ''");
    expect(synthetic?.if).toBe("env.SNAPSHOT_URL == ''");
    expect(job.services?.['postgres']?.image).toMatch(/^postgres:/);
  });

  it('reports even after failures, publishes to GitHub, then uploads reports/ and the SARIF file', () => {
    const job = w.jobs['report']!;
    expect(job.if).toBe('always()');
    expect(job.needs).toEqual(['lint', 'rehearse']);
    const names = job.steps!.map((s) => s.uses?.split('@')[0] ?? s.run);
    const report = names.indexOf('npx dbops report --github');
    expect(report).toBeGreaterThan(names.indexOf('actions/download-artifact'));
    expect(job.steps![report]!.env?.['GITHUB_TOKEN']).toBe('${{ github.token }}');
    const upload = job.steps!.find((s) => s.uses?.startsWith('actions/upload-artifact'));
    const sarif = job.steps!.find((s) => s.uses?.startsWith('github/codeql-action/upload-sarif'));
    expect(upload?.with?.['path']).toBe('reports/');
    expect(upload?.if).toBe('always()');
    expect(sarif?.with?.['sarif_file']).toBe('reports/dbops.sarif');
    expect(sarif?.if).toMatch(/^always\(\)/);
    expect(names.indexOf('github/codeql-action/upload-sarif')).toBeGreaterThan(report);
  });
});

// ---- backup.yml and restore-test.yml ------------------------------------------------------------------

const { Evaluator, Lexer, Parser, data: exprData } = await import('@actions/expressions');

/** Evaluates a workflow expression (`${{ … }}` or a bare `if:`) with GitHub's own expression evaluator. */
function evaluate(expression: string, context: { github: Record<string, unknown>; inputs?: Record<string, unknown> }): unknown {
  const source = expression.trim().replace(/^\$\{\{\s*([\s\S]*?)\s*\}\}$/, '$1');
  const lexed = new Lexer(source).lex();
  const tree = new Parser(lexed.tokens, ['github', 'inputs'], []).parse();
  const ctx = JSON.parse(JSON.stringify({ github: context.github, inputs: context.inputs ?? {} }), exprData.reviver) as InstanceType<typeof exprData.Dictionary>;
  return JSON.parse(JSON.stringify(new Evaluator(tree, ctx).evaluate(), exprData.replacer)) as unknown;
}
const onSchedule = (cron: string) => ({ github: { event_name: 'schedule', event: { schedule: cron } } });
const onDispatch = (inputs: Record<string, string>) => ({ github: { event_name: 'workflow_dispatch', event: { inputs } }, inputs });

/** Whether a cron of plain fields (numbers or `*`, as these files use) fires at a UTC minute. */
function fires(cron: string, at: Date): boolean {
  const fields = cron.split(' ');
  expect(fields, cron).toHaveLength(5);
  for (const f of fields) expect(f, `${cron}: only numbers and * are evaluated here`).toMatch(/^(\*|\d+)$/);
  const [minute, hour, day, month, weekday] = fields as [string, string, string, string, string];
  const is = (field: string, value: number) => field === '*' || Number(field) === value;
  return is(minute, at.getUTCMinutes()) && is(hour, at.getUTCHours()) && is(day, at.getUTCDate()) && is(month, at.getUTCMonth() + 1) && is(weekday, at.getUTCDay());
}

interface ScheduledWorkflow extends Workflow {
  on: { schedule: Array<{ cron: string; timezone?: string }>; workflow_dispatch?: { inputs: Record<string, { type: string; options: string[]; default: string }> } };
}
type FullJob = Job & { 'runs-on'?: string | string[]; concurrency?: unknown; environment?: string; steps: Array<Step & { name?: string }> };
const jobsOf = (w: Workflow) => Object.entries(w.jobs) as Array<[string, FullJob]>;
const GROUP = { group: 'dbops-backups', 'cancel-in-progress': false, queue: 'max' };
const BACKUP_FILES = ['backup.yml', 'restore-test.yml'] as const;
const AWS = 'aws-actions/configure-aws-credentials';

describe('backup.yml', () => {
  const w = load('backup.yml') as ScheduledWorkflow;
  const job = w.jobs['backup'] as FullJob;
  const tierOf = (context: Parameters<typeof evaluate>[1]) => evaluate(job.env!['TIER']!, context);
  const CRONS = { daily: '0 2 * * *', weekly: '0 3 * * 0', monthly: '0 4 1 * *' };

  it('schedules the three tiers in UTC: daily 02:00, weekly Sunday 03:00, monthly the 1st 04:00', () => {
    expect(w.on.schedule.map((s) => s.cron)).toEqual(Object.values(CRONS));
    // No `timezone:`: a local zone's DST switch would skip or double a run on the weekly job's Sunday.
    for (const s of w.on.schedule) expect(s.timezone).toBeUndefined();
    const at = (iso: string) => new Date(iso);
    // 2026-11-24 is a Tuesday: only the daily job.
    expect(w.on.schedule.filter((s) => fires(s.cron, at('2026-11-24T02:00:00Z'))).map((s) => s.cron)).toEqual([CRONS.daily]);
    expect(w.on.schedule.some((s) => fires(s.cron, at('2026-11-24T03:00:00Z')))).toBe(false);
    // 2026-11-29 is a Sunday; 2026-12-01 a Tuesday, the 1st.
    expect(fires(CRONS.weekly, at('2026-11-29T03:00:00Z'))).toBe(true);
    expect(fires(CRONS.weekly, at('2026-11-28T03:00:00Z'))).toBe(false);
    expect(fires(CRONS.monthly, at('2026-12-01T04:00:00Z'))).toBe(true);
    expect(fires(CRONS.monthly, at('2026-12-02T04:00:00Z'))).toBe(false);
  });

  it('derives the tier from the schedule that fired: each cron maps to its own tier, on a Sunday the 1st too', () => {
    for (const [tier, cron] of Object.entries(CRONS)) expect(tierOf(onSchedule(cron)), cron).toBe(tier);
    // 2026-11-01 is a Sunday and the 1st: all three fire, one hour apart, each a run of its own tier.
    const sundayFirst = [2, 3, 4].map((h) => new Date(Date.UTC(2026, 10, 1, h)));
    const fired = sundayFirst.flatMap((t) => w.on.schedule.filter((s) => fires(s.cron, t)).map((s) => tierOf(onSchedule(s.cron))));
    expect(fired).toEqual(['daily', 'weekly', 'monthly']);
    // A schedule the expression does not know gives no tier, and the first step refuses to run without one.
    expect(tierOf(onSchedule('30 2 * * *'))).toBe('');
    expect(job.steps[0]!.run).toMatch(/^if \[ -z "\$TIER" \]; then\n[\s\S]*exit 1\n/);
  });

  it('a manual run takes the tier from the workflow_dispatch input', () => {
    const input = w.on.workflow_dispatch!.inputs['tier']!;
    expect(input.type).toBe('choice');
    expect(input.options).toEqual(['daily', 'weekly', 'monthly']);
    for (const tier of input.options) expect(tierOf(onDispatch({ tier }))).toBe(tier);
  });

  it('creates, verifies, replicates and prunes in that order, then always notifies and uploads the reports', () => {
    const commands = job.steps.flatMap((s) => (s.run ? dbopsInvocations(s.run).map((words) => words.join(' ')) : []));
    expect(commands).toEqual(['backup create --tier "$TIER"', 'backup verify --latest --tier "$TIER"', 'backup replicate', 'backup prune', 'backup notify']);
    const index = (pattern: RegExp) => job.steps.findIndex((s) => pattern.test(s.run ?? s.uses ?? ''));
    const notify = job.steps[index(/dbops backup notify/)]!;
    expect(notify.if).toBe('always()');
    const upload = job.steps.find((s) => s.uses?.startsWith('actions/upload-artifact'));
    expect(upload?.if).toBe('always()');
    expect(upload?.with?.['path']).toBe('reports/');
    expect(index(/^actions\/upload-artifact/)).toBeGreaterThan(index(/dbops backup notify/));
    // AWS credentials exist only for the steps that reach the offsite target.
    expect(index(new RegExp(`^${AWS}`))).toBeGreaterThan(index(/dbops backup verify/));
    expect(index(new RegExp(`^${AWS}`))).toBeLessThan(index(/dbops backup replicate/));
    // The other steps stop at the first failure: nothing is replicated or pruned after a failed verification.
    for (const s of job.steps.filter((s) => /dbops backup (verify|replicate|prune)/.test(s.run ?? ''))) expect(s.if).toBeUndefined();
  });

  it('runs on the backup server that mounts the primary target, with PostgreSQL client tools and age', () => {
    expect(job['runs-on']).toEqual(['self-hosted', 'backup-server']);
    const policy = parse(readFileSync(join(ROOT, 'policies/backups.yaml'), 'utf8')) as { targets: Record<string, { type: string; path?: string; primary?: boolean }> };
    expect(policy.targets['backup-server']).toMatchObject({ type: 'directory', primary: true, path: '/srv/dbops-backups/astrofinance' });
    expect(job.steps.some((s) => /apt-get install .*postgresql-client.* age/.test(s.run ?? ''))).toBe(true);
  });
});

describe('restore-test.yml', () => {
  const w = load('restore-test.yml') as ScheduledWorkflow;
  const jobs = Object.fromEntries(jobsOf(w));
  const WEEKLY = '0 5 * * 1';
  const MONTHLY = '0 6 2 * *';
  const selected = (context: Parameters<typeof evaluate>[1]) =>
    jobsOf(w)
      .filter(([, j]) => evaluate(j.if!, context) === true)
      .map(([name]) => name);

  it('restores the newest daily weekly, and the oldest monthly and the newest offsite copy monthly', () => {
    expect(w.on.schedule.map((s) => s.cron)).toEqual([WEEKLY, MONTHLY]);
    for (const s of w.on.schedule) expect(s.timezone).toBeUndefined();
    const verify = (name: string) => jobs[name]!.steps.flatMap((s) => (s.run ? dbopsInvocations(s.run).map((words) => words.join(' ')) : []));
    expect(verify('newest-daily')).toEqual(['backup verify --latest --tier daily --restore', 'backup notify']);
    expect(verify('oldest-monthly')).toEqual(['backup verify --oldest --tier monthly --restore', 'backup notify']);
    expect(verify('offsite')).toEqual(['backup verify --latest --target offsite --restore', 'backup notify']);
    for (const [name, job] of jobsOf(w)) {
      expect(job['runs-on'], name).toEqual(['self-hosted', 'backup-server']);
      expect(job.steps.find((s) => s.run?.includes('dbops backup notify'))?.if, name).toBe('always()');
      expect(job.steps.find((s) => s.uses?.startsWith('actions/upload-artifact'))?.if, name).toBe('always()');
      // A throwaway cluster is started for the restore: server binaries, not only the client.
      expect(job.steps.some((s) => /apt-get install .*postgresql postgresql-contrib age/.test(s.run ?? '')), name).toBe(true);
    }
  });

  it('each schedule, and each manual choice, runs exactly its own restore tests', () => {
    expect(selected(onSchedule(WEEKLY))).toEqual(['newest-daily']);
    expect(selected(onSchedule(MONTHLY))).toEqual(['oldest-monthly', 'offsite']);
    expect(w.on.workflow_dispatch!.inputs['test']!.options).toEqual(['weekly', 'monthly']);
    expect(selected(onDispatch({ test: 'weekly' }))).toEqual(['newest-daily']);
    expect(selected(onDispatch({ test: 'monthly' }))).toEqual(['oldest-monthly', 'offsite']);
  });
});

describe.each(BACKUP_FILES)('%s: serialized, least privilege, secrets only in env', (file) => {
  const text = readFileSync(join(DIR, file), 'utf8');
  const w = load(file);

  it('every job is in the one concurrency group shared with the other file, queued and never cancelled', () => {
    const groups = BACKUP_FILES.flatMap((f) => jobsOf(load(f)).map(([, j]) => j.concurrency));
    for (const g of groups) expect(g).toEqual(GROUP);
    // Not at the workflow level as well: a job waiting for its own run's group would deadlock.
    expect(w.concurrency).toBeUndefined();
  });

  it('grants nothing by default; jobs read contents, and only a job that assumes the AWS role gets id-token: write', () => {
    expect(w.permissions).toEqual({});
    for (const [name, job] of jobsOf(w)) {
      const perms = job.permissions as Record<string, string>;
      const usesOidc = job.steps.some((s) => s.uses?.startsWith(AWS));
      expect(perms, name).toEqual(usesOidc ? { contents: 'read', 'id-token': 'write' } : { contents: 'read' });
    }
  });

  it('hands each secret, through env, only to the step that needs it', () => {
    const expected: Record<string, string[]> =
      file === 'backup.yml'
        ? { create: ['DATABASE_URL=PRODUCTION_DATABASE_URL'], verify: ['DBOPS_BACKUP_IDENTITY=DBOPS_BACKUP_IDENTITY'], notify: ['DBOPS_BACKUP_WEBHOOK=DBOPS_BACKUP_WEBHOOK'] }
        : { 'restore test': ['DBOPS_BACKUP_IDENTITY=DBOPS_BACKUP_IDENTITY'], notify: ['DBOPS_BACKUP_WEBHOOK=DBOPS_BACKUP_WEBHOOK'] };
    let seen = 0;
    for (const [name, job] of jobsOf(w)) {
      expect(JSON.stringify(job.env ?? {}), name).not.toMatch(/secrets\./);
      for (const s of job.steps) {
        expect(s.run ?? '', `${name}: ${s.name}`).not.toMatch(/secrets\./);
        expect(JSON.stringify(s.with ?? {}), `${name}: ${s.name}`).not.toMatch(/secrets\./);
        const given = Object.entries(s.env ?? {}).flatMap(([k, v]) => [...v.matchAll(/secrets\.(\w+)/g)].map((m) => `${k}=${m[1]}`));
        expect(given, `${name}: ${s.name}`).toEqual(expected[s.name ?? ''] ?? []);
        seen += given.length;
      }
    }
    // Nothing else in the file names a secret (a comment or another key would have to be looked at).
    expect(text.match(/secrets\.\w/g)?.length).toBe(seen);
    // The production database is reached only by the backup itself; restore tests never see it.
    if (file === 'restore-test.yml') expect(text).not.toContain('PRODUCTION_DATABASE_URL');
  });
});
