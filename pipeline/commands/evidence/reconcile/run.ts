import { resolveEnvironment } from '../../../change/release/index.ts';
import { EvidenceBundle, parseBundleName, verifyChain, reconcile, type EvidenceReconcileData, openEvidence, readFolder } from '../../../evidence/index.ts';
import type { EvidenceReconcileInputs } from './spec.ts';
import { loadRows, openSession } from '../../../change/migrations/index.ts';
import type { Finding, StepResult } from '../../../core/result.ts';
import type { StepContext } from '../../../cli/contract.ts';
import { noun } from '../../../core/format.ts';

/** The bundles of a folder that parse, oldest first (the chain's own verdict is reported separately). */
function parseBundles(files: Map<string, Buffer>): EvidenceBundle[] {
  const bundles: EvidenceBundle[] = [];
  for (const [name, bytes] of files) {
    if (parseBundleName(name)?.ext !== 'json') continue;
    try {
      const parsed = EvidenceBundle.safeParse(JSON.parse(bytes.toString('utf8')));
      if (parsed.success) bundles.push(parsed.data);
    } catch {
      // Unparseable bundles are the chain check's to report.
    }
  }
  return bundles.sort((a, b) => a.sequence - b.sequence);
}

/** `dbops evidence reconcile --environment NAME`: the database's migration history against the evidence. */
export async function run(input: EvidenceReconcileInputs, ctx: StepContext): Promise<StepResult<EvidenceReconcileData>> {
  const env = ctx.env;
  const { environments, backups } = await ctx.policies('environments', 'backups');
  const environment = resolveEnvironment(environments.value, input.environment, env, input.schema);
  const store = openEvidence({ environments: environments.value, backups: backups.value }, environment.name, env, ctx.log);
  const files = await readFolder(store);
  const chain = verifyChain({ environment: environment.name, folder: store.folder, files });
  const bundles = parseBundles(files);
  const oldest = bundles[0];
  const evidenceStart = oldest ? (oldest.execution?.startedAt ?? oldest.interrupted?.startedAt ?? oldest.createdAt) : null;

  const s = await openSession(environment.target, ctx.log, 'dbops evidence reconcile');
  let rows;
  try {
    await s.client.query('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY');
    rows = await loadRows(s);
  } finally {
    await s.close();
  }
  const verdicts = reconcile(rows, bundles, evidenceStart);
  const findings: Finding[] = [];
  if (!chain.ok) {
    findings.push({
      rule: 'reconcile/chain',
      severity: 'error',
      message: `The evidence chain of ${environment.name} does not verify (${chain.problems[0]?.message ?? 'broken'}): the bundles cannot be trusted to explain anything.`,
      help: `Run \`dbops evidence verify --environment ${environment.name}\` and restore the damaged bundle from a copy (the workflow artifact of its run).`,
    });
  }
  for (const v of verdicts.filter((x) => x.status === 'outside')) {
    findings.push({
      rule: 'reconcile/outside',
      severity: 'error',
      migration: v.migration,
      message: `${v.migration} was ${v.event} at ${v.at} on ${environment.name}, and no evidence bundle covers it: a change outside the pipeline.`,
      help: 'Find out who ran it (the database log, the CI runs of that time), review it as an emergency change after the fact, and record the review in the change ticket.',
    });
  }
  const before = verdicts.filter((x) => x.status === 'before-evidence').length;
  if (before > 0) {
    findings.push({
      rule: 'reconcile/before-evidence',
      severity: 'notice',
      message: `${before} ${noun(before, 'change')} of ${environment.name} predate${before === 1 ? 's' : ''} its evidence (${evidenceStart ? `the oldest bundle kept starts at ${evidenceStart}` : 'there is no bundle yet'}) and cannot be judged.`,
    });
  }
  const data: EvidenceReconcileData = {
    environment: environment.name,
    database: environment.target.display,
    chain: { ok: chain.ok, bundles: chain.bundles, firstProblem: chain.problems[0]?.message ?? null },
    evidenceStart,
    rows: verdicts,
  };
  const verdict = findings.some((f) => f.severity === 'error') ? 'fail' : 'pass';
  return { verdict, findings, data };
}

const MARK = { explained: '✔', outside: '✘', 'before-evidence': '–' } as const;

export function render(result: StepResult<EvidenceReconcileData>): string {
  const d = result.data;
  const lines = [
    `Reconciling ${d.environment} (${d.database}) with its evidence: ${d.chain.bundles} ${noun(d.chain.bundles, 'bundle')}, chain ${d.chain.ok ? 'verifies' : `BROKEN (${d.chain.firstProblem})`}.`,
    '',
  ];
  const width = Math.max(9, ...d.rows.map((r) => r.migration.length));
  for (const r of d.rows) {
    const why =
      r.status === 'explained' ? `bundle ${r.bundle}` : r.status === 'outside' ? 'OUTSIDE THE PIPELINE: no bundle covers it' : 'before the evidence starts';
    lines.push(`  ${MARK[r.status]} ${r.migration.padEnd(width)}  ${r.event.padEnd(11)}  ${r.at}  ${why}`);
  }
  if (d.rows.length === 0) lines.push('  (no migration recorded in _prisma_migrations)');
  const outside = d.rows.filter((r) => r.status === 'outside').length;
  lines.push(
    '',
    outside === 0 && d.chain.ok
      ? 'Every recorded change is explained by the evidence.'
      : `${outside} ${noun(outside, 'change')} made outside the pipeline${d.chain.ok ? '' : '; the evidence chain is broken'}.`,
  );
  return `${lines.join('\n')}\n`;
}
