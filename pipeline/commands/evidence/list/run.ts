import {
  EvidenceBundle,
  parseBundleName,
  assertKnownEnvironment,
  checkEnvironmentName,
  evidenceEnvironments,
  openEvidenceRoot,
  readObject,
} from '../../../evidence/index.ts';
import type { EvidenceListInputs } from './spec.ts';
import type { StepContext } from '../../../cli/contract.ts';
import type { StepResult } from '../../../core/result.ts';
import { alignedTable, noun } from '../../../core/format.ts';

export interface EvidenceListEntry {
  sequence: number;
  key: string;
  createdAt: string;
  kind: EvidenceBundle['kind'];
  outcome: string | null;
  /** The commit the run deployed (GITHUB_SHA); outside Actions the checkout's HEAD dbops ran from (same repository). */
  commit: string | null;
  /** Approvers whose approval counted (four-eyes), else every approving user. */
  approvers: string[];
  breakGlass: boolean;
  sha256: string;
}

export interface EvidenceListData {
  location: string;
  environments: Array<{
    environment: string;
    bundles: EvidenceListEntry[];
    /** Bundle files that do not parse as bundles: `dbops evidence verify` says why. */
    unreadable: string[];
  }>;
}

function entryOf(key: string, b: EvidenceBundle): EvidenceListEntry {
  const gate = b.execution?.gate ?? null;
  const run = b.run ?? gate?.run ?? b.interrupted?.run ?? null;
  const approvers = gate?.fourEyes ? gate.fourEyes.counted : (gate?.approvals.filter((a) => a.state === 'approved').map((a) => a.user) ?? []);
  return {
    sequence: b.sequence,
    key,
    createdAt: b.createdAt,
    kind: b.kind,
    outcome: b.execution?.outcome ?? (b.kind === 'interrupted' ? 'interrupted' : null),
    commit: run?.sha ?? b.dbops.commit,
    approvers,
    breakGlass: (b.breakGlass ?? gate?.breakGlass ?? null) !== null,
    sha256: b.sha256,
  };
}

/**
 * `dbops evidence list`: what each environment's bundles say, oldest first. A listing, not a check: the
 * chain is verified by `dbops evidence verify`.
 */
export async function run(input: EvidenceListInputs, ctx: StepContext): Promise<StepResult<EvidenceListData>> {
  checkEnvironmentName(input.environment);
  const policies = await ctx.policies('environments', 'backups');
  const { storage, prefix } = openEvidenceRoot({ environments: policies.environments.value, backups: policies.backups.value }, ctx.env, ctx.log);
  const found = await evidenceEnvironments(storage, prefix);
  assertKnownEnvironment(input.environment, Object.keys(policies.environments.value.environments), found, `target "${storage.name}"`);
  const environments = input.environment === undefined ? found : [input.environment];
  const data: EvidenceListData = { location: `target "${storage.name}" (${storage.location}) ${prefix}`, environments: [] };
  for (const environment of environments) {
    const folder = `${prefix}${environment}/`;
    const keys = (await storage.list(folder))
      .map((o) => ({ key: o.key, p: parseBundleName(o.key.slice(folder.length)) }))
      .filter((x) => x.p?.ext === 'json')
      .sort((a, b) => a.p!.sequence - b.p!.sequence);
    const bundles: EvidenceListEntry[] = [];
    const unreadable: string[] = [];
    for (const { key } of keys) {
      const bytes = await readObject(storage, key);
      let parsed: ReturnType<typeof EvidenceBundle.safeParse> | undefined;
      try {
        parsed = bytes ? EvidenceBundle.safeParse(JSON.parse(bytes.toString('utf8'))) : undefined;
      } catch {
        parsed = undefined;
      }
      if (parsed?.success) bundles.push(entryOf(key, parsed.data));
      else unreadable.push(key);
    }
    data.environments.push({ environment, bundles, unreadable });
  }
  return { verdict: 'pass', findings: [], data };
}

export function render(result: StepResult<EvidenceListData>): string {
  const d = result.data;
  const lines = [`Evidence on ${d.location}:`];
  if (d.environments.length === 0) lines.push('', '  No evidence bundles yet; `dbops deploy` and `dbops rollback` write them.');
  for (const env of d.environments) {
    lines.push('', `${env.environment}: ${env.bundles.length} ${noun(env.bundles.length, 'bundle')}, oldest first`);
    if (env.bundles.length > 0) {
      const head = ['SEQ', 'CREATED (UTC)', 'KIND', 'OUTCOME', 'COMMIT', 'APPROVERS', 'BREAK-GLASS'];
      const rows = env.bundles.map((b) => [
        String(b.sequence),
        b.createdAt.replace(/:\d\d(\.\d+)?Z$/, 'Z').replace('T', ' '),
        b.kind,
        b.outcome ?? '—',
        b.commit?.slice(0, 7) ?? '—',
        b.approvers.length > 0 ? b.approvers.join(', ') : '—',
        b.breakGlass ? '🚨 yes' : '',
      ]);
      lines.push(...alignedTable(head, rows, new Set([0])));
    }
    if (env.unreadable.length > 0)
      lines.push(
        `  ${env.unreadable.length} file(s) do not read as bundles: ${env.unreadable.join(', ')}. Run \`dbops evidence verify --environment ${env.environment}\`.`,
      );
  }
  return `${lines.join('\n')}\n`;
}
