import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UsageError } from '../../../core/errors.ts';
import {
  INFLIGHT_FILE,
  verifyChain,
  type ChainReport,
  type EvidenceVerifyData,
  assertKnownEnvironment,
  checkEnvironmentName,
  evidenceEnvironments,
  openEvidenceRoot,
  readFolder,
} from '../../../evidence/index.ts';
import { ENVIRONMENT_NAME } from '../../../policy/environments.ts';
import type { EvidenceVerifyInputs } from './spec.ts';
import type { Finding, StepResult } from '../../../core/result.ts';
import type { StepContext } from '../../../cli/contract.ts';
import { noun } from '../../../core/format.ts';

/** A folder such as a downloaded workflow artifact: `<dir>/<environment>/<bundle>.json|.md` (the layout saveLocalCopy writes). */
async function chainsInFolder(dir: string, only: string | undefined): Promise<ChainReport[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw new UsageError(`--dir ${dir}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such folder' : (e as Error).message}.`, {
      hint: 'Pass the folder that holds one sub-folder per environment, e.g. the unpacked evidence artifact or <reports-dir>/evidence.',
    });
  }
  const environments = entries
    .filter((e) => e.isDirectory() && ENVIRONMENT_NAME.test(e.name))
    .map((e) => e.name)
    .sort();
  assertKnownEnvironment(only, null, environments, `--dir ${dir}`);
  const selected = only === undefined ? environments : [only];
  const chains: ChainReport[] = [];
  for (const environment of selected) {
    const folder = join(dir, environment);
    const files = new Map<string, Buffer>();
    const names = await readdir(folder, { withFileTypes: true }).catch(() => []);
    for (const f of names) {
      // Hidden files are partial writes of writeFileAtomic; the in-flight marker is not part of the chain.
      if (!f.isFile() || f.name.startsWith('.') || f.name === INFLIGHT_FILE) continue;
      files.set(f.name, await readFile(join(folder, f.name)));
    }
    chains.push(verifyChain({ environment, folder: `${environment}/`, files, partial: true }));
  }
  return chains;
}

/**
 * `dbops evidence verify`: recomputes the hash chain of every environment (or --environment) from the
 * evidence storage, or from a local folder (--dir). Fails when any chain has a problem; the first problem
 * of a chain is its first broken link.
 */
export async function run(input: EvidenceVerifyInputs, ctx: StepContext): Promise<StepResult<EvidenceVerifyData>> {
  checkEnvironmentName(input.environment);
  let data: EvidenceVerifyData;
  if (input.dir !== undefined) {
    const dir = resolve(input.dir);
    data = { source: 'directory', location: dir, chains: await chainsInFolder(dir, input.environment) };
  } else {
    const policies = await ctx.policies('environments', 'backups');
    const { storage, prefix } = openEvidenceRoot({ environments: policies.environments.value, backups: policies.backups.value }, ctx.env, ctx.log);
    const found = await evidenceEnvironments(storage, prefix);
    assertKnownEnvironment(input.environment, Object.keys(policies.environments.value.environments), found, `target "${storage.name}"`);
    const environments = input.environment === undefined ? found : [input.environment];
    const chains: ChainReport[] = [];
    for (const environment of environments) {
      const folder = `${prefix}${environment}/`;
      chains.push(verifyChain({ environment, folder, files: await readFolder({ storage, folder, environment }) }));
    }
    data = { source: 'storage', location: `target "${storage.name}" (${storage.location}) ${prefix}`, chains };
  }
  const findings: Finding[] = data.chains.flatMap((c) =>
    c.problems.map((p, i) => ({
      rule: `evidence/${p.check}`,
      severity: 'error' as const,
      message: `${c.environment}${i === 0 ? ' (first broken link)' : ''}: ${p.message}`,
      file: p.key,
    })),
  );
  for (const c of data.chains)
    ctx.log.info({ environment: c.environment, bundles: c.bundles, head: c.head, ok: c.ok }, `evidence chain of ${c.environment}: ${c.ok ? 'ok' : 'BROKEN'}`);
  const broken = data.chains.some((c) => !c.ok);
  const empty = data.chains.every((c) => c.bundles === 0);
  return { verdict: broken ? 'fail' : empty ? 'warn' : 'pass', findings, data };
}

const range = (c: ChainReport) => (c.bundles === 0 ? 'no bundles' : `${c.bundles} ${noun(c.bundles, 'bundle')} (${c.firstSequence}–${c.lastSequence})`);

export function render(result: StepResult<EvidenceVerifyData>): string {
  const d = result.data;
  const lines = [`Evidence ${d.source === 'directory' ? `in ${d.location}` : `on ${d.location}`}:`];
  if (d.chains.length === 0) {
    lines.push(
      '',
      '  No evidence bundles found.',
      d.source === 'storage'
        ? '  Bundles are written by `dbops deploy` and `dbops rollback`.'
        : '  Expected one sub-folder per environment holding <sequence>-<time>-<kind>.json and .md.',
    );
    return `${lines.join('\n')}\n`;
  }
  for (const c of d.chains) {
    lines.push('');
    lines.push(`  ${c.environment}: ${c.ok ? 'ok' : 'BROKEN'} — ${range(c)}`);
    if (c.anchor) {
      lines.push(
        c.anchor.via === 'checkpoint'
          ? `    starts after the retention checkpoint: bundle ${c.anchor.sequence} hashed to ${c.anchor.sha256}`
          : `    starts after bundle ${c.anchor.sequence} (not in this folder), which must hash to ${c.anchor.sha256}`,
      );
    }
    lines.push(`    head: ${c.head ?? '—'}`);
    const [first, ...rest] = c.problems;
    if (first) {
      lines.push(`    FIRST BROKEN LINK: ${first.sequence === null ? '' : `bundle ${first.sequence}, `}${first.key} — ${first.check}`);
      lines.push(`      ${first.message}`);
      if (first.expected !== undefined || first.found !== undefined)
        lines.push(`      expected ${first.expected ?? '—'}`, `      found    ${first.found ?? '—'}`);
    }
    if (rest.length > 0) {
      lines.push(`    ${rest.length} further ${noun(rest.length, 'problem')}:`);
      for (const p of rest) lines.push(`      - [${p.check}] ${p.message}`);
    }
  }
  const broken = d.chains.filter((c) => !c.ok).map((c) => c.environment);
  lines.push(
    '',
    broken.length > 0
      ? `Verification FAILED for ${broken.join(', ')}. Compare with the workflow artifacts of the runs concerned and investigate before the next deploy (it refuses to extend a broken chain).`
      : 'Every chain verifies. Anchor each head hash elsewhere (job summary, change ticket): a rewritten tail changes it.',
  );
  return `${lines.join('\n')}\n`;
}
