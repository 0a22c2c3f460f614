// What masking costs next to the same UPDATEs run by psql, on the synthetic AstroFinance dataset (scale 1)
// in the same run. A seeded database is backed up and verified; `./dbops snapshot mask` (its own process,
// restoring and masking on the bench server through --scratch-url, the template on the same server) masks
// it, and its report times each phase. The raw side restores the same backup once, then copies it (FILE_COPY)
// for each run and sends the statements dbops runs in its masking phase (the key setting, the helper
// function, BEGIN, session_replication_role, one UPDATE per table, COMMIT) to `psql -X -f` in one session.
// Goal: dbops's masking phase ≤ 1.2 × psql's. The other phases (restore, the scan, the checks, the dump and
// load into the template) are printed beside it: they are the proof and the transport, with no psql twin.
import { createHmac } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { readFileSync } from 'node:fs';
import { generateX25519Identity, identityToRecipient } from '../../pipeline/infra/crypto/age.ts';
import { findPgBinaries, pgTool } from '../../pipeline/infra/pg/binaries.ts';
import { pgEnv } from '../../pipeline/infra/db/libpq.ts';
import { parseDatabaseUrl } from '../../pipeline/infra/db/url.ts';
import { MaskingPolicy } from '../../pipeline/policy/masking.ts';
import { columnFacts, planMasking } from '../../pipeline/protection/masking/plan.ts';
import { SESSION_FUNCTIONS } from '../../pipeline/protection/masking/rules.ts';
import type { SnapshotMaskData } from '../../pipeline/protection/masking/index.ts';
import { dbops, ROOT, testEnv } from '../helpers/cli.ts';
import type { BenchResult } from './run.ts';
import { DBOPS, min, ms, ratio, timed, urlOf, withPg } from './common.ts';

const SCALE = process.env['BENCH_MASK_SCALE'] ?? '1';
const RUNS = Number(process.env['BENCH_MASK_RUNS'] ?? 2);
const GOAL = 1.2;
const SEED = 'bench-masking-seed-0123456789abcdef';

export async function bench(): Promise<BenchResult> {
  const admin = process.env['BENCH_DATABASE_URL']!;
  const dir = await mkdtemp(join(tmpdir(), 'dbops-bench-mask-'));
  const policiesDir = join(dir, 'policies');
  const identity = await generateX25519Identity();
  const env = testEnv({ DBOPS_BACKUP_IDENTITY: identity, DBOPS_MASKING_SEED: SEED, DBOPS_LOG_LEVEL: 'warn' });
  const src = 'bench_mask_src';
  const rawBase = 'bench_mask_raw';
  try {
    await withPg(admin, async (c) => {
      for (const db of [src, rawBase, 'bench_masked']) await c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await c.query(`CREATE DATABASE ${src}`);
    });
    const srcUrl = urlOf(admin, src);
    for (const args of [
      ['migrate', 'deploy', '--database-url', srcUrl],
      ['seed', '--database-url', srcUrl, '--scale', SCALE],
    ]) {
      const r = await dbops(args, testEnv());
      if (r.code !== 0) throw new Error(r.all);
    }
    await mkdir(policiesDir);
    await mkdir(join(dir, 'backups'));
    await writeFile(
      join(policiesDir, 'backups.yaml'),
      YAML.stringify({
        version: 1,
        encryption: { recipients: [{ name: 'bench', key: await identityToRecipient(identity) }] },
        targets: { local: { type: 'directory', path: join(dir, 'backups'), primary: true } },
      }),
    );
    const masking = YAML.parse(readFileSync(join(ROOT, 'policies', 'masking.yaml'), 'utf8')) as Record<string, any>;
    masking['snapshot'] = { location: 'local', database: 'bench_masked' };
    await writeFile(join(policiesDir, 'masking.yaml'), YAML.stringify(masking));
    const flags = ['--policies-dir', policiesDir, '--reports-dir', join(dir, 'reports')];
    for (const args of [
      ['backup', 'create', '--database-url', srcUrl],
      ['backup', 'verify', '--latest'],
    ]) {
      const r = await dbops([...args, ...flags], env);
      if (r.code !== 0) throw new Error(r.all);
    }

    // dbops: the whole command, its own process; the report times the masking phase.
    const runs: Array<{ wallMs: number; phases: Record<string, number> }> = [];
    for (let i = 0; i < RUNS; i++) {
      const run = await timed(DBOPS, ['snapshot', 'mask', '--latest', '--scratch-url', admin, '--database-url', admin, '--json', ...flags], env);
      const data = (JSON.parse(run.stdout) as { data: SnapshotMaskData }).data;
      runs.push({ wallMs: run.ms, phases: Object.fromEntries(data.phases.map((p) => [p.name, p.durationMs])) });
    }

    // psql: the same backup restored once, copied per run, the same statements in one session.
    const restored = await dbops(['backup', 'restore', '--latest', '--target-url', urlOf(admin, rawBase), ...flags], env);
    if (restored.code !== 0) throw new Error(restored.all);
    const policy = MaskingPolicy.parse(masking);
    const plan = await withPg(urlOf(admin, rawBase), async (c) => planMasking(policy, await columnFacts(c), policy.scan.min_length).plan);
    const key = createHmac('sha256', SEED).update('dbops masking v1').digest('hex');
    const script = join(dir, 'mask.sql');
    await writeFile(
      script,
      [
        `SELECT set_config('dbops.mask_key', '${key}', false);`,
        SESSION_FUNCTIONS,
        'BEGIN;',
        'SET LOCAL session_replication_role = replica;',
        ...plan.tables.map((t) => `${t.sql};`),
        'COMMIT;',
        '',
      ].join('\n'),
    );
    const psql = await pgTool(await findPgBinaries(), 'psql');
    const raw: number[] = [];
    for (let i = 0; i < 3; i++) {
      const copy = `bench_mask_raw_${i}`;
      await withPg(admin, (c) =>
        c.query(`DROP DATABASE IF EXISTS ${copy} WITH (FORCE)`).then(() => c.query(`CREATE DATABASE ${copy} TEMPLATE ${rawBase} STRATEGY FILE_COPY`)),
      );
      raw.push((await timed(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', script], pgEnv(parseDatabaseUrl(urlOf(admin, copy)), process.env, 'bench'))).ms);
      await withPg(admin, (c) => c.query(`DROP DATABASE ${copy} WITH (FORCE)`));
    }

    const maskMs = min(runs.map((r) => r.phases['mask'] ?? Infinity));
    const psqlMs = min(raw);
    const r = ratio(maskMs, psqlMs);
    const phase = (name: string) => ms(min(runs.map((x) => x.phases[name] ?? 0)));
    return {
      name: `snapshot mask, scale ${SCALE} (${plan.tables.map((t) => `${t.table}: ${t.columns.length}`).join(', ')} masked columns)`,
      metrics: {
        'dbops masking phase (ms, best of runs)': ms(maskMs),
        'psql -f the same statements (ms, best of 3)': ms(psqlMs),
        'ratio (masking / psql)': r,
        'dbops whole command (s, best)': Number((min(runs.map((x) => x.wallMs)) / 1000).toFixed(1)),
        'restore into scratch (ms)': phase('restore'),
        'collect originals (ms)': phase('collect originals'),
        'scan (ms)': phase('scan'),
        'checks (ms)': phase('checks'),
        'dump (ms)': phase('dump'),
        'load into the template (ms)': phase('load'),
        'install (ms)': phase('install'),
      },
      goal: { description: `masking phase ≤ ${GOAL} × the same UPDATEs in one psql session`, met: r <= GOAL },
    };
  } finally {
    await withPg(admin, async (c) => {
      for (const db of [src, rawBase, 'bench_masked']) await c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
