import { RefusedError, UsageError } from '../../core/errors.ts';
import type { Runtime } from '../../core/runtime.ts';
import { isPgError, withClient, type Client } from '../../infra/db/client.ts';
import type { DbTarget } from '../../infra/db/url.ts';
import type { AccessPolicy } from '../../policy/access.ts';
import { applyPlan, auditAccess, type AccessAudit } from './audit.ts';
import { readAccessFacts } from './facts.ts';

export const APPLICATION_NAME = 'dbops access';

/** Reads the database and audits it against the policy, at the server's clock. */
export async function surveyAccess(target: DbTarget, policy: AccessPolicy, rt: Pick<Runtime, 'log'>): Promise<AccessAudit> {
  return withClient(target, { log: rt.log, applicationName: APPLICATION_NAME }, (c) => auditOn(c, policy));
}

async function auditOn(client: Client, policy: AccessPolicy): Promise<AccessAudit> {
  const facts = await readAccessFacts(client, policy.schemas);
  const now = (await client.query<{ now: Date }>('SELECT now()')).rows[0]!.now;
  return auditAccess(facts, policy, now);
}

export interface AccessApplyResult {
  before: AccessAudit;
  /** The statements, in the order they ran (or would run, with dryRun). */
  statements: string[];
  applied: boolean;
  /** The audit after the transaction committed: what is still drift (prune-only findings left out without --prune). */
  after: AccessAudit | null;
  remaining: AccessAudit['findings'];
}

/**
 * `access apply`: the audit's fixes in one transaction, then the audit again as the proof. Idempotent: a second
 * run finds nothing to do. Never sets a password; roles the policy does not name only with `prune`, and a role
 * that owns objects is never dropped (its finding carries no DROP).
 */
export async function applyAccess(
  target: DbTarget,
  policy: AccessPolicy,
  options: { prune: boolean; dryRun: boolean },
  rt: Pick<Runtime, 'log' | 'progress'>,
): Promise<AccessApplyResult> {
  return withClient(target, { log: rt.log, applicationName: APPLICATION_NAME }, async (c) => {
    const before = await auditOn(c, policy);
    const statements = applyPlan(before, options.prune);
    if (options.dryRun || statements.length === 0) return { before, statements, applied: false, after: null, remaining: [] };
    await c.query('SET default_transaction_read_only = off');
    await c.query('BEGIN');
    for (const sql of statements) {
      try {
        await c.query(sql);
      } catch (e) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw new RefusedError(`access apply stopped at \`${sql}\`: ${(e as Error).message}. Nothing was changed (one transaction).`, {
          hint:
            isPgError(e) && e.code === '42501'
              ? 'Run it as a role that may create roles and grant on every managed object (a superuser, or the owner with CREATEROLE).'
              : isPgError(e) && e.code === '2BP01'
                ? 'The role still has privileges or objects elsewhere (another database?): revoke them there, or leave it out of --prune by ignore_roles.'
                : 'Fix the cause and run `dbops access apply` again.',
          cause: e,
        });
      }
      rt.progress(`  ${sql}`);
    }
    await c.query('COMMIT');
    const after = await auditOn(c, policy);
    // A role that owned objects when the run began is never dropped by it, even once its objects were given to the
    // owner: the next --prune does (the audit says so).
    const kept = new Set(before.findings.filter((f) => f.kind === 'undeclared-role' && !f.fix.some((s) => s.startsWith('DROP ROLE'))).map((f) => f.subject));
    const remaining = after.findings
      .filter((f) => options.prune || !f.prune)
      .filter((f) => f.fix.length > 0 && !(f.kind === 'undeclared-role' && kept.has(f.subject)));
    return { before, statements, applied: true, after, remaining };
  });
}

/** The access policy of a command, or a usage error when policies/access.yaml is absent (nothing to compare with). */
export function accessPolicyOf(
  loaded: { access: { value: AccessPolicy; path: string | undefined } },
  policiesDir: string,
): { policy: AccessPolicy; path: string } {
  const { value, path } = loaded.access;
  if (path === undefined || value.owner === undefined)
    throw new UsageError(
      `${policiesDir}/access.yaml ${path === undefined ? 'is absent' : 'declares no owner and no roles'}: there is no declared access to compare with.`,
      {
        hint: 'Declare the owner and the roles (docs/commands/access.md has the AstroFinance example), then run `dbops access audit` again.',
      },
    );
  return { policy: value, path };
}
