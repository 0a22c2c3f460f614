import { ConfigError } from '../../core/errors.ts';
import { type Client, isPgError } from '../../infra/db/client.ts';
import type { z } from 'zod';
import type { PlanSummary } from './model.ts';

export interface WorkloadQuery {
  name: string;
  sql: string;
  /** 1-based line of its `-- name:` marker. */
  line: number;
}

const NAME = /^--\s*name:\s*(.*?)\s*$/;
const VALID_NAME = /^[A-Za-z0-9_.-]+$/;

/**
 * `policies/workload.sql`: blocks that start with `-- name: <name>`; the SQL up to the next marker is
 * the query (comments allowed). Text before the first marker is a preamble and ignored.
 */
export function parseWorkload(text: string, file: string): WorkloadQuery[] {
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  const queries: WorkloadQuery[] = [];
  const problems: string[] = [];
  let current: { name: string; line: number; body: string[] } | undefined;
  const flush = () => {
    if (!current) return;
    const sql = current.body.join('\n').trim().replace(/;\s*$/, '');
    const code = sql
      .replace(/'(?:[^']|'')*'/g, "''")
      .replace(/--.*$/gm, '')
      .trim();
    if (!VALID_NAME.test(current.name)) problems.push(`${file}:${current.line}: "${current.name}" is not a valid query name (letters, digits, _ . - only)`);
    else if (queries.some((q) => q.name === current!.name)) problems.push(`${file}:${current.line}: the name "${current.name}" is used twice`);
    else if (code === '') problems.push(`${file}:${current.line}: "${current.name}" has no SQL`);
    else if (/;\s*\S/.test(code)) problems.push(`${file}:${current.line}: "${current.name}" holds more than one statement`);
    else queries.push({ name: current.name, sql, line: current.line });
  };
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    const m = NAME.exec(line);
    if (m) {
      flush();
      current = { name: m[1] ?? '', line: i + 1, body: [] };
    } else current?.body.push(line);
  });
  flush();
  if (problems.length > 0)
    throw new ConfigError(`The workload file is malformed:\n  - ${problems.join('\n  - ')}`, {
      hint: 'Each query starts with a line `-- name: <name>` followed by one SQL statement.',
    });
  return queries;
}

type PlanNode = Record<string, unknown> & { Plans?: PlanNode[] };

/** The plan's shape: node types with their join type, strategy, relation and index, one node per line, indented by depth. */
export function planShape(node: PlanNode, depth = 0): string {
  const parts = [String(node['Node Type'])];
  if (node['Join Type']) parts.push(`(${String(node['Join Type'])})`);
  if (node['Strategy'] && node['Strategy'] !== 'Plain') parts.push(`[${String(node['Strategy'])}]`);
  if (node['Relation Name']) parts.push(`on ${String(node['Relation Name'])}`);
  if (node['Index Name']) parts.push(`using ${String(node['Index Name'])}`);
  if (node['Subplan Name']) parts.push(`<${String(node['Subplan Name'])}>`);
  return [`${'  '.repeat(depth)}${parts.join(' ')}`, ...(node.Plans ?? []).map((p) => planShape(p, depth + 1))].join('\n');
}

export type PlanResult = z.output<typeof PlanSummary>;

/**
 * EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) of every query: one warm-up run, then `runs` measured runs of
 * which the fastest counts (the least disturbed by everything else on the machine). Each query runs in a
 * transaction that is rolled back, so a workload query can never change the clone.
 */
export async function runWorkload(
  client: Client,
  queries: WorkloadQuery[],
  runs: number,
  signal: AbortSignal,
): Promise<Map<string, PlanResult | { error: string }>> {
  const out = new Map<string, PlanResult | { error: string }>();
  // No JIT: its compile time is noise that differs between runs, not a property of the plan.
  await client.query(`SET jit = off; SET statement_timeout = '5min'`);
  for (const q of queries) {
    if (signal.aborted) break;
    let best: PlanResult | undefined;
    try {
      await client.query('BEGIN');
      for (let i = 0; i <= runs; i++) {
        const { rows } = await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode; 'Execution Time': number }> }>(
          `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${q.sql}`,
        );
        const top = rows[0]!['QUERY PLAN'][0]!;
        const result: PlanResult = {
          ms: Math.round(top['Execution Time'] * 1000) / 1000,
          shape: planShape(top.Plan),
          totalCost: Number(top.Plan['Total Cost'] ?? 0),
          sharedHit: Number(top.Plan['Shared Hit Blocks'] ?? 0),
          sharedRead: Number(top.Plan['Shared Read Blocks'] ?? 0),
        };
        if (i > 0 && (!best || result.ms < best.ms)) best = result;
      }
      out.set(q.name, best!);
    } catch (e) {
      out.set(q.name, { error: isPgError(e) ? `${e.code}: ${e.message}` : (e as Error).message });
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
    }
  }
  await client.query('RESET jit; RESET statement_timeout').catch(() => undefined);
  return out;
}
