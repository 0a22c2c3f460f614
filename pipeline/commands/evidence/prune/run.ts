import { RefusedError } from '../../../core/errors.ts';
import {
  EvidenceBundle,
  CHECKPOINT_FILE,
  EvidenceCheckpoint,
  parseBundleName,
  serialize,
  verifyChain,
  type EvidencePruneData,
  expiredPrefix,
  retentionCutoff,
  evidenceEnvironments,
  openEvidenceRoot,
  readFolder,
} from '../../../evidence/index.ts';
import type { EvidencePruneInputs } from './spec.ts';
import type { StepContext } from '../../../cli/contract.ts';
import type { StepResult } from '../../../core/result.ts';
import { noun } from '../../../core/format.ts';

interface Plan {
  environment: string;
  folder: string;
  /** Bundles to remove, oldest first: their stems and what the checkpoint records of the last one. */
  remove: Array<{ sequence: number; stem: string }>;
  checkpoint: EvidenceCheckpoint | null;
  kept: number;
}

/**
 * `dbops evidence prune`: removes bundles older than evidence.retention, only from the start of each chain
 * and never the newest. For each environment it first verifies the whole chain (pruning a broken chain could
 * destroy the evidence of what broke it), then writes `checkpoint.json` (the last removed bundle's sequence
 * and hash, which the first kept bundle links to) and only then deletes, oldest first: an interruption at
 * any point leaves a chain that verifies.
 */
export async function run(input: EvidencePruneInputs, ctx: StepContext): Promise<StepResult<EvidencePruneData>> {
  const policies = await ctx.policies('environments', 'backups');
  const { retention } = policies.environments.value.evidence;
  const { storage, prefix } = openEvidenceRoot({ environments: policies.environments.value, backups: policies.backups.value }, ctx.env, ctx.log);
  const now = new Date();
  const cutoff = retentionCutoff(retention, now);

  const plans: Plan[] = [];
  for (const environment of await evidenceEnvironments(storage, prefix)) {
    const folder = `${prefix}${environment}/`;
    const files = await readFolder({ storage, folder, environment });
    const report = verifyChain({ environment, folder, files });
    const first = report.problems[0];
    if (first) {
      throw new RefusedError(`Refusing to prune: the evidence chain of "${environment}" does not verify: ${first.message}`, {
        hint: `Run \`dbops evidence verify --environment ${environment}\` and resolve the problem first; nothing was removed.`,
      });
    }
    const existing = files.has(CHECKPOINT_FILE) ? EvidenceCheckpoint.parse(JSON.parse(files.get(CHECKPOINT_FILE)!.toString('utf8'))) : null;
    const bundles = [...files.keys()]
      .map((n) => parseBundleName(n))
      .filter((p) => p?.ext === 'json')
      .map((p) => ({ ...p!, bundle: EvidenceBundle.parse(JSON.parse(files.get(`${p!.stem}.json`)!.toString('utf8'))) }))
      .sort((a, b) => a.sequence - b.sequence);
    // Bundles the existing checkpoint already covers are leftovers of an interrupted prune: removed whatever their age.
    const leftovers = existing ? bundles.filter((b) => b.sequence <= existing.throughSequence) : [];
    const rest = bundles.slice(leftovers.length);
    const expired = rest.slice(
      0,
      expiredPrefix(
        rest.map((b) => b.bundle),
        cutoff,
      ),
    );
    const orphanMd = [...files.keys()]
      .map((n) => parseBundleName(n))
      .filter((p) => p?.ext === 'md' && !files.has(`${p.stem}.json`) && existing && p.sequence <= existing.throughSequence)
      .map((p) => ({ sequence: p!.sequence, stem: p!.stem }));
    const last = expired.at(-1);
    plans.push({
      environment,
      folder,
      remove: [...orphanMd, ...leftovers, ...expired].map((b) => ({ sequence: b.sequence, stem: b.stem })).sort((a, b) => a.sequence - b.sequence),
      checkpoint: last
        ? {
            formatVersion: 1,
            environment,
            throughSequence: last.sequence,
            sha256: last.bundle.sha256,
            createdAt: last.bundle.createdAt,
            prunedAt: now.toISOString(),
            retention,
          }
        : null,
      kept: rest.length - expired.length,
    });
  }

  const data: EvidencePruneData = { location: `target "${storage.name}" (${storage.location}) ${prefix}`, retention, dryRun: input.dryRun, environments: [] };
  for (const plan of plans) {
    const deleted = plan.remove.flatMap((r) => [`${plan.folder}${r.stem}.md`, `${plan.folder}${r.stem}.json`]);
    if (!input.dryRun && plan.remove.length > 0) {
      if (plan.checkpoint) await storage.put(`${plan.folder}${CHECKPOINT_FILE}`, serialize(plan.checkpoint));
      // Markdown before JSON, oldest first: a cut-off run leaves at most a JSON bundle the checkpoint covers.
      for (const r of plan.remove) await storage.delete([`${plan.folder}${r.stem}.md`, `${plan.folder}${r.stem}.json`]);
      ctx.log.info(
        { environment: plan.environment, removed: plan.remove.length, through: plan.checkpoint?.throughSequence },
        `pruned ${plan.remove.length} evidence bundle(s) of ${plan.environment}`,
      );
    }
    data.environments.push({ environment: plan.environment, deleted, kept: plan.kept, checkpointThrough: plan.checkpoint?.throughSequence ?? null });
  }
  return { verdict: 'pass', findings: [], data };
}

export function render(result: StepResult<EvidencePruneData>): string {
  const d = result.data;
  const lines = [`Evidence on ${d.location}, retention ${d.retention}${d.dryRun ? ' (dry run: nothing removed)' : ''}:`];
  if (d.environments.length === 0) lines.push('', '  No evidence bundles.');
  for (const e of d.environments) {
    const bundles = e.deleted.filter((k) => k.endsWith('.json'));
    lines.push(
      '',
      bundles.length === 0
        ? `  ${e.environment}: nothing expired; ${e.kept} ${noun(e.kept, 'bundle')} kept.`
        : `  ${e.environment}: ${d.dryRun ? 'would remove' : 'removed'} ${bundles.length} ${noun(bundles.length, 'bundle')}${e.checkpointThrough !== null ? ` (through sequence ${e.checkpointThrough}, recorded in checkpoint.json)` : ''}; ${e.kept} kept.`,
    );
    for (const k of bundles) lines.push(`    - ${k}`);
  }
  return `${lines.join('\n')}\n`;
}
