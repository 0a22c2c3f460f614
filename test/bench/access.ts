// What `dbops access audit` costs next to the raw catalog queries of an audit, on the bench server (issue 18):
// a database of its own with a schema of TABLES tables (a bigserial primary key each, so as many sequences) owned
// by an owner role, and ROLES roles of this run (a unique prefix; roles are cluster-wide): read-only and
// read-write roles on every table, roles on name patterns, a group with members. The grants match the policy
// (written as JSON to a temp policies folder) but for ~5 % of the tables, which get PUBLIC SELECT or an extra
// INSERT on purpose: the audit has findings to render.
// Timed: `./dbops access audit --json` (its own process; exit 1 on drift is its success here) against one
// `psql -X -q -o /dev/null -f audit.sql` process sending what readAccessFacts and surveyAccess send (facts.ts,
// in their order: the SETs, the head query, ACCESS_CATALOG_QUERIES with $1 = the managed schemas, SELECT now()).
// Best of BENCH_ACCESS_RUNS alternated runs. Goal: ≤ 1.5× psql. Also printed: start-up alone (./dbops --version),
// the command in-process (modules loaded), and its parts in-process: the survey (connect, readAccessFacts,
// auditAccess), readAccessFacts alone on an open connection, auditAccess alone (pure CPU).
// The roles are dropped at the end, even after a failure: REASSIGN OWNED / DROP OWNED in the bench database,
// then the database, then the roles.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createLogger } from '../../pipeline/core/logger.ts';
import { connect } from '../../pipeline/infra/db/client.ts';
import { parseDatabaseUrl, quoteIdent, quoteLiteral } from '../../pipeline/infra/db/url.ts';
import { findPgBinaries, pgTool } from '../../pipeline/infra/pg/binaries.ts';
import { ACCESS_CATALOG_QUERIES, auditAccess, readAccessFacts, surveyAccess, type AccessAudit } from '../../pipeline/operations/access/index.ts';
import { AccessPolicy } from '../../pipeline/policy/access.ts';
import { ROOT, dbops, testEnv } from '../helpers/cli.ts';
import { queryUrl } from '../helpers/db.ts';
import type { BenchResult } from './run.ts';
import { DBOPS, min, ms, ratio, timed, urlOf } from './common.ts';

const RUNS = Number(process.env['BENCH_ACCESS_RUNS'] ?? 5);
const TABLES = 1000;
const SCHEMA = 'app';
const GOAL = 1.5;

async function withPg<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const timedAudit = (args: string[], env: NodeJS.ProcessEnv) => timed(DBOPS, args, env, [0, 1]);

/** The roles of this run: `<prefix>owner` and 19 others. */
function roleNames(prefix: string) {
  const r = (n: string) => `${prefix}${n}`;
  return {
    owner: r('owner'),
    readOnly: [r('ro1'), r('ro2'), r('ro3')],
    readWrite: [r('rw1'), r('rw2'), r('rw3')],
    /** Each with SELECT on the tables matching its pattern. */
    patterns: [
      { role: r('p_t0'), pattern: 't0*' },
      { role: r('p_t1'), pattern: 't1*' },
      { role: r('p_t2x5'), pattern: 't2?5' },
      { role: r('p_t9'), pattern: 't9*' },
    ],
    group: r('readers'),
    members: [r('m1'), r('m2'), r('m3'), r('m4'), r('m5'), r('m6')],
    stats: r('stats'),
    nothing: r('idle'),
  };
}

type Roles = ReturnType<typeof roleNames>;
const allRoles = (x: Roles): string[] => [x.owner, ...x.readOnly, ...x.readWrite, ...x.patterns.map((p) => p.role), x.group, ...x.members, x.stats, x.nothing];
const tableName = (i: number) => `t${String(i).padStart(3, '0')}`;

/** The policy (JSON is YAML): what the set-up grants, drift left out. */
function policyOf(x: Roles): unknown {
  const connect = { on: 'database', privileges: ['CONNECT'] };
  const usage = { on: 'schema', schema: SCHEMA, privileges: ['USAGE'] };
  const roles: Record<string, unknown> = {
    [x.owner]: { description: 'owns the schema', login: true, grants: [{ on: 'database', privileges: ['CONNECT', 'TEMPORARY'] }] },
  };
  for (const r of x.readOnly)
    roles[r] = {
      grants: [connect, usage, { on: 'tables', schema: SCHEMA, privileges: ['SELECT'] }, { on: 'sequences', schema: SCHEMA, privileges: ['SELECT'] }],
    };
  for (const r of x.readWrite)
    roles[r] = {
      login: true,
      connection_limit: 50,
      grants: [
        connect,
        usage,
        { on: 'tables', schema: SCHEMA, privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'] },
        { on: 'sequences', schema: SCHEMA, privileges: ['USAGE', 'SELECT'] },
      ],
    };
  for (const { role, pattern } of x.patterns)
    roles[role] = { login: true, grants: [connect, usage, { on: 'tables', schema: SCHEMA, objects: [pattern], privileges: ['SELECT'] }] };
  roles[x.group] = { grants: [connect, usage, { on: 'tables', schema: SCHEMA, privileges: ['SELECT'] }] };
  for (const m of x.members) roles[m] = { login: true, member_of: [x.group] };
  roles[x.stats] = { login: true, member_of: ['pg_read_all_stats'], grants: [connect] };
  roles[x.nothing] = {};
  return { version: 1, owner: x.owner, schemas: [SCHEMA], roles };
}

/** What surveyAccess sends (readAccessFacts, then now()), one statement per round trip, $1 = the schemas. */
function auditQueries(schemas: string[]): string {
  const q = ACCESS_CATALOG_QUERIES;
  const array = `ARRAY[${schemas.map(quoteLiteral).join(', ')}]::text[]`;
  const bind = (sql: string) => `${sql.replaceAll('$1', array).trim()};`;
  return [
    `SET default_transaction_read_only = on; SET statement_timeout = '5min';`,
    `SELECT current_database() AS database, current_setting('server_version_num')::int AS version, current_user AS "user",
            (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser;`,
    bind(q.roles),
    bind(q.memberships),
    bind(q.database),
    bind(q.schemas),
    bind(q.relations),
    bind(q.functions),
    bind(q.defaults),
    'SELECT now();',
    '',
  ].join('\n');
}

export async function bench(): Promise<BenchResult> {
  const admin = process.env['BENCH_DATABASE_URL'];
  if (!admin) throw new Error('BENCH_DATABASE_URL is not set (run through `npm run bench`)');
  const tag = randomBytes(3).toString('hex');
  const database = `bench_access_${tag}`;
  const x = roleNames(`bench_${tag}_`);
  const roles = allRoles(x);
  const url = urlOf(admin, database);
  const dir = await mkdtemp(join(tmpdir(), 'dbops-bench-access-'));
  const psql = await pgTool(await findPgBinaries(), 'psql');
  const env = testEnv();
  const log = createLogger({ level: 'warn' });
  const q = quoteIdent;
  let databaseCreated = false;
  try {
    // ---- the roles, the database, the schema, the tables and their grants ------------------------------------
    await withPg(admin, async (c) => {
      for (const r of roles) {
        const login = [x.owner, ...x.readWrite, ...x.patterns.map((p) => p.role), ...x.members, x.stats].includes(r);
        await c.query(`CREATE ROLE ${q(r)} ${login ? 'LOGIN' : 'NOLOGIN'}${x.readWrite.includes(r) ? ' CONNECTION LIMIT 50' : ''}`);
      }
      for (const m of x.members) await c.query(`GRANT ${q(x.group)} TO ${q(m)}`);
      await c.query(`GRANT pg_read_all_stats TO ${q(x.stats)}`);
      await c.query(`CREATE DATABASE ${q(database)}`);
      databaseCreated = true;
    });
    await withPg(url, async (c) => {
      const connectors = roles.filter((r) => r !== x.owner && r !== x.nothing && !x.members.includes(r));
      await c.query(`REVOKE ALL ON DATABASE ${q(database)} FROM PUBLIC;
        GRANT CONNECT, TEMPORARY ON DATABASE ${q(database)} TO ${q(x.owner)};
        GRANT CONNECT ON DATABASE ${q(database)} TO ${connectors.map(q).join(', ')};
        CREATE SCHEMA ${q(SCHEMA)} AUTHORIZATION ${q(x.owner)};
        GRANT USAGE ON SCHEMA ${q(SCHEMA)} TO ${connectors
          .filter((r) => r !== x.stats)
          .map(q)
          .join(', ')};`);
      await c.query(`SET ROLE ${q(x.owner)}`);
      for (let i = 0; i < TABLES; i += 100) {
        const batch = Array.from({ length: 100 }, (_, k) => `CREATE TABLE ${SCHEMA}.${tableName(i + k)} (id bigserial PRIMARY KEY, v int, note text);`);
        await c.query(batch.join('\n'));
      }
      const all = `ALL TABLES IN SCHEMA ${q(SCHEMA)}`;
      const seqs = `ALL SEQUENCES IN SCHEMA ${q(SCHEMA)}`;
      await c.query(`GRANT SELECT ON ${all} TO ${[...x.readOnly, x.group].map(q).join(', ')};
        GRANT SELECT ON ${seqs} TO ${x.readOnly.map(q).join(', ')};
        GRANT SELECT, INSERT, UPDATE, DELETE ON ${all} TO ${x.readWrite.map(q).join(', ')};
        GRANT USAGE, SELECT ON ${seqs} TO ${x.readWrite.map(q).join(', ')};`);
      // The owner's default privileges, as the policy's grants on every table and sequence imply.
      const dp = `ALTER DEFAULT PRIVILEGES FOR ROLE ${q(x.owner)} IN SCHEMA ${q(SCHEMA)}`;
      await c.query(`${dp} GRANT SELECT ON TABLES TO ${[...x.readOnly, x.group].map(q).join(', ')};
        ${dp} GRANT SELECT ON SEQUENCES TO ${x.readOnly.map(q).join(', ')};
        ${dp} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${x.readWrite.map(q).join(', ')};
        ${dp} GRANT USAGE, SELECT ON SEQUENCES TO ${x.readWrite.map(q).join(', ')};
        ALTER DEFAULT PRIVILEGES FOR ROLE ${q(x.owner)} REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;`);
      const grants: string[] = [];
      for (const { role, pattern } of x.patterns) {
        const re = new RegExp(`^${pattern.replaceAll('*', '.*').replaceAll('?', '.')}$`);
        for (let i = 0; i < TABLES; i++) if (re.test(tableName(i))) grants.push(`GRANT SELECT ON ${SCHEMA}.${tableName(i)} TO ${q(role)};`);
      }
      // The drift, on purpose: 1 table in 20, alternately PUBLIC SELECT and an INSERT the policy does not grant.
      for (let i = 7; i < TABLES; i += 20)
        grants.push(
          i % 40 === 7 ? `GRANT SELECT ON ${SCHEMA}.${tableName(i)} TO PUBLIC;` : `GRANT INSERT ON ${SCHEMA}.${tableName(i)} TO ${q(x.readOnly[0]!)};`,
        );
      await c.query(grants.join('\n'));
      await c.query('RESET ROLE');
      await c.query('VACUUM ANALYZE');
    });

    // ---- the policy, the psql file ----------------------------------------------------------------------------
    const policies = join(dir, 'policies');
    await cp(join(ROOT, 'policies'), policies, { recursive: true });
    const policyValue = policyOf(x);
    await writeFile(join(policies, 'access.yaml'), `${JSON.stringify(policyValue, null, 2)}\n`);
    const policy = AccessPolicy.parse(policyValue);
    const queries = join(dir, 'audit.sql');
    await writeFile(queries, auditQueries(policy.schemas));
    const reportsDir = join(dir, 'reports');
    const args = ['access', 'audit', '--json', '--database-url', url, '--policies-dir', policies, '--reports-dir', reportsDir];

    // The bundle is rebuilt when a source changed (others edit pipeline/ meanwhile): never inside a timed run.
    const fresh = () => timed(DBOPS, ['--version'], env);
    const auditOnce = async () => {
      await fresh();
      const r = await timedAudit(args, env);
      const out = JSON.parse(r.stdout) as { verdict: string; data: AccessAudit };
      if ((r.code === 1) !== (out.verdict === 'fail')) throw new Error(`access audit exited ${r.code} with verdict ${out.verdict}`);
      return { ms: r.ms, data: out.data, bytes: Buffer.byteLength(r.stdout) };
    };
    const psqlOnce = async () => (await timed(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null', '-d', url, '-f', queries])).ms;

    // Untimed once each: the bundle, the page cache, the catalog caches.
    const first = await auditOnce();
    await psqlOnce();
    const timedDbops: number[] = [];
    const timedPsql: number[] = [];
    let last = first.data;
    let lastBytes = first.bytes;
    // Alternated, the order swapped every run, so a burst of foreign load hits both sides alike.
    for (let i = 0; i < RUNS; i++) {
      const pair = [
        async () => {
          const r = await auditOnce();
          timedDbops.push(r.ms);
          last = r.data;
          lastBytes = r.bytes;
        },
        async () => timedPsql.push(await psqlOnce()),
      ];
      for (const run of i % 2 ? pair.reverse() : pair) await run();
    }

    // In this process, modules loaded: the command, the survey, the facts alone, the audit alone.
    const inProcess: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      const out = await dbops(args, env);
      inProcess.push(performance.now() - t);
      if (out.code !== 0 && out.code !== 1) throw new Error(`access audit failed (exit ${out.code}):\n${out.all}`);
    }
    const target = parseDatabaseUrl(url);
    const survey: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      await surveyAccess(target, policy, { log });
      survey.push(performance.now() - t);
    }
    const factsOnly: number[] = [];
    const auditOnly: number[] = [];
    const client = await connect(target, { log, applicationName: 'dbops bench' });
    try {
      for (let i = 0; i < RUNS; i++) {
        let t = performance.now();
        const facts = await readAccessFacts(client, policy.schemas);
        factsOnly.push(performance.now() - t);
        t = performance.now();
        auditAccess(facts, policy, new Date());
        auditOnly.push(performance.now() - t);
      }
    } finally {
      await client.end().catch(() => undefined);
    }
    // BENCH_ACCESS_PROFILE=<dir>: one more audit under `node --cpu-prof`, its profile left in <dir>.
    const profileDir = process.env['BENCH_ACCESS_PROFILE'];
    if (profileDir) {
      await fresh();
      const t = performance.now();
      const child = spawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir', profileDir, DBOPS, ...args], { cwd: ROOT, env, stdio: 'ignore' });
      await new Promise((resolve, reject) => (child.on('error', reject), child.on('close', resolve)));
      process.stderr.write(`access bench: profiled run ${ms(performance.now() - t)} ms, profile in ${profileDir}\n`);
    }
    const startup: number[] = [];
    for (let i = 0; i < RUNS; i++) startup.push((await fresh()).ms);

    const byKind = new Map<string, number>();
    for (const f of last.findings) byKind.set(f.kind, (byKind.get(f.kind) ?? 0) + 1);
    const r = ratio(min(timedDbops), min(timedPsql));
    const met = min(timedDbops) / min(timedPsql) <= GOAL;
    const metrics: Record<string, number | string> = {
      'tables | sequences in the schema': `${TABLES} | ${TABLES}`,
      'roles of this run (cluster roles read by the audit)': `${roles.length} (${last.roles.length})`,
      'objects | privileges read (counts)': `${last.counts.objects} | ${last.counts.privileges}`,
      'findings (by kind)': `${last.findings.length} (${[...byKind].map(([k, n]) => `${k} ${n}`).join(', ')})`,
      'stdout of ./dbops access audit --json (bytes)': lastBytes,
      [`./dbops access audit --json, best of ${RUNS} (ms)`]: ms(min(timedDbops)),
      [`psql -X -q -f audit.sql (the same catalog queries, one session), best of ${RUNS} (ms)`]: ms(min(timedPsql)),
      'dbops / psql (×)': r,
      [`  ./dbops --version alone, best of ${RUNS} (ms)`]: ms(min(startup)),
      [`  access audit in-process (modules loaded), best of ${RUNS} (ms)`]: ms(min(inProcess)),
      [`  surveyAccess in-process (connect + readAccessFacts + auditAccess), best of ${RUNS} (ms)`]: ms(min(survey)),
      [`  readAccessFacts alone (open connection) | auditAccess alone, best of ${RUNS} (ms)`]: `${ms(min(factsOnly))} | ${ms(min(auditOnly))}`,
      'every run, dbops | psql (ms)': timedDbops.map((d, i) => `${ms(d)} | ${ms(timedPsql[i]!)}`).join(', '),
    };
    return {
      name: `access: ./dbops access audit vs psql running the same catalog queries (${TABLES} tables, ${roles.length} roles)`,
      metrics,
      goal: { description: `access audit ≤ ${GOAL}× psql running the same catalog queries (${met ? 'met' : 'NOT met'})`, met },
    };
  } finally {
    // Roles are cluster-wide: nothing of this run is left, even after a failure.
    // One role at a time, the owner last: DROP OWNED BY several roles at once fails ("could not find tuple for
    // default ACL") when one pg_default_acl entry names more than one of them.
    if (databaseCreated)
      await withPg(url, async (c) => {
        await c.query(`REASSIGN OWNED BY ${roles.map(q).join(', ')} TO CURRENT_USER`);
        for (const r of [...roles.filter((r) => r !== x.owner), x.owner]) await c.query(`DROP OWNED BY ${q(r)}`);
      }).catch((e: Error) => process.stderr.write(`access bench: cleaning ${database} up: ${e.message}\n`));
    await queryUrl(admin, `DROP DATABASE IF EXISTS ${q(database)} WITH (FORCE)`).catch((e: Error) =>
      process.stderr.write(`access bench: dropping ${database}: ${e.message}\n`),
    );
    for (const r of roles)
      await queryUrl(admin, `DROP ROLE IF EXISTS ${q(r)}`).catch((e: Error) => process.stderr.write(`access bench: dropping role ${r}: ${e.message}\n`));
    await rm(dir, { recursive: true, force: true });
  }
}
