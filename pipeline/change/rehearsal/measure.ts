import type { Logger } from '../../core/logger.ts';
import type { Client } from '../../infra/db/client.ts';
import type { DbTarget } from '../../infra/db/url.ts';
import type { RehearsePolicy } from '../../policy/rehearse.ts';
import type { Executor, Outcome, Session, ExecutionPlan } from '../migrations/index.ts';
import { parseDuration } from '../../core/duration.ts';
import { ProbeWorkload } from './probes.ts';
import { LockSampler } from './sampler.ts';
import { resolveTables, type StatementRefs } from './statements.ts';
import { rowCounts, tableStats, type TableStat } from './tables.ts';
import { lockSpans, lockStrength, strongestLocks, summarizeProbe } from './timeline.ts';
import type { MigrationRehearsal } from './model.ts';

/** The executor calls `beforeCommit` of whatever is set here; rehearse sets it only while measuring. */
export interface ExecutorHooks {
  beforeCommit?: ((client: Client) => Promise<void>) | undefined;
}

export interface MeasureContext {
  session: Session;
  executor: Executor;
  hooks: ExecutorHooks;
  /** The clone: probes and the sampler open their own connections to it. */
  target: DbTarget;
  schema: string;
  log: Logger;
  policy: RehearsePolicy;
}

export interface MigrationToApply {
  name: string;
  script: string;
  plan: ExecutionPlan;
  refs: StatementRefs[];
}

export type Measurements = Pick<MigrationRehearsal, 'durationMs' | 'sampleIntervalMs' | 'samples' | 'touched' | 'locks' | 'timeline' | 'probes' | 'tables'>;

const unique = <T>(xs: T[]): T[] => [...new Set(xs)];
const round1 = (ms: number) => Math.round(ms * 10) / 10;

/**
 * Applies one migration with the executor while the lock sampler and the probes run, and turns what
 * they saw into measurements. With `measure: false` only the migration runs (the benchmark's baseline).
 */
export async function measureApply(
  ctx: MeasureContext,
  m: MigrationToApply,
  { measure = true }: { measure?: boolean } = {},
): Promise<{ outcome: Outcome; data: Measurements }> {
  const { session, schema, log, policy } = ctx;
  const client = session.client;
  const intervalMs = parseDuration(policy.sample_interval) ?? 25;
  const before = await tableStats(client, schema);
  const byName = new Map([...before.values()].map((t) => [t.name, t]));
  const touched = unique((await resolveTables(client, schema, unique(m.refs.flatMap((r) => r.relations)))).map((r) => r.table));
  const rowsBefore = await rowCounts(
    client,
    schema,
    touched.map((n) => byName.get(n)).filter((t): t is TableStat => t !== undefined),
  );

  let sampler: LockSampler | undefined;
  let probes: ProbeWorkload | undefined;
  try {
    if (measure) {
      probes = new ProbeWorkload(ctx.target, log, parseDuration(policy.probes.interval) ?? 25);
      await probes.connect(schema, touched.slice(0, policy.probes.max_tables));
      sampler = new LockSampler(ctx.target, log, { migrationPid: session.pid, probePids: probes.pids, intervalMs });
      await sampler.connect();
    }
    const t0 = performance.now();
    sampler?.start(t0);
    probes?.start(t0);
    const s = sampler;
    ctx.hooks.beforeCommit = s ? (c) => s.sampleOwn(c) : undefined;
    const outcome = await ctx.executor.apply(m.name, m.script, m.plan);
    const endMs = performance.now() - t0;
    ctx.hooks.beforeCommit = undefined;
    const samples = (await sampler?.stop()) ?? [];
    await probes?.stop();

    const after = await tableStats(client, schema);
    const nameOf = new Map<number, string>();
    for (const t of [...before.values(), ...after.values()]) nameOf.set(t.oid, t.name);
    const spans = lockSpans(samples, endMs).filter((sp) => nameOf.has(sp.oid));
    const strongest = strongestLocks(spans);

    const created = [...after.values()].filter((t) => !before.has(t.oid));
    const dropped = [...before.values()].filter((t) => !after.has(t.oid));
    const rewritten = [...after.values()].filter((t) => {
      const b = before.get(t.oid);
      return b !== undefined && b.relfilenode !== 0 && t.relfilenode !== 0 && b.relfilenode !== t.relfilenode;
    });
    const reported = unique([
      ...touched,
      ...[...strongest.keys()].map((oid) => nameOf.get(oid)!),
      ...rewritten.map((t) => t.name),
      ...created.map((t) => t.name),
      ...dropped.map((t) => t.name),
    ]);
    const afterByName = new Map([...after.values()].map((t) => [t.name, t]));
    const rowsAfter = await rowCounts(
      client,
      schema,
      reported.map((n) => afterByName.get(n)).filter((t): t is TableStat => t !== undefined),
    );
    const createdNames = new Set(created.map((t) => t.name));
    const rowsOf = (name: string): number | null => (createdNames.has(name) ? null : (rowsBefore.get(name) ?? byName.get(name)?.estimate ?? null));

    const data: Measurements = {
      durationMs: Math.round(endMs),
      sampleIntervalMs: measure ? intervalMs : 0,
      samples: samples.length,
      touched,
      locks: [...strongest.entries()]
        .map(([oid, l]) => ({ relation: nameOf.get(oid)!, mode: l.mode, heldMs: round1(l.heldMs), rows: rowsOf(nameOf.get(oid)!) }))
        .sort((a, b) => lockStrength(b.mode) - lockStrength(a.mode) || a.relation.localeCompare(b.relation)),
      timeline: spans.map((sp) => ({
        relation: nameOf.get(sp.oid)!,
        mode: sp.mode,
        granted: sp.granted,
        startMs: round1(sp.startMs),
        endMs: round1(sp.endMs),
      })),
      probes: (probes?.specs ?? []).map((p) => ({
        table: p.table,
        operation: p.operation,
        ...summarizeProbe(
          p.queries.filter((q) => q.startMs <= endMs),
          samples,
        ),
      })),
      tables: reported.map((name) => {
        const b = byName.get(name);
        const a = afterByName.get(name);
        return {
          relation: name,
          rewritten: rewritten.some((t) => t.name === name),
          rowsBefore: b ? rowsOf(name) : null,
          rowsAfter: a ? (rowsAfter.get(name) ?? null) : null,
          bytesBefore: b?.bytes ?? null,
          bytesAfter: a?.bytes ?? null,
        };
      }),
    };
    return { outcome, data };
  } finally {
    ctx.hooks.beforeCommit = undefined;
    await sampler?.close();
    await probes?.close();
  }
}
