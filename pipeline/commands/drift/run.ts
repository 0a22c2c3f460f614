import type { StepContext } from '../../cli/contract.ts';
import { checkDrift, notifyDrift, renderDrift, type DriftData, type DriftRequest } from '../../change/drift/index.ts';
import { UsageError } from '../../core/errors.ts';
import type { StepResult } from '../../core/result.ts';
import { parseDatabaseUrl } from '../../infra/db/url.ts';
import { environmentTarget } from '../flags.ts';
import type { DriftInputs } from './spec.ts';

/** `dbops drift`: which database (if any) and which evidence; change/drift compares. */
export async function run(input: DriftInputs, ctx: StepContext): Promise<StepResult<DriftData>> {
  const { migrations } = await ctx.policies('migrations');
  const { record: _record, ...flags } = input;
  const request = { ...flags, policies: migrations.value };
  if (input.environment !== undefined) {
    const { target, environment } = await environmentTarget(input, ctx, 'and reconciles its evidence');
    const { environments, backups } = await ctx.policies('environments', 'backups');
    // Loaded only here, so `dbops drift` without --environment loads neither the evidence storage nor GitHub's run identity.
    const { openEvidence } = await import('../../evidence/index.ts');
    const name = environment!.name;
    const store = openEvidence({ environments: environments.value, backups: backups.value }, name, ctx.env, ctx.log);
    const { runIdentity } = await import('../../infra/github/approvals.ts');
    const record = input.record ? { run: runIdentity(ctx.env) } : undefined;
    return withNotification({ ...request, record, live: { target, environment: { name, store } } }, input, ctx);
  }
  if (input.record)
    throw new UsageError("--record seals the result into an environment's evidence chain: it needs --environment.", {
      hint: 'Pass --environment NAME instead of --database-url (the URL then comes from policies/environments.yaml).',
    });
  const url = input.databaseUrl ?? ctx.env['DATABASE_URL'];
  const live = url ? { target: parseDatabaseUrl(url, input.schema, input.databaseUrl ? '--database-url' : 'DATABASE_URL') } : undefined;
  return withNotification({ ...request, live }, input, ctx);
}

async function withNotification(request: DriftRequest, input: DriftInputs, ctx: StepContext): Promise<StepResult<DriftData>> {
  const result = await checkDrift(request, ctx);
  if (input.notify) result.data.notification = await notifyDrift(result, input.environment, request.policies, ctx);
  return result;
}

export const render = renderDrift;
