import { parseDuration } from '../../core/duration.ts';
import type { QueriesPolicy } from '../../policy/queries.ts';
import type { StatementStat } from './facts.ts';
import type { QuerySnapshot } from './snapshot.ts';

/**
 * Statements compared across two snapshots of one database, pganalyze's reset-less way: every figure is the
 * difference of two cumulative counters keyed by (userid, queryid, toplevel) (dbid: one database per
 * snapshot). A reset of pg_stat_statements, or entries it evicted (dealloc), restarts counters: that is a
 * counter break, named as such, and never read as a regression.
 */

export const statementKey = (s: Pick<StatementStat, 'userid' | 'queryid' | 'toplevel'>): string => `${s.userid}:${s.queryid}:${s.toplevel ? 't' : 'n'}`;

/** One statement's executions between the two snapshots. */
export interface IntervalStatement {
  key: string;
  queryid: string;
  userid: number;
  toplevel: boolean;
  query: string;
  calls: number;
  totalMs: number;
  meanMs: number;
  rows: number;
  sharedBlksRead: number;
  /** max_exec_time since the counters started (not windowed: pg_stat_statements keeps only the cumulative maximum). */
  maxMsEver: number;
  /** Its counters restarted between the snapshots (a reset, an eviction): the figures are since the restart. */
  restarted: boolean;
  /** No entry in the earlier snapshot. */
  new: boolean;
}

export interface SlowStatement extends IntervalStatement {
  /** Not slow before: absent from the earlier snapshot, or its mean there was under the threshold. */
  newlySlow: boolean;
}

export interface Regression extends IntervalStatement {
  before: { calls: number; meanMs: number };
  ratio: number;
  increaseMs: number;
}

export interface CounterBreak {
  kind: 'reset' | 'dealloc' | 'other-database';
  message: string;
}

export interface StatementComparison {
  from: { at: string; label: string } | null;
  to: { at: string; label: string };
  breaks: CounterBreak[];
  /** Executions in the interval, all statements. */
  totals: { statements: number; calls: number; totalMs: number };
  slow: SlowStatement[];
  regressions: Regression[];
  top: IntervalStatement[];
  /** Statements first seen in this interval (none when there is no earlier snapshot, or after a reset: everything would be new). */
  newStatements: IntervalStatement[];
}

const round = (n: number): number => Math.round(n * 1000) / 1000;

function interval(now: StatementStat, before: StatementStat | undefined, restartedAll: boolean): IntervalStatement {
  const restarted = restartedAll || (before !== undefined && (now.calls < before.calls || now.totalExecMs < before.totalExecMs));
  const base = before && !restarted ? before : undefined;
  const calls = now.calls - (base?.calls ?? 0);
  const totalMs = now.totalExecMs - (base?.totalExecMs ?? 0);
  return {
    key: statementKey(now),
    queryid: now.queryid,
    userid: now.userid,
    toplevel: now.toplevel,
    query: now.query,
    calls,
    totalMs: round(totalMs),
    meanMs: calls > 0 ? round(totalMs / calls) : 0,
    rows: now.rows - (base?.rows ?? 0),
    sharedBlksRead: now.sharedBlksRead - (base?.sharedBlksRead ?? 0),
    maxMsEver: round(now.maxExecMs),
    restarted: before !== undefined && restarted,
    new: before === undefined,
  };
}

/** Why the earlier snapshot's counters do not continue into the later one's, if they do not. */
export function counterBreaks(before: QuerySnapshot, after: QuerySnapshot): CounterBreak[] {
  const breaks: CounterBreak[] = [];
  if (before.database !== after.database || (before.systemIdentifier && after.systemIdentifier && before.systemIdentifier !== after.systemIdentifier))
    breaks.push({
      kind: 'other-database',
      message: `the earlier snapshot (${before.at}) is of another database or cluster (${before.database}, system ${before.systemIdentifier ?? 'unknown'}): nothing is compared`,
    });
  const a = before.statementsInfo;
  const b = after.statementsInfo;
  if (a.statsReset !== b.statsReset && b.statsReset !== null)
    breaks.push({
      kind: 'reset',
      message: `pg_stat_statements was reset at ${b.statsReset}, between the snapshots: the interval's figures start at the reset, and no regression is judged`,
    });
  else if (a.dealloc !== null && b.dealloc !== null && b.dealloc !== a.dealloc)
    breaks.push({
      kind: 'dealloc',
      message: `pg_stat_statements evicted entries ${b.dealloc > a.dealloc ? b.dealloc - a.dealloc : b.dealloc} times between the snapshots (pg_stat_statements.max = ${b.max}): a statement whose counters went down restarted, and is not compared`,
    });
  return breaks;
}

/**
 * Compares `after` with `before` (null: the first snapshot, whose figures are everything since the counters
 * started). Pure: the policy's thresholds, nothing else.
 */
export function compareStatements(before: QuerySnapshot | null, after: QuerySnapshot, policy: QueriesPolicy): StatementComparison {
  const breaks = before ? counterBreaks(before, after) : [];
  const unrelated = breaks.some((b) => b.kind === 'other-database');
  const reset = unrelated || breaks.some((b) => b.kind === 'reset');
  const earlier = new Map<string, StatementStat>(before && !unrelated ? before.statements.map((s) => [statementKey(s), s]) : []);
  const slowMean = parseDuration(policy.slow.mean) ?? 500;
  const rule = policy.regression;
  const minIncrease = parseDuration(rule.min_increase) ?? 50;

  const rows = after.statements.map((s) => ({ now: interval(s, earlier.get(statementKey(s)), reset), before: earlier.get(statementKey(s)) }));
  const active = rows.filter((r) => r.now.calls > 0);
  const slow: SlowStatement[] = active
    .filter((r) => r.now.calls >= policy.slow.min_calls && r.now.totalMs / r.now.calls >= slowMean)
    .map((r) => ({ ...r.now, newlySlow: !r.before || r.before.calls === 0 || r.before.totalExecMs / r.before.calls < slowMean }))
    .sort((x, y) => y.meanMs - x.meanMs);
  const regressions: Regression[] = [];
  if (before && !reset)
    for (const { now, before: b } of active) {
      if (!b || now.restarted || b.calls < rule.min_calls || now.calls < rule.min_calls) continue;
      const beforeMean = b.totalExecMs / b.calls;
      if (now.meanMs >= beforeMean * rule.ratio && now.meanMs - beforeMean >= minIncrease)
        regressions.push({
          ...now,
          before: { calls: b.calls, meanMs: round(beforeMean) },
          ratio: beforeMean > 0 ? round(now.meanMs / beforeMean) : Infinity,
          increaseMs: round(now.meanMs - beforeMean),
        });
    }
  regressions.sort((x, y) => y.increaseMs * y.calls - x.increaseMs * x.calls);
  const top = [...active]
    .map((r) => r.now)
    .sort((x, y) => y.totalMs - x.totalMs)
    .slice(0, policy.top);
  const newStatements = before && !reset ? active.filter((r) => r.now.new).map((r) => r.now) : [];
  return {
    from: before ? { at: before.at, label: before.label } : null,
    to: { at: after.at, label: after.label },
    breaks,
    totals: {
      statements: active.length,
      calls: active.reduce((n, r) => n + r.now.calls, 0),
      totalMs: round(active.reduce((n, r) => n + r.now.totalMs, 0)),
    },
    slow,
    regressions,
    top,
    newStatements: newStatements.sort((x, y) => y.totalMs - x.totalMs),
  };
}
