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
