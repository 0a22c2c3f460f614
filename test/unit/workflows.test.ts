import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { tsImport } from 'tsx/esm/api';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Cron } from 'croner';
import { loadSpecs } from '../../pipeline/cli/registry.ts';
import { BackupsPolicy, PitrPolicy } from '../../pipeline/policy/backups.ts';
import { MaintenancePolicy } from '../../pipeline/policy/maintenance.ts';
import { isOpen } from '../../pipeline/core/window.ts';
import { ROOT } from '../helpers/cli.ts';

const commands = await loadSpecs();

/**
 * Every workflow file is parsed with GitHub's own parser (the grammar GitHub applies, kept current by
 * GitHub), then checked for the rules dbops' workflows follow.
 */

// The package imports its JSON schema without an import attribute, which Node's own ESM loader refuses;
// tsx's loader (the one dbops runs under) accepts it.
const { convertWorkflowTemplate, NoOperationTraceWriter, parseWorkflow } = (await tsImport(
  '@actions/workflow-parser',
  import.meta.url,
)) as typeof import('@actions/workflow-parser');

const DIR = join(ROOT, '.github/workflows');
const files = readdirSync(DIR)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();

interface Step {
  name?: string;
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
    const m = /(?:^|\s)(?:npx\s+|npm\s+run\s+-s\s+|npm\s+run\s+|\.\/)?dbops(?:\s+--)?\s+(.*)$/.exec(line);
    if (m) found.push(m[1]!.trim().split(/\s+/).filter(Boolean));
  }
  return found;
}

/**
 * The expressions of a run script that put text a user controls into the script itself, where the runner
 * substitutes it before the shell parses the script (script injection): the event payload (PR titles, labels,
 * comments, `github.event.inputs`), the head branch name and workflow_dispatch inputs. Through `env:` the
 * shell sees them as data.
 */
function inlineUntrusted(script: string): string[] {
  return [...script.matchAll(/\$\{\{([\s\S]*?)\}\}/g)].map((m) => m[1]!.trim()).filter((expr) => /github\.event\b|github\.head_ref|\binputs\./.test(expr));
}

describe.each(files)('.github/workflows/%s', (file) => {
  const text = readFileSync(join(DIR, file), 'utf8');
  const workflow = load(file);

  it("parses with GitHub's workflow parser without errors", async () => {
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

  it('passes untrusted data (event payload, head ref, dispatch inputs) through env, never inline in a script', () => {
    for (const s of steps(workflow).filter((s) => s.run)) expect(inlineUntrusted(s.run!), `${s.job}: ${s.run}`).toEqual([]);
  });

  it('starts dbops as ./dbops: npx would add about 0.9 s to every step', () => {
    for (const s of steps(workflow).filter((s) => s.run && /\bdbops\s/.test(s.run))) {
      for (const line of s.run!.split('\n').filter((l) => /(^|\s)(npx\s+|npm\s+run\s+(-s\s+)?|\.\/)?dbops\s/.test(l)))
        expect(line, s.job).toMatch(/(^|\s)\.\/dbops\s/);
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
    const bad =
      'on: pull_request\npermissions:\n  id-tokens: write\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    timeout-minutes: abc\n    steps:\n      - run: echo hi\n';
    const errors = parseWorkflow({ name: 'bad.yml', content: bad }, new NoOperationTraceWriter())
      .context.errors.getErrors()
      .map((e) => e.message);
    expect(errors.join('\n')).toMatch(/id-tokens/);
    expect(errors.join('\n')).toMatch(/abc/);
  });

  it('inlineUntrusted flags dispatch inputs and event data written into a script, not the same data in env', () => {
    expect(inlineUntrusted('npx dbops deploy --outside-window "${{ inputs.outside_window }}"')).toEqual(['inputs.outside_window']);
    expect(inlineUntrusted('echo "${{github.event.pull_request.title}}" ${{ toJSON(github.event) }}')).toEqual([
      'github.event.pull_request.title',
      'toJSON(github.event)',
    ]);
    expect(inlineUntrusted('git log "${{ github.head_ref }}"')).toHaveLength(1);
    expect(inlineUntrusted('npx dbops deploy --outside-window "$OUTSIDE_WINDOW" # ${{ github.event_name }} ${{ github.run_id }}')).toEqual([]);
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
      const writes = Object.entries(perms)
        .filter(([, v]) => v === 'write')
        .map(([k]) => k)
        .sort();
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
    expect(lint?.run).toBe('./dbops lint --base "origin/$BASE_REF" --labels "$PR_LABELS"');
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
    const report = names.indexOf('./dbops report --github');
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
  const ctx = JSON.parse(JSON.stringify({ github: context.github, inputs: context.inputs ?? {} }), exprData.reviver) as InstanceType<
    typeof exprData.Dictionary
  >;
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
  return (
    is(minute, at.getUTCMinutes()) && is(hour, at.getUTCHours()) && is(day, at.getUTCDate()) && is(month, at.getUTCMonth() + 1) && is(weekday, at.getUTCDay())
  );
}

interface ScheduledWorkflow extends Workflow {
  on: {
    schedule: Array<{ cron: string; timezone?: string }>;
    workflow_dispatch?: { inputs: Record<string, { type: string; options: string[]; default: string }> };
  };
}
type FullJob = Job & {
  'runs-on'?: string | string[];
  concurrency?: unknown;
  environment?: string | { name: string; deployment?: boolean };
  steps: Array<Step & { name?: string }>;
};
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
    // Evidence retention runs with the backup prune: the bundles live on the same target, in the same group.
    expect(commands).toEqual([
      'backup create --tier "$TIER"',
      'backup verify --latest --tier "$TIER"',
      'backup replicate',
      'backup prune',
      'evidence prune',
      'backup notify',
    ]);
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
    for (const s of job.steps.filter((s) => /dbops (backup (verify|replicate|prune)|evidence prune)/.test(s.run ?? ''))) expect(s.if).toBeUndefined();
  });

  it('runs on the backup server that mounts the primary target, with PostgreSQL client tools and age', () => {
    expect(job['runs-on']).toEqual(['self-hosted', 'backup-server']);
    const policy = parse(readFileSync(join(ROOT, 'policies/backups.yaml'), 'utf8')) as {
      targets: Record<string, { type: string; path?: string; primary?: boolean }>;
    };
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
      // `backup notify` announces backup reports; the masked snapshot's failure is the failed run itself.
      if (name !== 'masked-snapshot') expect(job.steps.find((s) => s.run?.includes('dbops backup notify'))?.if, name).toBe('always()');
      expect(job.steps.find((s) => s.uses?.startsWith('actions/upload-artifact'))?.if, name).toBe('always()');
      // A throwaway cluster is started for the restore: server binaries, not only the client.
      expect(
        job.steps.some((s) => /apt-get install .*postgresql postgresql-contrib age/.test(s.run ?? '')),
        name,
      ).toBe(true);
    }
  });

  it('each schedule, and each manual choice, runs exactly its own restore tests', () => {
    expect(selected(onSchedule(WEEKLY))).toEqual(['newest-daily', 'masked-snapshot']);
    expect(selected(onSchedule(MONTHLY))).toEqual(['oldest-monthly', 'offsite']);
    expect(w.on.workflow_dispatch!.inputs['test']!.options).toEqual(['weekly', 'monthly']);
    expect(selected(onDispatch({ test: 'weekly' }))).toEqual(['newest-daily', 'masked-snapshot']);
    expect(selected(onDispatch({ test: 'monthly' }))).toEqual(['oldest-monthly', 'offsite']);
  });

  it('refreshes the masked snapshot weekly after a passing restore test, into the staging server, the seed from a secret', () => {
    const job = jobs['masked-snapshot']!;
    // Only after the weekly restore test passed (a failed or skipped need skips it).
    expect(job.needs).toBe('newest-daily');
    expect(job.if).toBe(jobs['newest-daily']!.if);
    expect(invocationsOf(job)).toEqual(['snapshot mask --latest --tier daily', 'report --github']);
    const mask = stepOf(job, /dbops snapshot mask/)!;
    expect(mask.if).toBeUndefined();
    // The seed and the backup identity are secrets; the template's server is the one snapshot.location names.
    expect(mask.env?.['DBOPS_MASKING_SEED']).toBe('${{ secrets.DBOPS_MASKING_SEED }}');
    expect(mask.env?.['DBOPS_BACKUP_IDENTITY']).toBe('${{ secrets.DBOPS_BACKUP_IDENTITY }}');
    const masking = parse(readFileSync(join(ROOT, 'policies/masking.yaml'), 'utf8')) as { seed_env?: string; snapshot: { location: string } };
    expect(masking.seed_env ?? 'DBOPS_MASKING_SEED').toBe('DBOPS_MASKING_SEED');
    const urlEnv = environmentsPolicy.environments[masking.snapshot.location]!.database_url_env;
    expect(mask.env?.[urlEnv]).toBe(`\${{ secrets.${urlEnv} }}`);
    // That URL is a secret of the staging environment (deploy-staging.yml): the job declares it, without a deployment record.
    expect(job.environment).toEqual({ name: masking.snapshot.location, deployment: false });
    expect(job.permissions).toEqual({ contents: 'read' });
    expect(job.concurrency).toEqual(GROUP);
    const upload = stepOf(job, /^actions\/upload-artifact/);
    expect(upload?.if).toBe('always()');
    expect(upload?.with?.['path']).toBe('reports/');
    expect(indexOf(job, /^actions\/upload-artifact/)).toBeGreaterThan(indexOf(job, /dbops snapshot mask/));
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
        ? {
            create: ['DATABASE_URL=PRODUCTION_DATABASE_URL'],
            verify: ['DBOPS_BACKUP_IDENTITY=DBOPS_BACKUP_IDENTITY'],
            notify: ['DBOPS_BACKUP_WEBHOOK=DBOPS_BACKUP_WEBHOOK'],
          }
        : {
            'restore test': ['DBOPS_BACKUP_IDENTITY=DBOPS_BACKUP_IDENTITY'],
            notify: ['DBOPS_BACKUP_WEBHOOK=DBOPS_BACKUP_WEBHOOK'],
            // The masked snapshot: the backup's identity, the masking seed, and the server the template goes to.
            mask: ['DBOPS_BACKUP_IDENTITY=DBOPS_BACKUP_IDENTITY', 'DBOPS_MASKING_SEED=DBOPS_MASKING_SEED', 'STAGING_DATABASE_URL=STAGING_DATABASE_URL'],
          };
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

// ---- deploy-staging.yml and deploy-production.yml -----------------------------------------------------

interface EnvironmentsYaml {
  environments: Record<string, { database_url_env: string; github_environment?: string; staging_first?: string }>;
}
const environmentsPolicy = parse(readFileSync(join(ROOT, 'policies/environments.yaml'), 'utf8')) as EnvironmentsYaml;
const environmentOf = (job: FullJob) => (typeof job.environment === 'string' ? job.environment : job.environment?.name);
const invocationsOf = (job: FullJob) => job.steps.flatMap((s) => (s.run ? dbopsInvocations(s.run).map((words) => words.join(' ')) : []));
const stepOf = (job: FullJob, pattern: RegExp) => job.steps.find((s) => pattern.test(s.run ?? s.uses ?? ''));
const indexOf = (job: FullJob, pattern: RegExp) => job.steps.findIndex((s) => pattern.test(s.run ?? s.uses ?? ''));
const deployGroup = (environment: string) => ({ group: `dbops-deploy-${environment}`, 'cancel-in-progress': false, queue: 'max' });
/** `K=SECRET` for each env entry of a step that maps a secret, e.g. `DATABASE_URL=STAGING_DATABASE_URL`. */
const secretsOf = (s: Step) => Object.entries(s.env ?? {}).flatMap(([k, v]) => [...String(v).matchAll(/secrets\.(\w+)/g)].map((m) => `${k}=${m[1]}`));

/** No secret in the job's env nor in a step's run or with; each step's env holds exactly the secrets `expected` names. */
function expectSecretsOnly(job: { env?: Record<string, string>; steps: Step[] }, expected: (s: Step) => string[]): void {
  expect(JSON.stringify(job.env ?? {})).not.toMatch(/secrets\./);
  for (const s of job.steps) {
    expect(s.run ?? '', s.name).not.toMatch(/secrets\./);
    expect(JSON.stringify(s.with ?? {}), s.name).not.toMatch(/secrets\./);
    expect(secretsOf(s).sort(), s.name).toEqual([...expected(s)].sort());
  }
}

/** reports/ uploaded after every run, failed ones too, for 90 days, after the job summary. */
function expectReportsKept(job: FullJob): void {
  const upload = stepOf(job, /^actions\/upload-artifact/)!;
  expect(upload.uses).toBe('actions/upload-artifact@v4');
  expect(upload.if).toBe('always()');
  expect(upload.with).toMatchObject({ path: 'reports/', 'retention-days': 90 });
  expect(indexOf(job, /^actions\/upload-artifact/)).toBeGreaterThan(indexOf(job, /dbops report/));
}

/**
 * Runs a step's script the way the runner does (bash -e -o pipefail) with `./dbops` replaced by a script that
 * prints its arguments, and returns them: what the real command line would have been, word for word.
 */
function argvOf(script: string, env: Record<string, string>, cwd: string): string[] {
  writeFileSync(join(cwd, 'dbops'), '#!/bin/sh\nprintf \'%s\\0\' dbops "$@"\n', { mode: 0o755 });
  const result = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', script], {
    cwd,
    // Only PATH (node first, for scripts that call it) and the step's env: nothing of this process leaks in.
    env: { PATH: `${dirname(process.execPath)}:${process.env['PATH'] ?? ''}`, ...env },
    encoding: 'utf8',
  });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return result.stdout.split('\0').slice(0, -1);
}

describe.each(files)('.github/workflows/%s: deploys', (file) => {
  const w = load(file);

  it("each job that gates, deploys or rolls back an environment declares its GitHub environment and queues in that environment's group", () => {
    for (const [name, job] of jobsOf(w)) {
      for (const words of invocationsOf(job)
        .map((c) => c.split(' '))
        .filter((words) => ['gate', 'deploy', 'rollback'].includes(words[0]!))) {
        const environment = words[words.indexOf('--environment') + 1];
        expect(environment, `${name}: dbops ${words.join(' ')} names its environment literally`).toMatch(/^[a-z][a-z0-9-]*$/);
        const policy = environmentsPolicy.environments[environment!];
        expect(policy, `${name}: ${environment} is in policies/environments.yaml`).toBeDefined();
        // The approvals the gate counts are those of the environment this job waited for.
        expect(environmentOf(job), name).toBe(policy!.github_environment ?? environment);
        expect(typeof job.environment === 'object' ? job.environment.deployment : undefined, name).toBeUndefined();
        expect(job.concurrency, name).toEqual(deployGroup(environment!));
      }
    }
  });

  it('grants id-token: write only to jobs that declare an environment (the cloud role trusts that subject)', () => {
    expect(JSON.stringify(w.permissions ?? {})).not.toContain('id-token');
    for (const [name, job] of jobsOf(w)) {
      if ((job.permissions as Record<string, string> | undefined)?.['id-token'] === 'write') expect(environmentOf(job), name).toBeDefined();
    }
  });

  it('never combines a queue of waiting runs with cancelling them', () => {
    for (const c of [w.concurrency, ...jobsOf(w).map(([, j]) => j.concurrency)]) {
      if (c && typeof c === 'object' && (c as { queue?: string }).queue === 'max')
        expect((c as { 'cancel-in-progress'?: boolean })['cancel-in-progress']).toBe(false);
    }
  });
});

describe('deploy-staging.yml', () => {
  const w = load('deploy-staging.yml');
  const text = readFileSync(join(DIR, 'deploy-staging.yml'), 'utf8');
  const backup = w.jobs['backup'] as FullJob;
  const deploy = w.jobs['deploy'] as FullJob;

  it('runs when a push to main changes migrations or rollbacks, and by hand', () => {
    expect(triggers(w)).toEqual(['push', 'workflow_dispatch']);
    const on = w.on as { push: { branches: string[]; paths: string[] } };
    expect(on.push.branches).toEqual(['main']);
    expect(on.push.paths).toEqual(['prisma/migrations/**', 'rollbacks/**']);
  });

  it('backs staging up in the dbops-backups group and verifies that backup, then deploys in its own queue', () => {
    expect(Object.keys(w.jobs)).toEqual(['backup', 'deploy']);
    // The same group as every job of backup.yml and restore-test.yml: the dump never overlaps a copy or prune.
    expect(backup.concurrency).toEqual(GROUP);
    expect(w.concurrency).toBeUndefined();
    // The staging secret without a second staging deployment record.
    expect(backup.environment).toEqual({ name: 'staging', deployment: false });
    expect(invocationsOf(backup)).toEqual(['backup create --tier pre-deploy --note "deploy-staging run $GITHUB_RUN_ID"', 'backup verify "$id"']);
    expect(deploy.needs).toBe('backup');
    expect(deploy.environment).toBe('staging');
    expect(deploy.concurrency).toEqual(deployGroup('staging'));
    expect(invocationsOf(deploy)).toEqual(['deploy --environment staging --wait', 'report --github']);
    for (const job of [backup, deploy]) expect(job['runs-on']).toEqual(['self-hosted', 'backup-server']);
    expect(stepOf(backup, /apt-get install .*postgresql-client/)).toBeDefined();
  });

  it('verifies the backup create just took, by the id in its report', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbops-workflow-'));
    try {
      mkdirSync(join(dir, 'reports'));
      writeFileSync(
        join(dir, 'reports/backup-create.json'),
        JSON.stringify({ step: 'backup-create', data: { manifest: { id: '20261124T101500Z-pre-deploy-7c2e' } } }),
      );
      expect(argvOf(stepOf(backup, /dbops backup verify/)!.run!, {}, dir)).toEqual(['dbops', 'backup', 'verify', '20261124T101500Z-pre-deploy-7c2e']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('grants nothing by default; the deploy job reads what the evidence records, nobody gets an OIDC token', () => {
    expect(w.permissions).toEqual({});
    expect(backup.permissions).toEqual({ contents: 'read' });
    expect(deploy.permissions).toEqual({ contents: 'read', actions: 'read', 'pull-requests': 'read' });
    expect(text).not.toContain('id-token');
    expect(stepOf(deploy, /^actions\/checkout/)?.with?.['fetch-depth']).toBe(0);
  });

  it('hands each secret, through env, only to the step that needs it, under the name the policy reads', () => {
    const urlEnv = environmentsPolicy.environments['staging']!.database_url_env;
    const expected: Record<string, string[]> = {
      create: ['DATABASE_URL=STAGING_DATABASE_URL'],
      verify: ['DBOPS_BACKUP_IDENTITY=DBOPS_BACKUP_IDENTITY'],
      deploy: [`${urlEnv}=STAGING_DATABASE_URL`],
    };
    let seen = 0;
    for (const [name, job] of jobsOf(w)) {
      for (const s of job.steps) {
        expect(`${s.run ?? ''}${JSON.stringify(s.with ?? {})}`, `${name}: ${s.name}`).not.toMatch(/secrets\./);
        expect(secretsOf(s), `${name}: ${s.name}`).toEqual(expected[s.name ?? ''] ?? []);
        seen += secretsOf(s).length;
      }
    }
    expect(text.match(/secrets\.\w/g)?.length).toBe(seen);
    expect(stepOf(deploy, /dbops deploy/)?.env?.['GITHUB_TOKEN']).toBe('${{ github.token }}');
  });

  it('always writes the job summary and uploads reports/ (with the evidence bundle) for 90 days', () => {
    for (const job of [backup, deploy]) {
      const upload = stepOf(job, /^actions\/upload-artifact/);
      expect(upload?.if).toBe('always()');
      expect(upload?.with).toMatchObject({ path: 'reports/', 'retention-days': 90 });
    }
    expect(stepOf(deploy, /dbops report/)?.if).toMatch(/^always\(\)/);
    expect(indexOf(deploy, /^actions\/upload-artifact/)).toBeGreaterThan(indexOf(deploy, /dbops deploy/));
  });
});

describe('deploy-production.yml', () => {
  const w = load('deploy-production.yml') as Workflow & {
    on: { workflow_dispatch: { inputs: Record<string, { type: string; default?: unknown; required?: boolean }> } };
  };
  const text = readFileSync(join(DIR, 'deploy-production.yml'), 'utf8');
  const preflight = w.jobs['preflight'] as FullJob;
  const deploy = w.jobs['deploy'] as FullJob;
  const deployStep = stepOf(deploy, /dbops deploy/)!;

  /** The deploy command line for these dispatch inputs: the step's env evaluated by GitHub's evaluator, its script run by bash. */
  const commandLine = (inputs: { take_backup: boolean; outside_window: string; wait: boolean; rollback_to?: string }, cwd: string) => {
    inputs = { rollback_to: '', ...inputs };
    const env = Object.fromEntries(
      Object.entries(deployStep.env!).map(([k, v]) => [
        k,
        /\binputs\./.test(v) ? String(evaluate(v, { github: { event_name: 'workflow_dispatch' }, inputs })) : 'set',
      ]),
    );
    return argvOf(deployStep.run!, env, cwd);
  };

  it('is started by hand only, with the backup, change-window and wait choices as inputs', () => {
    expect(triggers(w)).toEqual(['workflow_dispatch']);
    const inputs = w.on.workflow_dispatch.inputs;
    expect(Object.keys(inputs)).toEqual(['take_backup', 'outside_window', 'wait', 'rollback_to']);
    expect(inputs['rollback_to']).toMatchObject({ type: 'string', required: false, default: '' });
    expect(inputs['take_backup']).toMatchObject({ type: 'boolean', default: true });
    expect(inputs['outside_window']).toMatchObject({ type: 'string', required: false, default: '' });
    expect(inputs['wait']).toMatchObject({ type: 'boolean', default: false });
  });

  it('the approved job itself gates and deploys, queued in the production group, after a preflight without secrets', () => {
    expect(Object.keys(w.jobs)).toEqual(['preflight', 'deploy']);
    expect(deploy.environment).toBe('production');
    expect(deploy.concurrency).toEqual(deployGroup('production'));
    expect(w.concurrency).toBeUndefined();
    expect(deploy.needs).toBe('preflight');
    expect(invocationsOf(deploy)).toEqual([
      'rollback --environment production --to "$ROLLBACK_TO" "${flags[@]}"',
      'deploy --environment production "${flags[@]}"',
      'report --github',
    ]);
    // No gate job: a job of its own would need an approval of its own, and the approvals it judges would not
    // be those of the job that deploys.
    expect(
      jobsOf(w)
        .filter(([, j]) => j.environment !== undefined)
        .map(([name]) => name),
    ).toEqual(['deploy']);
    expect(invocationsOf(preflight)).toEqual(['rollbacks check']);
    expect(JSON.stringify(preflight)).not.toMatch(/secrets\.|vars\./);
    expect(deploy['runs-on']).toEqual(['self-hosted', 'backup-server']);
    expect(stepOf(deploy, /apt-get install .*postgresql-client/)).toBeDefined();
    expect(stepOf(deploy, /^actions\/checkout/)?.with).toMatchObject({ 'fetch-depth': 0, 'persist-credentials': false });
  });

  it('grants nothing by default, the preflight read access, and the deploy job exactly what it reads plus the OIDC token', () => {
    expect(w.permissions).toEqual({});
    expect(preflight.permissions).toEqual({ contents: 'read' });
    expect(deploy.permissions).toEqual({ contents: 'read', actions: 'read', 'pull-requests': 'read', 'id-token': 'write' });
  });

  it('assumes the cloud role through OIDC only in the approved job, before the deploy, when the role is configured', () => {
    const aws = jobsOf(w).flatMap(([name, j]) => j.steps.filter((s) => s.uses?.startsWith(AWS)).map((s) => ({ name, s })));
    expect(aws.map((a) => a.name)).toEqual(['deploy']);
    const { s } = aws[0]!;
    expect(s.if).toBe("vars.DBOPS_DEPLOY_AWS_ROLE_ARN != ''");
    expect(s.with?.['role-to-assume']).toBe('${{ vars.DBOPS_DEPLOY_AWS_ROLE_ARN }}');
    expect(indexOf(deploy, new RegExp(`^${AWS}`))).toBeLessThan(indexOf(deploy, /dbops deploy/));
    // The trust policy the comment documents binds the role to this environment's OIDC subject.
    expect(text).toContain('"token.actions.githubusercontent.com:sub": "repo:OWNER/REPO:environment:production"');
  });

  it('hands the database URLs the policy names, the backup identity and the token to the deploy step only', () => {
    const production = environmentsPolicy.environments['production']!;
    const staging = environmentsPolicy.environments[production.staging_first!]!;
    expect(secretsOf(deployStep).sort()).toEqual(
      [
        `${production.database_url_env}=PRODUCTION_DATABASE_URL`,
        `${staging.database_url_env}=STAGING_DATABASE_URL`,
        'DBOPS_BACKUP_IDENTITY=DBOPS_BACKUP_IDENTITY',
      ].sort(),
    );
    expect(deployStep.env?.['GITHUB_TOKEN']).toBe('${{ github.token }}');
    expect(text.match(/secrets\.\w/g)?.length).toBe(secretsOf(deployStep).length);
    for (const s of deploy.steps) expect(`${s.run ?? ''}${JSON.stringify(s.with ?? {})}`).not.toMatch(/secrets\./);
  });

  it('turns the inputs into deploy flags, a hostile reason staying one argument that runs nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbops-workflow-'));
    try {
      const base = ['dbops', 'deploy', '--environment', 'production'];
      expect(commandLine({ take_backup: true, outside_window: '', wait: false }, dir)).toEqual([...base, '--take-backup']);
      expect(commandLine({ take_backup: false, outside_window: '', wait: false }, dir)).toEqual(base);
      const reason = `INC-4711: month-end "close"; touch pwned $(touch pwned) \`touch pwned\` #`;
      expect(commandLine({ take_backup: true, outside_window: reason, wait: true }, dir)).toEqual([
        ...base,
        '--take-backup',
        '--wait',
        '--outside-window',
        reason,
      ]);
      // rollback_to: the same approved job rolls back instead, with the same flags; a hostile name stays one argument.
      const to = `20260915160000_x"; touch pwned #`;
      expect(commandLine({ take_backup: true, outside_window: '', wait: false, rollback_to: to }, dir)).toEqual([
        'dbops',
        'rollback',
        '--environment',
        'production',
        '--to',
        to,
        '--take-backup',
      ]);
      expect(readdirSync(dir)).toEqual(['dbops']); // the stand-in for ./dbops: nothing else was created
      // Every flag the script can add is one the command it runs has (rollback's flags are deploy's plus --to).
      const flagsOf = (name: string) =>
        Object.keys(commands.find((c) => c.path.join(' ') === name)!.inputs.shape).map((k) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));
      const [rollbackLine, deployLine] = deployStep.run!.split('\n').filter((l) => /\.\/dbops/.test(l));
      for (const flag of deployLine!.match(/--[a-z][a-z-]*/g)!) expect(flagsOf('deploy')).toContain(flag.slice(2));
      for (const flag of rollbackLine!.match(/--[a-z][a-z-]*/g)!) expect(flagsOf('rollback')).toContain(flag.slice(2));
      for (const flag of deployStep.run!.match(/flags\+=\((--[a-z-]+)/g)!.map((f) => f.slice('flags+=('.length))) {
        expect(flagsOf('deploy')).toContain(flag.slice(2));
        expect(flagsOf('rollback')).toContain(flag.slice(2));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('always writes the job summary and uploads reports/ (with the evidence bundle) for 90 days', () => {
    const upload = stepOf(deploy, /^actions\/upload-artifact/);
    expect(upload?.if).toBe('always()');
    expect(upload?.with).toMatchObject({ path: 'reports/', 'retention-days': 90 });
    expect(stepOf(deploy, /dbops report/)?.if).toMatch(/^always\(\)/);
    expect(indexOf(deploy, /dbops report/)).toBeGreaterThan(indexOf(deploy, /dbops deploy/));
    expect(indexOf(deploy, /^actions\/upload-artifact/)).toBeGreaterThan(indexOf(deploy, /dbops deploy/));
  });
});

describe('evidence-review.yml', () => {
  const w = load('evidence-review.yml') as Workflow & { on: { schedule: Array<{ cron: string }> } };
  const job = w.jobs['reconcile'] as FullJob;
  const reconcileStep = stepOf(job, /dbops evidence reconcile/)!;
  const reviewStep = stepOf(job, /dbops audit review/)!;
  const checkStep = stepOf(job, /dbops audit check/)!;
  const driftStep = stepOf(job, /dbops drift/)!;

  it('monthly and by hand: verifies every chain, then reconciles production, checks its drift, reviews its audit trail and checks its audit configuration, each even when a step before failed', () => {
    expect(triggers(w).sort()).toEqual(['schedule', 'workflow_dispatch']);
    expect(w.on.schedule.map((s) => s.cron)).toEqual(['17 6 1 * *']);
    expect(invocationsOf(job)).toEqual([
      'evidence verify',
      'evidence reconcile --environment production',
      'drift --environment production',
      'audit review --environment production --notify',
      'audit check --environment production',
      'report --github',
    ]);
    for (const s of [reconcileStep, driftStep, reviewStep, checkStep]) expect(s.if, s.name).toBe('always()');
    expect(stepOf(job, /^actions\/upload-artifact/)?.if).toBe('always()');
    expect(stepOf(job, /dbops report/)?.if).toMatch(/^always\(\)/);
    expect(indexOf(job, /dbops report/)).toBeGreaterThan(indexOf(job, /dbops audit check/));
  });

  it('reviews the previous month word for word, on the 1st after the last day was collected', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbops-evidence-review-yml-'));
    try {
      expect(argvOf(reviewStep.run!, {}, dir)).toEqual(['dbops', 'audit', 'review', '--environment', 'production', '--notify']);
      expect(argvOf(checkStep.run!, {}, dir)).toEqual(['dbops', 'audit', 'check', '--environment', 'production']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // Without --month the review is of the previous month (UTC): on the 1st, the month that just ended.
    expect(reviewStep.run).not.toMatch(/--month/);
    const [cron] = w.on.schedule.map((s) => s.cron);
    expect(cronFires(cron!, new Date('2027-01-01T06:17:00Z'))).toBe(true);
    expect(cronFires(cron!, new Date('2027-01-02T06:17:00Z'))).toBe(false);
    // The day's collection (audit-collect.yml) fires earlier that day: the last day of the month is stored.
    const collect = (load('audit-collect.yml') as ScheduledWorkflow).on.schedule.map((s) => s.cron);
    const firstCollection = Array.from({ length: 6 * 60 + 17 }, (_, m) => new Date(Date.parse('2027-01-01T00:00:00Z') + m * 60_000)).find((at) =>
      collect.some((c) => cronFires(c, at)),
    );
    expect(firstCollection).toBeDefined();
  });

  it('reads only: contents read; the production URL to the reconcile, drift and check steps, the audit webhook to the review step', async () => {
    expect(w.permissions).toEqual({});
    expect(job.permissions).toEqual({ contents: 'read' });
    const production = environmentsPolicy.environments['production']!;
    const { AuditPolicy } = await import('../../pipeline/policy/audit.ts');
    const webhook = AuditPolicy.parse(parse(readFileSync(join(ROOT, 'policies/audit.yaml'), 'utf8'))).notifications.webhook_env;
    expect(webhook).toBe('DBOPS_AUDIT_WEBHOOK');
    expect(secretsOf(reconcileStep)).toEqual([`${production.database_url_env}=PRODUCTION_DATABASE_URL`]);
    expect(secretsOf(checkStep)).toEqual([`${production.database_url_env}=PRODUCTION_DATABASE_URL`]);
    expect(secretsOf(driftStep)).toEqual([`${production.database_url_env}=PRODUCTION_DATABASE_URL`]);
    // The review reads the evidence chain only: the webhook, no database URL.
    expect(secretsOf(reviewStep)).toEqual([`${webhook}=DBOPS_AUDIT_WEBHOOK`]);
    for (const s of job.steps.filter((x) => ![reconcileStep, driftStep, reviewStep, checkStep].includes(x))) expect(JSON.stringify(s)).not.toMatch(/secrets\./);
    expect(JSON.stringify(job.env ?? {})).not.toMatch(/secrets\./);
  });
});

/** Whether any cron (ranges, lists, steps: croner, which ORs day and weekday as cron and GitHub do) fires at a UTC minute. */
const cronFires = (cron: string, at: Date): boolean =>
  new Cron(cron, { timezone: 'UTC', paused: true }).nextRun(new Date(at.getTime() - 60_000))?.getTime() === at.getTime();

describe('pitr.yml', () => {
  const w = load('pitr.yml') as ScheduledWorkflow;
  const backup = w.jobs['backup'] as FullJob;
  const status = w.jobs['status'] as FullJob;
  const policy = BackupsPolicy.parse(parse(readFileSync(join(ROOT, 'policies/backups.yaml'), 'utf8')));
  const schedule = (policy.pitr ?? PitrPolicy.parse({})).schedule;
  const typeOf = (context: Parameters<typeof evaluate>[1]) => evaluate(backup.env!['TYPE']!, context);
  const runs = (job: FullJob, context: Parameters<typeof evaluate>[1]) => evaluate(`\${{ ${job.if} }}`, context);

  it('schedules full, diff and incr exactly as pitr.schedule says, and the status every 15 minutes, in UTC', () => {
    expect(w.on.schedule.map((s) => s.cron)).toEqual([schedule.full, schedule.diff, schedule.incr, '*/15 * * * *']);
    for (const s of w.on.schedule) expect(s.timezone).toBeUndefined();
    // 2026-11-29 is a Sunday: the full backup, not the diff; Monday 2026-11-30 the diff.
    expect(cronFires(schedule.full, new Date('2026-11-29T01:00:00Z'))).toBe(true);
    expect(cronFires(schedule.diff, new Date('2026-11-29T01:00:00Z'))).toBe(false);
    expect(cronFires(schedule.diff, new Date('2026-11-30T01:00:00Z'))).toBe(true);
    expect(cronFires('*/15 * * * *', new Date('2026-11-30T01:45:00Z'))).toBe(true);
  });

  it('maps each backup schedule to its type and the 15-minute one to the status job alone; a manual run chooses', () => {
    for (const type of ['full', 'diff', 'incr'] as const) {
      expect(typeOf(onSchedule(schedule[type]))).toBe(type);
      expect(runs(backup, onSchedule(schedule[type]))).toBe(true);
      expect(runs(status, onSchedule(schedule[type]))).toBe(false);
    }
    expect(runs(backup, onSchedule('*/15 * * * *'))).toBe(false);
    expect(runs(status, onSchedule('*/15 * * * *'))).toBe(true);
    expect(typeOf(onSchedule('0 5 * * *'))).toBe('');
    expect(backup.steps[0]!.run).toMatch(/^if \[ -z "\$TYPE" \]; then\n[\s\S]*exit 1\n/);
    expect(typeOf(onDispatch({ type: 'full' }))).toBe('full');
    expect(runs(backup, onDispatch({ type: 'status' }))).toBe(false);
    expect(runs(status, onDispatch({ type: 'status' }))).toBe(true);
  });

  it('backs up then verifies in the backups queue; the status never waits behind a backup', () => {
    expect(backup.steps.flatMap((s) => (s.run ? dbopsInvocations(s.run).map((x) => x.join(' ')) : []))).toEqual([
      'pitr backup --type "$TYPE"',
      'pitr verify',
      'pitr expire',
      'backup notify',
    ]);
    expect(backup.concurrency).toEqual(GROUP);
    expect(status.steps.flatMap((s) => (s.run ? dbopsInvocations(s.run).map((x) => x.join(' ')) : []))).toEqual(['pitr status', 'backup notify']);
    expect(status.concurrency).toEqual({ group: 'dbops-pitr-status', 'cancel-in-progress': true });
    for (const job of [backup, status]) {
      // The repository host (pitr.database_host), which reaches the database through pgBackRest's TLS server.
      expect(job['runs-on']).toEqual(['self-hosted', 'backup-server']);
      expect(job.permissions).toEqual({ contents: 'read' });
      expect(job.steps.some((s) => /apt-get install .*pgbackrest/.test(s.run ?? ''))).toBe(true);
    }
  });
});

describe('pitr.yml: announced on the backup channel', () => {
  const w = load('pitr.yml') as ScheduledWorkflow;

  it.each(['backup', 'status'])('%s: always notifies after its steps, then uploads the reports; each secret only to its step', (name) => {
    const job = w.jobs[name] as FullJob;
    const index = (pattern: RegExp) => job.steps.findIndex((s) => pattern.test(s.run ?? s.uses ?? ''));
    const notify = job.steps[index(/dbops backup notify/)]!;
    expect(notify.if).toBe('always()');
    expect(index(/dbops backup notify/)).toBeGreaterThan(index(/dbops pitr (verify|status)/));
    const upload = job.steps[index(/^actions\/upload-artifact/)]!;
    expect(upload.if).toBe('always()');
    expect(upload.with?.['path']).toBe('reports/');
    expect(index(/^actions\/upload-artifact/)).toBeGreaterThan(index(/dbops backup notify/));
    // The pitr steps write their reports into the folder notify reads: both at the default.
    for (const s of job.steps.filter((s) => /dbops /.test(s.run ?? ''))) expect(s.run).not.toContain('--reports-dir');
    const expected: Record<string, string[]> = {
      backup: ['DATABASE_URL=PRODUCTION_DATABASE_URL'],
      verify: ['DATABASE_URL=PRODUCTION_DATABASE_URL'],
      expire: ['DATABASE_URL=PRODUCTION_DATABASE_URL'],
      status: ['DATABASE_URL=PRODUCTION_DATABASE_URL'],
      notify: ['DBOPS_BACKUP_WEBHOOK=DBOPS_BACKUP_WEBHOOK'],
    };
    for (const s of job.steps) {
      expect(s.run ?? '', `${name}: ${s.name}`).not.toMatch(/secrets\./);
      expect(secretsOf(s), `${name}: ${s.name}`).toEqual(expected[s.name ?? ''] ?? []);
    }
  });
});

describe('dr-drill.yml', () => {
  const w = load('dr-drill.yml') as ScheduledWorkflow;
  const [cron] = w.on.schedule.map((s) => s.cron);
  const day = w.jobs['day'] as FullJob;

  it('runs on the first Monday of January, April, July and October (the schedule fires days 1–7, the job picks the Monday)', () => {
    const mondays: string[] = [];
    for (let t = Date.UTC(2026, 0, 1, 6); t < Date.UTC(2028, 0, 1); t += 86_400_000) {
      const at = new Date(t);
      if (cronFires(cron!, at) && at.getUTCDay() === 1) mondays.push(at.toISOString().slice(0, 10));
    }
    expect(mondays).toEqual(['2026-01-05', '2026-04-06', '2026-07-06', '2026-10-05', '2027-01-04', '2027-04-05', '2027-07-05', '2027-10-04']);
    // Seven days fire each quarter: the day job lets only the Monday through.
    expect(day.steps[0]!.run).toContain('date -u +%u');
    for (const job of ['scratch', 'production']) expect(w.jobs[job]!.if).toBe("needs.day.outputs.run == 'true'");
  });

  it('drills every scenario on scratch clusters and verifies their chain, and restores production from its repository in the backups queue', () => {
    const scratch = w.jobs['scratch'] as FullJob;
    const script = scratch.steps.find((s) => s.run?.includes('dr drill'))!.run!;
    expect(dbopsInvocations(script).map((x) => x.join(' '))).toEqual([
      'dr drill --scenario "$s"',
      'evidence verify --dir .dbops/local/evidence --environment local',
    ]);
    expect(script).toContain('for s in lost-primary bad-migration dropped-table promote-replica');
    expect(scratch.steps.find((s) => s.uses?.startsWith('actions/upload-artifact'))?.with?.['path']).toBe('.dbops/local/evidence/');
    const production = w.jobs['production'] as FullJob;
    expect(production.concurrency).toEqual(GROUP);
    expect(production.steps.flatMap((s) => (s.run ? dbopsInvocations(s.run).map((x) => x.join(' ')) : []))).toEqual(['dr drill --environment production']);
  });
});

describe('maintenance.yml', () => {
  const w = load('maintenance.yml') as ScheduledWorkflow;
  const job = w.jobs['maintain'] as FullJob;
  const scopeOf = (context: Parameters<typeof evaluate>[1]) => evaluate(job.env!['SCOPE']!, context);
  const CRONS = { tables: '0 5 * * 0', indexes: '30 5 1 * *' };
  const backupCrons = (load('backup.yml') as ScheduledWorkflow).on.schedule.map((s) => s.cron);

  it('weekly tables on Sunday 05:00 and monthly indexes on the 1st at 05:30, in UTC, after the backups of those days', () => {
    expect(w.on.schedule.map((s) => s.cron)).toEqual(Object.values(CRONS));
    for (const s of w.on.schedule) expect(s.timezone).toBeUndefined();
    // 2026-11-29 is a Sunday: the weekly VACUUM only; 2026-12-01 a Tuesday: the monthly rebuild only.
    expect(w.on.schedule.filter((s) => cronFires(s.cron, new Date('2026-11-29T05:00:00Z'))).map((s) => s.cron)).toEqual([CRONS.tables]);
    expect(w.on.schedule.filter((s) => cronFires(s.cron, new Date('2026-12-01T05:30:00Z'))).map((s) => s.cron)).toEqual([CRONS.indexes]);
    expect(cronFires(CRONS.tables, new Date('2026-11-30T05:00:00Z'))).toBe(false);
    // Every backup of those days starts earlier: daily 02:00, weekly Sunday 03:00, monthly the 1st 04:00.
    for (const day of ['2026-11-29', '2026-12-01', '2026-11-01']) {
      const hours = Array.from({ length: 24 }, (_, h) => h).filter((h) =>
        backupCrons.some((c) => cronFires(c, new Date(`${day}T${String(h).padStart(2, '0')}:00:00Z`))),
      );
      expect(hours.length, day).toBeGreaterThan(0);
      expect(Math.max(...hours), day).toBeLessThan(5);
    }
  });

  it('maps each schedule to its scope, refuses one it does not map, and a manual run chooses', () => {
    expect(scopeOf(onSchedule(CRONS.tables))).toBe('tables');
    expect(scopeOf(onSchedule(CRONS.indexes))).toBe('indexes');
    expect(scopeOf(onSchedule('0 5 * * *'))).toBe('');
    expect(job.steps[0]!.run).toMatch(/^if \[ -z "\$SCOPE" \]; then\n[\s\S]*exit 1\n/);
    expect(w.on.workflow_dispatch!.inputs['scope']).toMatchObject({ type: 'choice', options: ['tables', 'indexes', 'all'], default: 'tables' });
    for (const scope of ['tables', 'indexes', 'all']) expect(scopeOf(onDispatch({ scope }))).toBe(scope);
  });

  it('runs `maintain run --environment production --only <scope>` (all: without --only), the scope through env', () => {
    const step = stepOf(job, /dbops maintain run/)!;
    expect(invocationsOf(job)).toEqual(['maintain run --environment production', 'maintain run --environment production --only "$SCOPE"']);
    expect(inlineUntrusted(step.run!)).toEqual([]);
    const dir = mkdtempSync(join(tmpdir(), 'dbops-maintenance-yml-'));
    try {
      const prod = ['dbops', 'maintain', 'run', '--environment', 'production'];
      for (const [scope, argv] of [
        ['tables', [...prod, '--only', 'tables']],
        ['indexes', [...prod, '--only', 'indexes']],
        ['all', prod],
      ] as const)
        expect(argvOf(step.run!, { SCOPE: scope }, dir), scope).toEqual(argv);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("queues in the backups' group on the backup server, reads contents only, and hands the production URL to the maintain step alone", () => {
    expect(job.concurrency).toEqual(GROUP);
    expect(job['runs-on']).toEqual(['self-hosted', 'backup-server']);
    expect(environmentOf(job)).toBe('backups');
    expect(w.permissions).toEqual({});
    expect(job.permissions).toEqual({ contents: 'read' });
    for (const s of job.steps) {
      expect(s.run ?? '', s.name).not.toMatch(/secrets\./);
      expect(secretsOf(s), s.name).toEqual(s.name === 'maintain' ? ['PRODUCTION_DATABASE_URL=PRODUCTION_DATABASE_URL'] : []);
    }
    // The variable `--environment production` reads is the one environments.yaml names.
    expect(environmentsPolicy.environments['production']!.database_url_env).toBe('PRODUCTION_DATABASE_URL');
    expect(JSON.stringify(job.env)).not.toMatch(/secrets\./);
  });

  it("every scheduled run starts inside production's maintenance window, in winter and in summer time", () => {
    const policy = MaintenancePolicy.parse(parse(readFileSync(join(ROOT, 'policies/maintenance.yaml'), 'utf8')));
    const windows = policy.windows['production']!;
    expect(windows.open.length).toBeGreaterThan(0);
    // Every firing of both schedules in 2027 (the monthly one falls on every weekday in turn), and a few
    // minutes later (a schedule starts late, never early): the run is not refused.
    let fired = 0;
    for (const s of w.on.schedule) {
      const cron = new Cron(s.cron, { timezone: 'UTC', paused: true });
      for (let at = cron.nextRun(new Date('2027-01-01T00:00:00Z')); at && at < new Date('2028-01-01T00:00:00Z'); at = cron.nextRun(at)) {
        fired++;
        for (const lateMin of [0, 30])
          expect(isOpen(windows, new Date(at.getTime() + lateMin * 60_000)).open, `${s.cron} at ${at.toISOString()} + ${lateMin} min`).toBe(true);
      }
    }
    expect(fired).toBe(52 + 12);
  });

  it('uploads reports/ (maintain-run.json) after every run, failed or refused ones too', () => {
    const upload = stepOf(job, /^actions\/upload-artifact/);
    expect(upload?.uses).toBe('actions/upload-artifact@v4');
    expect(upload?.if).toBe('always()');
    expect(upload?.with).toMatchObject({ path: 'reports/', 'retention-days': 90 });
    expect(indexOf(job, /^actions\/upload-artifact/)).toBeGreaterThan(indexOf(job, /dbops maintain run/));
  });
});

describe('settings.yml', () => {
  const w = load('settings.yml') as ScheduledWorkflow;
  const job = w.jobs['check'] as FullJob;

  it('checks the production settings every Monday morning, in UTC, and can be started by hand', () => {
    expect(w.on.schedule.map((s) => s.cron)).toEqual(['0 6 * * 1']);
    expect(cronFires('0 6 * * 1', new Date('2026-12-07T06:00:00Z'))).toBe(true);
    expect(cronFires('0 6 * * 1', new Date('2026-12-06T06:00:00Z'))).toBe(false);
    expect(triggers(w)).toContain('workflow_dispatch');
  });

  it('runs the read-only `settings check --environment production`, never apply, and keeps its report', () => {
    expect(invocationsOf(job)).toEqual(['settings check --environment production']);
    const report = commands.find((c) => c.path.join(' ') === 'settings check')!.report;
    const upload = stepOf(job, /actions\/upload-artifact/)!;
    expect(upload.if).toBe('always()');
    expect(upload.with?.['path']).toBe(`reports/${report}.json`);
  });

  it('hands the production URL to the check step alone, on the backup server, reading contents only', () => {
    expect(job['runs-on']).toEqual(['self-hosted', 'backup-server']);
    expect(environmentOf(job)).toBe('backups');
    expect(w.permissions).toEqual({});
    expect(job.permissions).toEqual({ contents: 'read' });
    for (const s of job.steps) expect(secretsOf(s), s.name).toEqual(s.name === 'settings check' ? ['PRODUCTION_DATABASE_URL=PRODUCTION_DATABASE_URL'] : []);
    expect(environmentsPolicy.environments['production']!.database_url_env).toBe('PRODUCTION_DATABASE_URL');
  });
});

describe('queries.yml', () => {
  const w = load('queries.yml') as ScheduledWorkflow;
  const job = w.jobs['review'] as FullJob;
  const review = stepOf(job, /dbops queries report/)!;

  it('reviews the production statements every Monday at 07:00 UTC, and can be started by hand', () => {
    expect(triggers(w).sort()).toEqual(['schedule', 'workflow_dispatch']);
    expect(w.on.schedule.map((s) => s.cron)).toEqual(['0 7 * * 1']);
    for (const s of w.on.schedule) expect(s.timezone).toBeUndefined();
    // 2026-12-07 is a Monday, 2026-12-06 a Sunday.
    expect(cronFires('0 7 * * 1', new Date('2026-12-07T07:00:00Z'))).toBe(true);
    expect(cronFires('0 7 * * 1', new Date('2026-12-06T07:00:00Z'))).toBe(false);
    expect(cronFires('0 7 * * 1', new Date('2026-12-07T06:00:00Z'))).toBe(false);
  });

  it('runs `queries report --environment production --notify` word for word, then publishes the summary', () => {
    expect(invocationsOf(job)).toEqual(['queries report --environment production --notify', 'report --github']);
    const dir = mkdtempSync(join(tmpdir(), 'dbops-queries-yml-'));
    try {
      expect(argvOf(review.run!, {}, dir)).toEqual(['dbops', 'queries', 'report', '--environment', 'production', '--notify']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // The review itself stops at its own failure; what follows reports it.
    expect(review.if).toBeUndefined();
    expect(indexOf(job, /dbops report/)).toBeGreaterThan(indexOf(job, /dbops queries report/));
  });

  it('hands the production URL and the webhook the policy names, from secrets, to the review step alone', async () => {
    const { QueriesPolicy } = await import('../../pipeline/policy/queries.ts');
    const file = join(ROOT, 'policies/queries.yaml');
    let raw: unknown = { version: 1 };
    try {
      raw = parse(readFileSync(file, 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const webhook = QueriesPolicy.parse(raw).notifications.webhook_env;
    expect(webhook).toBe('DBOPS_QUERIES_WEBHOOK');
    const production = environmentsPolicy.environments['production']!;
    expect(production.database_url_env).toBe('PRODUCTION_DATABASE_URL');
    expectSecretsOnly(job, (s) => (s === review ? [`${webhook}=DBOPS_QUERIES_WEBHOOK`, `${production.database_url_env}=PRODUCTION_DATABASE_URL`] : []));
  });

  it('runs on the backup server in the backups environment, reads contents only, and is never cancelled', () => {
    expect(job['runs-on']).toEqual(['self-hosted', 'backup-server']);
    expect(environmentOf(job)).toBe('backups');
    expect(w.permissions).toEqual({});
    expect(job.permissions).toEqual({ contents: 'read' });
    expect(w.concurrency).toBeUndefined();
    expect(job.concurrency).toEqual({ group: 'dbops-queries', 'cancel-in-progress': false });
  });

  it('publishes the job summary and uploads reports/ after every run, failed ones too', () => {
    const summary = stepOf(job, /dbops report/)!;
    expect(summary.if).toMatch(/^always\(\)/);
    expectReportsKept(job);
  });
});

describe('access-audit.yml', () => {
  const w = load('access-audit.yml') as ScheduledWorkflow & { on: { pull_request: { paths: string[] } } };
  const production = w.jobs['production'] as FullJob;
  const policy = w.jobs['policy'] as FullJob;
  const audit = stepOf(production, /dbops access audit/)!;
  const encryption = stepOf(production, /dbops access encryption/)!;

  it('audits production on the 1st of every month at 06:00 UTC, by hand, and on pull requests that change the policy', () => {
    expect(triggers(w).sort()).toEqual(['pull_request', 'schedule', 'workflow_dispatch']);
    expect(w.on.schedule.map((s) => s.cron)).toEqual(['0 6 1 * *']);
    for (const s of w.on.schedule) expect(s.timezone).toBeUndefined();
    expect(cronFires('0 6 1 * *', new Date('2027-01-01T06:00:00Z'))).toBe(true);
    expect(cronFires('0 6 1 * *', new Date('2027-01-02T06:00:00Z'))).toBe(false);
    expect(w.on.pull_request.paths).toContain('policies/access.yaml');
    // The production job never runs for a pull request, the scratch job only for one.
    const runs = (job: FullJob, event: string) => evaluate(`\${{ ${job.if} }}`, { github: { event_name: event } });
    for (const event of ['schedule', 'workflow_dispatch']) {
      expect(runs(production, event), event).toBe(true);
      expect(runs(policy, event), event).toBe(false);
    }
    expect(runs(production, 'pull_request')).toBe(false);
    expect(runs(policy, 'pull_request')).toBe(true);
  });

  it('runs the read-only audit and encryption checks on production word for word, then publishes the summary', () => {
    expect(invocationsOf(production)).toEqual(['access audit --environment production', 'access encryption --environment production', 'report --github']);
    const dir = mkdtempSync(join(tmpdir(), 'dbops-access-audit-yml-'));
    try {
      expect(argvOf(audit.run!, {}, dir)).toEqual(['dbops', 'access', 'audit', '--environment', 'production']);
      expect(argvOf(encryption.run!, {}, dir)).toEqual(['dbops', 'access', 'encryption', '--environment', 'production']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(invocationsOf(production).some((c) => c.startsWith('access apply'))).toBe(false);
    // The encryption checks run after a drift too.
    expect(encryption.if).toMatch(/^always\(\)/);
    expect(indexOf(production, /dbops access encryption/)).toBeGreaterThan(indexOf(production, /dbops access audit/));
  });

  it('tries the policy on a migrated scratch cluster for a pull request: apply, then the audit as proof', () => {
    expect(invocationsOf(policy)).toEqual(['migrate deploy', 'access apply', 'access audit', 'report --github']);
    for (const words of invocationsOf(policy)) expect(words).not.toMatch(/--environment|--database-url/);
    expect(policy['runs-on']).toBe('ubuntu-24.04');
    expect(environmentOf(policy)).toBeUndefined();
  });

  it('hands the production URL, from secrets, to the audit and encryption steps alone; the pull request job gets none', () => {
    const text = readFileSync(join(DIR, 'access-audit.yml'), 'utf8');
    expect(environmentsPolicy.environments['production']!.database_url_env).toBe('PRODUCTION_DATABASE_URL');
    let seen = 0;
    for (const [name, job] of jobsOf(w)) {
      expect(JSON.stringify(job.env ?? {}), name).not.toMatch(/secrets\./);
      for (const s of job.steps) {
        expect(s.run ?? '', `${name}: ${s.name}`).not.toMatch(/secrets\./);
        expect(JSON.stringify(s.with ?? {}), `${name}: ${s.name}`).not.toMatch(/secrets\./);
        const given = secretsOf(s);
        expect(given, `${name}: ${s.name}`).toEqual(s === audit || s === encryption ? ['PRODUCTION_DATABASE_URL=PRODUCTION_DATABASE_URL'] : []);
        seen += given.length;
      }
    }
    expect(text.match(/secrets\.\w/g)?.length).toBe(seen);
  });

  it('runs production on the backup server in the backups environment; every job reads contents only', () => {
    expect(production['runs-on']).toEqual(['self-hosted', 'backup-server']);
    expect(environmentOf(production)).toBe('backups');
    expect(w.permissions).toEqual({});
    for (const [name, job] of jobsOf(w)) expect(job.permissions, name).toEqual({ contents: 'read' });
  });

  it('publishes the job summary and uploads reports/ after every run, failed ones too', () => {
    for (const [name, job] of jobsOf(w)) {
      const summary = stepOf(job, /dbops report --github/)!;
      expect(summary.if, name).toBe("always() && hashFiles('reports/*.json') != ''");
      const upload = stepOf(job, /^actions\/upload-artifact/)!;
      expect(upload.uses, name).toBe('actions/upload-artifact@v4');
      expect(upload.if, name).toBe('always()');
      expect(upload.with?.['path'], name).toBe('reports/');
      expect(indexOf(job, /^actions\/upload-artifact/), name).toBeGreaterThan(indexOf(job, /dbops report/));
    }
  });
});

describe('audit-collect.yml', () => {
  const w = load('audit-collect.yml') as ScheduledWorkflow;
  const job = w.jobs['collect'] as FullJob;
  const collect = stepOf(job, /dbops audit collect/)!;
  const CRON = '40 0 * * *';

  it('collects every day at 00:40 UTC, and by hand, away from the schedules of the backup server', () => {
    expect(triggers(w).sort()).toEqual(['schedule', 'workflow_dispatch']);
    expect(w.on.schedule.map((s) => s.cron)).toEqual([CRON]);
    for (const s of w.on.schedule) expect(s.timezone).toBeUndefined();
    for (const day of ['2026-12-06', '2026-12-07', '2027-01-01']) expect(cronFires(CRON, new Date(`${day}T00:40:00Z`)), day).toBe(true);
    expect(cronFires(CRON, new Date('2026-12-07T01:40:00Z'))).toBe(false);
    // No schedule of backup.yml, pitr.yml or maintenance.yml fires at the same minute, on any weekday or the 1st.
    const others = ['backup.yml', 'pitr.yml', 'maintenance.yml'].flatMap((f) => (load(f) as ScheduledWorkflow).on.schedule.map((s) => s.cron));
    expect(others.length).toBeGreaterThan(0);
    for (let d = 0; d < 8; d++) {
      const at = new Date(Date.parse('2026-11-29T00:40:00Z') + d * 86_400_000);
      for (const c of others) expect(cronFires(c, at), `${c} at ${at.toISOString()}`).toBe(false);
    }
  });

  it('runs `audit collect --environment production` word for word: the log is read through the server, no folder mounted', () => {
    expect(invocationsOf(job)).toEqual(['audit collect --environment production', 'report --github']);
    const dir = mkdtempSync(join(tmpdir(), 'dbops-audit-collect-yml-'));
    try {
      expect(argvOf(collect.run!, {}, dir)).toEqual(['dbops', 'audit', 'collect', '--environment', 'production']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(collect.if).toBeUndefined();
  });

  it('hands the production URL, from secrets, to the collect step alone', () => {
    const production = environmentsPolicy.environments['production']!;
    expect(production.database_url_env).toBe('PRODUCTION_DATABASE_URL');
    expectSecretsOnly(job, (s) => (s === collect ? [`${production.database_url_env}=PRODUCTION_DATABASE_URL`] : []));
  });

  it('runs on the backup server in the backups environment, reads contents only, and queues with the backups, never cancelled', () => {
    expect(job['runs-on']).toEqual(['self-hosted', 'backup-server']);
    expect(environmentOf(job)).toBe('backups');
    expect(w.permissions).toEqual({});
    expect(job.permissions).toEqual({ contents: 'read' });
    expect(w.concurrency).toBeUndefined();
    // The group of backup.yml, where `dbops evidence prune` rewrites the same chain.
    expect(job.concurrency).toEqual(GROUP);
    expect(
      jobsOf(load('backup.yml')).some(([, j]) => JSON.stringify(j.concurrency) === JSON.stringify(GROUP) && invocationsOf(j).includes('evidence prune')),
    ).toBe(true);
  });

  it('publishes the job summary and uploads reports/ after every run, failed ones too', () => {
    const summary = stepOf(job, /dbops report --github/)!;
    expect(summary.if).toBe("always() && hashFiles('reports/*.json') != ''");
    expectReportsKept(job);
  });
});

describe('monitor.yml', () => {
  const w = load('monitor.yml') as ScheduledWorkflow;
  const job = w.jobs['check'] as FullJob;
  const check = stepOf(job, /dbops monitor check/)!;
  const summary = stepOf(job, /dbops report/)!;

  it('checks production every 5 minutes (GitHub’s shortest schedule), and can be started by hand', () => {
    expect(triggers(w).sort()).toEqual(['schedule', 'workflow_dispatch']);
    expect(w.on.schedule.map((s) => s.cron)).toEqual(['*/5 * * * *']);
    expect(cronFires('*/5 * * * *', new Date('2026-12-07T03:25:00Z'))).toBe(true);
    expect(cronFires('*/5 * * * *', new Date('2026-12-07T03:27:00Z'))).toBe(false);
    expect(invocationsOf(job)).toEqual(['monitor check --environment production', 'report --github']);
  });

  it('stays green on exit 1 (the routes page once, not the workflow every 5 minutes) and fails on 2 or 3', () => {
    for (const step of [check, summary]) {
      for (const [code, ok] of [
        [0, true],
        [1, true],
        [2, false],
        [3, false],
      ] as const) {
        const dir = mkdtempSync(join(tmpdir(), 'dbops-monitor-yml-'));
        try {
          writeFileSync(join(dir, 'dbops'), `#!/bin/sh\nexit ${code}\n`, { mode: 0o755 });
          const r = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', step.run!], { cwd: dir, env: { PATH: process.env['PATH'] ?? '' } });
          expect(r.status === 0, `${step.name}: exit ${code}`).toBe(ok);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
    }
  });

  it('hands the production URL and the webhook to the check step alone; a group of its own; issues for the github-issue route', () => {
    expectSecretsOnly(job, (s) => (s === check ? ['PRODUCTION_DATABASE_URL=PRODUCTION_DATABASE_URL', 'DBOPS_MONITOR_WEBHOOK=DBOPS_MONITOR_WEBHOOK'] : []));
    expect(check.env?.['GITHUB_TOKEN']).toBe('${{ github.token }}');
    expect(job.concurrency).toEqual({ group: 'dbops-monitor', 'cancel-in-progress': false });
    expect(job.permissions).toEqual({ contents: 'read', issues: 'write' });
    expect(w.permissions).toEqual({});
    expect(environmentOf(job)).toBe('backups');
    const policy = parse(readFileSync(join(ROOT, 'policies/monitoring.yaml'), 'utf8')) as { routes: Array<{ type: string; url_env?: string }> };
    expect(policy.routes.filter((r) => r.url_env).map((r) => r.url_env)).toEqual(['DBOPS_MONITOR_WEBHOOK']);
  });
});

describe('drift.yml', () => {
  const w = load('drift.yml') as ScheduledWorkflow;
  const job = w.jobs['drift'] as FullJob & { strategy?: { 'fail-fast'?: boolean; matrix?: { environment?: string[] } } };
  const step = stepOf(job, /dbops drift/)!;
  /** A step's env as GitHub evaluates it for one matrix entry, with every secret set to its own name. */
  const envFor = (environment: string) =>
    Object.fromEntries(
      Object.entries(step.env ?? {}).map(([k, v]) => {
        const source = String(v)
          .trim()
          .replace(/^\$\{\{\s*([\s\S]*?)\s*\}\}$/, '$1');
        const tree = new Parser(new Lexer(source).lex().tokens, ['matrix', 'secrets'], []).parse();
        const secrets = Object.fromEntries([...source.matchAll(/secrets\.(\w+)/g)].map((m) => [m[1]!, `<${m[1]}>`]));
        const ctx = JSON.parse(JSON.stringify({ matrix: { environment }, secrets }), exprData.reviver) as InstanceType<typeof exprData.Dictionary>;
        return [k, JSON.parse(JSON.stringify(new Evaluator(tree, ctx).evaluate(), exprData.replacer)) as unknown];
      }),
    );

  it('checks every environment of the policy every day at 06:40 UTC and by hand, one job each, none hiding another', () => {
    expect(triggers(w).sort()).toEqual(['schedule', 'workflow_dispatch']);
    expect(w.on.schedule.map((s) => s.cron)).toEqual(['40 6 * * *']);
    expect(job.strategy?.matrix?.environment).toEqual(Object.keys(environmentsPolicy.environments));
    expect(job.strategy?.['fail-fast']).toBe(false);
    expect(job.concurrency).toEqual({ group: 'dbops-drift-${{ matrix.environment }}', 'cancel-in-progress': false });
  });

  it('runs `drift --environment <env> --record --notify`, then always publishes the summary and keeps reports/ 90 days', () => {
    expect(invocationsOf(job)).toEqual(['drift --environment "$ENVIRONMENT" --record --notify', 'report --github']);
    const dir = mkdtempSync(join(tmpdir(), 'dbops-drift-yml-'));
    try {
      expect(argvOf(step.run!, { ENVIRONMENT: 'production' }, dir)).toEqual(['dbops', 'drift', '--environment', 'production', '--record', '--notify']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(step.if).toBeUndefined();
    expectReportsKept(job);
  });

  it("gives each job only its own environment's URL, under the name the policy reads, and the drift webhook the policy names", async () => {
    const { MigrationsPolicy } = await import('../../pipeline/policy/schema.ts');
    const webhook = MigrationsPolicy.parse(parse(readFileSync(join(ROOT, 'policies/migrations.yaml'), 'utf8'))).drift.notifications.webhook_env;
    expect(webhook).toBe('DBOPS_DRIFT_WEBHOOK');
    const urls = Object.fromEntries(Object.entries(environmentsPolicy.environments).map(([name, e]) => [name, e.database_url_env]));
    for (const environment of Object.keys(urls)) {
      const env = envFor(environment);
      expect(env['ENVIRONMENT']).toBe(environment);
      expect(env[webhook]).toBe(`<${webhook}>`);
      for (const [other, variable] of Object.entries(urls))
        expect(env[variable], `${environment}: ${variable}`).toBe(other === environment ? `<${variable}>` : '');
    }
    for (const s of job.steps.filter((x) => x !== step)) expect(JSON.stringify(s)).not.toMatch(/secrets\./);
    expect(job['runs-on']).toEqual(['self-hosted', 'backup-server']);
    expect(environmentOf(job)).toBe('backups');
    expect(w.permissions).toEqual({});
    expect(job.permissions).toEqual({ contents: 'read' });
  });
});

describe('migration-pr.yml lint job and drift', () => {
  const job = (load('migration-pr.yml') as Workflow).jobs['lint'] as FullJob;

  it('checks schema.prisma against the migrations before lint, without a database or a secret, and keeps going', () => {
    const step = stepOf(job, /dbops drift/)!;
    expect(step.run).toBe('./dbops drift');
    expect(step['continue-on-error']).toBe(true);
    expect(JSON.stringify(step)).not.toMatch(/secrets\.|DATABASE_URL/);
    expect(indexOf(job, /dbops drift/)).toBeLessThan(indexOf(job, /dbops lint/));
    expect(indexOf(job, /apt-get install .*postgresql/)).toBeLessThan(indexOf(job, /dbops drift/));
  });
});
