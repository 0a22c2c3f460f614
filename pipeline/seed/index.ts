/**
 * `dbops seed`: AstroFinance reference data through the generated Prisma Client, then reproducible
 * synthetic volume (≈ 1,000,000 journal lines per unit of --scale) with set-based SQL in one
 * transaction. Same seed and scale, same bytes in every table.
 */
import { join } from 'node:path';
import { importTypeScript } from '../core/package.ts';
import { EnvError, RefusedError } from '../core/errors.ts';
import { connect, withClient, type Client } from '../infra/db/client.ts';
import { quoteIdent, quoteLiteral, type DbTarget } from '../infra/db/url.ts';
import { balanceTriggersEnabled, chooseLoadMode, rebuildableIndexes, schemaGaps, SEEDED_TABLES, tablesWithData, verifyLoad, type LoadMode } from './checks.ts';
import { buildReference, writeReference, type BulkInputs, type ReferenceRows } from './reference.ts';
import { documentPlan, helperFunctions, journalPlan, loadStatements, planVolume, SEQUENCED_TABLES, stagingTables, type Statement } from './volume.ts';
import type { Runtime } from '../core/runtime.ts';
import { type StepResult } from '../core/result.ts';
import { formatMs } from '../core/format.ts';

/** What the volume depends on: the same pair gives the same data. */
export interface SeedOptions {
  /** Volume multiplier: 1 ≈ 1,000,000 journal lines. */
  scale: number;
  seed: number;
}

export interface SeedData {
  datasource: { database: string; schema: string; host: string; port: number };
  seed: number;
  scale: number;
  /**
   * `verified`: triggers were skipped for the load transaction only (session_replication_role) and every
   * rule they enforce was re-checked set-based before COMMIT. `triggers`: rows went through every trigger.
   */
  mode: LoadMode['kind'];
  modeReason?: string;
  tables: Array<{ table: string; rows: number }>;
  phases: Array<{ phase: string; ms: number; rows?: number }>;
  totalMs: number;
  journalLinesPerSecond: number;
  checks: { unbalancedPostedEntries: number; foreignKeyViolations: number; balanceTriggersEnabled: boolean };
}

// Session-level advisory lock against two seeds racing on one database ("dbopseed" in ASCII).
const SEED_LOCK = '7233183963690296676';

class Phases {
  readonly list: SeedData['phases'] = [];
  readonly ctx: Runtime;
  constructor(ctx: Runtime) {
    this.ctx = ctx;
  }
  async time<T>(phase: string, fn: () => Promise<T>, rows?: (r: T) => number | undefined): Promise<T> {
    const started = performance.now();
    const result = await fn();
    const ms = Math.round(performance.now() - started);
    const n = rows?.(result);
    // Statements of one phase (staging tables, the three JournalLine inserts) add up.
    const same = this.list.find((p) => p.phase === phase);
    if (same) {
      same.ms += ms;
      if (n !== undefined) same.rows = (same.rows ?? 0) + n;
    } else {
      this.list.push(n === undefined ? { phase, ms } : { phase, ms, rows: n });
    }
    this.ctx.log.debug({ phase, ms, rows: n }, 'seed phase done');
    return result;
  }
}

async function openPrisma(target: DbTarget) {
  let generated: typeof import('../generated/prisma/client.ts');
  try {
    // A fresh clone has no generated client yet, and an edited schema needs a new one: (re)generate on
    // demand; when it is up to date this is one hash of schema.prisma.
    const { generateClient, CLIENT_DIR } = await import('../prisma/generate-client.ts');
    generateClient();
    generated = await importTypeScript<typeof import('../generated/prisma/client.ts')>(join(CLIENT_DIR, 'client.ts'));
  } catch (e) {
    throw new EnvError(`The Prisma Client in pipeline/generated/prisma could not be generated or loaded: ${e instanceof Error ? e.message : String(e)}`, {
      hint: 'Run `npm run generate` to see the full output of `prisma generate --schema prisma/schema.prisma`.',
      cause: e,
    });
  }
  const { PrismaPg } = await import('@prisma/adapter-pg');
  // Host, port, user and database as separate settings rather than a connection string: adapter-pg
  // 7.10 can otherwise end up on the wrong database.
  const adapter = new PrismaPg({ ...target.config, application_name: 'dbops seed (prisma)', max: 1 }, { schema: target.schema });
  return new generated.PrismaClient({ adapter });
}

/** Rows the Prisma phase wrote, removed again when the bulk phase fails, so a rerun starts clean. */
async function removeReference(client: Client, rows: ReferenceRows, newCurrencies: string[]): Promise<void> {
  const orgs = rows.organizations.map((o) => o.id);
  await client.query('BEGIN');
  for (const table of ['Customer', 'ExchangeRate', 'Account', 'Membership']) {
    await client.query(`DELETE FROM ${quoteIdent(table)} WHERE "organizationId" = ANY($1::uuid[])`, [orgs]);
  }
  await client.query('DELETE FROM "Organization" WHERE "id" = ANY($1::uuid[])', [orgs]);
  await client.query('DELETE FROM "User" WHERE "id" = ANY($1::uuid[])', [rows.users.map((u) => u.id)]);
  await client.query('DELETE FROM "Currency" WHERE "code" = ANY($1::text[])', [newCurrencies]);
  await client.query('COMMIT');
}

interface BulkResult {
  violations: Awaited<ReturnType<typeof verifyLoad>>;
}

/**
 * `referenceWritten` settles when the Prisma phase has committed: planning needs only the ids (known in
 * advance), so it runs meanwhile, and the first INSERT waits for the rows it references.
 */
async function bulkLoad(
  client: Client,
  input: SeedOptions,
  target: DbTarget,
  bulk: BulkInputs,
  mode: LoadMode,
  phases: Phases,
  ctx: Runtime,
  referenceWritten: Promise<unknown>,
): Promise<BulkResult> {
  const plan = planVolume(input.scale, bulk.orgs.length);
  const groups: Array<[string, Statement[]]> = [
    [
      'plan',
      [...helperFunctions(input.seed), ...stagingTables(bulk), ...documentPlan(plan, bulk.weights), ...journalPlan(plan, bulk.weights, bulk.orgs.length)],
    ],
    ['load', loadStatements(plan, bulk.weights)],
  ];
  // Temp buffers can only be sized before the session first touches a temp table.
  await client.query(`SET temp_buffers = '256MB'`);
  await client.query('BEGIN');
  try {
    // UTC: timestamps are built from dates, and must not depend on the server's time zone.
    // A small statistics sample is plenty for the temp tables' join planning. No JIT: the planner's
    // huge row estimates for generate_series joins trigger ~0.8 s of compilation per statement.
    // No timeouts: the statements are long by design, and the session idles in its transaction while
    // it waits for the Prisma phase.
    await client.query(`SET LOCAL TimeZone = 'UTC'; SET LOCAL work_mem = '256MB'; SET LOCAL synchronous_commit = off; SET LOCAL default_statistics_target = 10;
                        SET LOCAL jit = off; SET LOCAL statement_timeout = 0; SET LOCAL idle_in_transaction_session_timeout = 0`);
    // Skips triggers for this transaction only; nothing changes in the catalog, and verifyLoad re-checks
    // every rule the skipped triggers enforce before COMMIT (see chooseLoadMode for when this is allowed).
    if (mode.kind === 'verified') await client.query('SET LOCAL session_replication_role = replica');
    // Dropped and rebuilt inside this transaction: a failure anywhere rolls the DROP back with the rows.
    // Not when triggers fire: PostgreSQL refuses CREATE INDEX on a table with pending deferred trigger
    // events, and the balance trigger needs the JournalLine(journalEntryId, lineNumber) index anyway.
    const indexes = mode.kind === 'verified' ? await rebuildableIndexes(client, target.schema) : [];
    if (indexes.length > 0) {
      await client.query(indexes.map((i) => `DROP INDEX ${quoteIdent(target.schema)}.${quoteIdent(i.name)}`).join(';\n'));
    }
    for (const [group, statements] of groups) {
      for (const s of statements) {
        if (ctx.signal.aborted) throw new EnvError('Seed interrupted.');
        const phase = group === 'plan' ? 'plan (temp tables)' : s.label.replace(/ \(.*\)$/, '');
        const started = performance.now();
        const result = await phases.time(
          phase,
          () => client.query(s.sql, s.params),
          (r) => (s.table ? (Array.isArray(r) ? undefined : (r.rowCount ?? 0)) : undefined),
        );
        ctx.log.debug({ statement: s.label, ms: Math.round(performance.now() - started) }, 'seed statement done');
        if (s.table && !Array.isArray(result)) ctx.progress(`  ${s.label.padEnd(24)} ${String(result.rowCount ?? 0).padStart(10)} rows`);
      }
      if (group === 'plan') {
        ctx.progress('  planned the volume in temporary tables');
        await referenceWritten;
      }
    }
    await client.query(`SET LOCAL maintenance_work_mem = '512MB'`);
    for (const i of indexes) await phases.time('rebuild indexes', () => client.query(i.definition));
    if (indexes.length > 0) ctx.progress(`  rebuilt ${indexes.length} secondary indexes`);
    await client.query(
      SEQUENCED_TABLES.map(
        (t) =>
          `SELECT setval(pg_get_serial_sequence(${quoteLiteral(`${quoteIdent(target.schema)}.${quoteIdent(t)}`)}, 'id'), coalesce(max("id"), 1), max("id") IS NOT NULL) FROM ${quoteIdent(t)}`,
      ).join(';\n'),
    );
    const violations = await phases.time('verify', () => verifyLoad(client, target.schema, mode.kind === 'verified'));
    const badKeys = Object.entries(violations.foreignKeys).filter(([, n]) => n > 0);
    if (violations.unbalancedPostedEntries > 0 || badKeys.length > 0) {
      // A generator bug: never commit data that breaks the rules the triggers stand for.
      throw new Error(
        `seed verification failed: ${violations.unbalancedPostedEntries} unbalanced POSTED entries; foreign keys: ${badKeys.map(([k, n]) => `${k}=${n}`).join(', ') || 'ok'}`,
      );
    }
    // Deferred constraint triggers (mode `triggers`) run here.
    await phases.time('commit', () => client.query('COMMIT'));
    return { violations };
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    await client.query('DISCARD TEMP').catch(() => undefined);
  }
}

/** The seed on a given database (rehearse builds its synthetic snapshot with it); same checks and refusals as `dbops seed`. */
export async function seedDatabase(target: DbTarget, input: SeedOptions, ctx: Runtime): Promise<StepResult<SeedData>> {
  const started = performance.now();
  const phases = new Phases(ctx);
  const client = await connect(target, { log: ctx.log, applicationName: 'dbops seed' });
  const {
    rows: [{ pid } = { pid: 0 }],
  } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  // Ctrl-C: cancel the statement in flight from a second connection; the transaction then rolls back.
  const onAbort = () => {
    void withClient(target, { log: ctx.log, applicationName: 'dbops seed (cancel)' }, (c) => c.query('SELECT pg_cancel_backend($1)', [pid])).catch(
      () => undefined,
    );
  };
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  let locked = false;
  try {
    await client.query(`SET search_path TO ${quoteIdent(target.schema)}`);
    const where = `database \`${target.database}\`, schema \`${target.schema}\` at \`${target.host}:${target.port}\``;
    const gaps = await schemaGaps(client, target.schema);
    const missing = [
      ...gaps.missingTables.map((t) => `table ${t}`),
      ...gaps.missingColumns.map((c) => `column ${c}`),
      ...gaps.missingEnumLabels.map((l) => `enum value ${l}`),
    ];
    if (missing.length > 0) {
      throw new RefusedError(
        `The ${where} is not migrated to the AstroFinance schema (missing: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? `, … ${missing.length - 8} more` : ''}).`,
        {
          hint: 'Run `dbops migrate deploy` against this database first, then `dbops seed`.',
        },
      );
    }
    const {
      rows: [lock],
    } = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(${SEED_LOCK}) AS ok`);
    locked = lock?.ok === true;
    if (!locked) throw new RefusedError(`Another \`dbops seed\` is running against the ${where}.`, { hint: 'Wait for it to finish.' });
    const occupied = await tablesWithData(client);
    if (occupied.length > 0) {
      throw new RefusedError(`The ${where} already holds AstroFinance data (${occupied.join(', ')}); dbops seed only fills an empty, migrated schema.`, {
        hint: 'To start fresh, drop and recreate the database (or the schema), run `dbops migrate deploy`, then `dbops seed`.',
      });
    }
    const mode = await chooseLoadMode(client, target.schema);
    if (mode.kind === 'triggers') ctx.log.warn({ reason: mode.reason }, 'bulk load runs through every trigger (slower)');
    ctx.progress(`Seeding ${target.display} with seed ${input.seed}, scale ${input.scale}`);

    const { rows, bulk } = await phases.time('reference (build)', async () => buildReference(input.seed, input.scale));
    const { rows: existingCurrencies } = await client.query<{ code: string }>('SELECT "code" FROM "Currency"');
    const newCurrencies = rows.currencies.map((c) => c.code).filter((c) => !existingCurrencies.some((e) => e.code === c));
    // Prisma works in Node while PostgreSQL plans the volume: the two use different cores.
    const referenceWritten = (async () => {
      const prisma = await openPrisma(target);
      try {
        const reference = await phases.time(
          'reference (Prisma Client)',
          () => writeReference(prisma, rows),
          (r) => Object.values(r).reduce((a, b) => a + b, 0),
        );
        ctx.progress(
          `  reference data via Prisma Client: ${Object.entries(reference)
            .map(([t, n]) => `${t} ${n}`)
            .join(', ')}`,
        );
      } finally {
        await prisma.$disconnect();
      }
    })();
    referenceWritten.catch(() => undefined); // awaited below; this only keeps an early failure from being "unhandled"

    let load: BulkResult;
    try {
      load = await bulkLoad(client, input, target, bulk, mode, phases, ctx, referenceWritten);
    } catch (e) {
      const referenceError = await referenceWritten.then(
        () => undefined,
        (r: unknown) => r,
      );
      await removeReference(client, rows, newCurrencies).catch((cleanup: unknown) => {
        ctx.log.error(
          { err: String(cleanup) },
          'could not remove the reference data after the failed bulk phase; drop and recreate the database before seeding again',
        );
      });
      if (ctx.signal.aborted) throw new EnvError('Seed interrupted; the database is back to its state before the seed.', { cause: e });
      throw referenceError ?? e;
    }

    await phases.time('vacuum analyze', () => client.query(`VACUUM (ANALYZE) ${SEEDED_TABLES.map(quoteIdent).join(', ')}`));
    const { rows: counted } = await client.query<{ t: string; n: string }>(
      SEEDED_TABLES.map((t) => `SELECT ${quoteLiteral(t)} AS t, count(*) AS n FROM ${quoteIdent(t)}`).join(' UNION ALL '),
    );
    const counts = SEEDED_TABLES.map((t) => ({ t, n: counted.find((c) => c.t === t)?.n ?? '0' }));
    const triggersOn = await balanceTriggersEnabled(client, target.schema);
    const totalMs = Math.round(performance.now() - started);
    const lines = Number(counts.find((c) => c.t === 'JournalLine')?.n ?? 0);
    const data: SeedData = {
      datasource: { database: target.database, schema: target.schema, host: target.host, port: target.port },
      seed: input.seed,
      scale: input.scale,
      mode: mode.kind,
      ...(mode.kind === 'triggers' ? { modeReason: mode.reason } : {}),
      tables: counts.map((c) => ({ table: c.t, rows: Number(c.n) })),
      phases: phases.list,
      totalMs,
      journalLinesPerSecond: Math.round(lines / (totalMs / 1000)),
      checks: {
        unbalancedPostedEntries: load.violations.unbalancedPostedEntries,
        foreignKeyViolations: Object.values(load.violations.foreignKeys).reduce((a, b) => a + b, 0),
        balanceTriggersEnabled: triggersOn,
      },
    };
    return {
      verdict: triggersOn ? 'pass' : 'fail',
      findings: triggersOn
        ? []
        : [{ rule: 'seed/balance-triggers', severity: 'error', message: 'The journal balance triggers are missing or disabled after seeding.' }],
      data,
    };
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    if (locked) await client.query(`SELECT pg_advisory_unlock(${SEED_LOCK})`).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}

const num = (n: number) => n.toLocaleString('en-US');

export function renderSeed(result: StepResult<SeedData>): string {
  const d = result.data;
  const width = Math.max(...d.tables.map((t) => t.table.length), ...d.phases.map((p) => p.phase.length));
  let out = `\nSeeded database \`${d.datasource.database}\`, schema \`${d.datasource.schema}\` at \`${d.datasource.host}:${d.datasource.port}\` (seed ${d.seed}, scale ${d.scale})\n\n`;
  out += `  ${'TABLE'.padEnd(width)}  ${'ROWS'.padStart(11)}\n`;
  for (const t of d.tables) out += `  ${t.table.padEnd(width)}  ${num(t.rows).padStart(11)}\n`;
  out += `\n  ${'PHASE'.padEnd(width)}  ${'TIME'.padStart(11)}\n`;
  for (const p of d.phases) out += `  ${p.phase.padEnd(width)}  ${formatMs(p.ms).padStart(11)}\n`;
  out += `  ${'total'.padEnd(width)}  ${formatMs(d.totalMs).padStart(11)}   (${num(d.journalLinesPerSecond)} journal lines/s)\n\n`;
  out +=
    d.mode === 'verified'
      ? 'Loaded with triggers skipped for the load transaction only; balance and foreign keys re-checked before COMMIT: '
      : `Loaded through every trigger (${d.modeReason ?? ''}); `;
  out += `${d.checks.unbalancedPostedEntries} unbalanced posted entries, ${d.checks.foreignKeyViolations} dangling foreign keys; balance triggers ${d.checks.balanceTriggersEnabled ? 'enabled' : 'NOT ENABLED'}.\n`;
  return out;
}
