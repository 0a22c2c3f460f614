import { UsageError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { EnvironmentPolicy } from '../../policy/environments.ts';
import { connect, type Client } from './client.ts';
import type { DbTarget } from './url.ts';

export type PoolerPolicy = Pick<EnvironmentPolicy['pooler'], 'mode'> & { direct_url_env?: string | undefined };

export interface PoolerProbe {
  /** Whether the connection goes through a pooler that hands server connections out per transaction (or statement). */
  transactionPooled: boolean;
  /** The backend pids seen: the session's, a second connection's, the session's again. */
  pids: [number, number, number];
}

const pidOf = async (c: Client) => (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;

/**
 * The evidence of a transaction-mode pooler: two connections open at once report the same
 * pg_backend_pid() (the pooler gave the second client the server connection the first one released after
 * its transaction), or one connection's pid changes between two transactions. Directly, or through a
 * session-mode pooler, every open client keeps a server process of its own. One extra connection.
 */
export async function probePooler(target: DbTarget, log: Logger, session?: Client): Promise<PoolerProbe> {
  const first = session ?? (await connect(target, { log, applicationName: 'dbops pooler probe' }));
  try {
    const a = await pidOf(first);
    const second = await connect(target, { log, applicationName: 'dbops pooler probe' });
    let b: number;
    try {
      b = await pidOf(second);
    } finally {
      await second.end().catch(() => undefined);
    }
    const c = await pidOf(first);
    return { transactionPooled: a === b || b === c || a !== c, pids: [a, b, c] };
  } finally {
    if (!session) await first.end().catch(() => undefined);
  }
}

export interface OwnSessionOptions {
  log: Logger;
  /** `dbops migrate deploy`, … for the message. */
  command: string;
  /** An open connection of the command to probe with (else the probe opens its own). */
  client?: Client;
  /** The environment's declared pooler, when the target comes from policies/environments.yaml. */
  pooler?: PoolerPolicy | undefined;
  environment?: string | undefined;
}

function directHint(o: OwnSessionOptions): string {
  const env = o.pooler?.direct_url_env;
  if (env)
    return `Use the direct URL in ${env} (pooler.direct_url_env${o.environment ? ` of environment "${o.environment}"` : ''}), which reaches the server without the pooler, as Prisma's directUrl does.`;
  return "Point the command at the server's own address, bypassing the pooler (Prisma's directUrl): pass it as --database-url (or DATABASE_URL), and declare it as pooler.direct_url_env of the environment in policies/environments.yaml.";
}

/**
 * Refuses (exit 2) a target reached through a transaction or statement pooler: migrations, maintenance,
 * backups and PITR need one server session for the whole command (advisory locks, SET, CREATE INDEX
 * CONCURRENTLY, a dump's snapshot). A declared transaction/statement pooler refuses without probing; a
 * declared session pooler or none is still probed.
 */
export async function requireOwnSession(target: DbTarget, o: OwnSessionOptions): Promise<void> {
  const declared = o.pooler?.mode;
  const why = `${o.command} needs a database session of its own for the whole command (advisory locks, SET, CREATE INDEX CONCURRENTLY, a consistent snapshot), which a pooler in transaction mode does not keep.`;
  if (declared === 'transaction' || declared === 'statement') {
    throw new UsageError(
      `${target.display} goes through a connection pooler in ${declared} mode (pooler.mode${o.environment ? ` of environment "${o.environment}"` : ''} in policies/environments.yaml). ${why}`,
      { hint: directHint(o) },
    );
  }
  const probe = await probePooler(target, o.log, o.client);
  if (!probe.transactionPooled) return;
  throw new UsageError(
    `${target.display} goes through a connection pooler in transaction mode: two connections open at once reported the same server process (pg_backend_pid() ${probe.pids.join(', ')}). ${why}`,
    { hint: directHint(o) },
  );
}
