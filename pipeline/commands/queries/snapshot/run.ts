import type { StepContext } from '../../../cli/contract.ts';
import { plural } from '../../../core/format.ts';
import type { Finding, StepResult } from '../../../core/result.ts';
import { recordSnapshot, type QueriesSnapshotData } from '../../../operations/queries/index.ts';
import { queriesTarget } from '../../flags.ts';
import type { QueriesSnapshotInputs } from './spec.ts';

/** `dbops queries snapshot`: stores one snapshot; an unreadable replica is a warning. */
export async function run(input: QueriesSnapshotInputs, ctx: StepContext): Promise<StepResult<QueriesSnapshotData>> {
  const { queries } = await ctx.policies('queries');
  const target = await queriesTarget(input, ctx);
  const { snapshot, stored } = await recordSnapshot(target, queries.value, { label: input.label }, ctx);
  const findings: Finding[] = snapshot.unreachable.map((u) => ({
    rule: 'queries/replica-unreachable',
    severity: 'warning',
    message: `replica ${u.node} could not be read (${u.reason}): its index scans are missing from this snapshot`,
  }));
  const data: QueriesSnapshotData = {
    database: snapshot.database,
    environment: snapshot.environment,
    at: snapshot.at,
    label: snapshot.label,
    stored,
    statements: snapshot.statements.length,
    tables: snapshot.tables.length,
    indexes: snapshot.indexes.length,
    nodes: snapshot.nodes.map((n) => n.node),
    unreachable: snapshot.unreachable,
    statementsInfo: snapshot.statementsInfo,
  };
  return { verdict: findings.length > 0 ? 'warn' : 'pass', findings, data };
}

export function render(result: StepResult<QueriesSnapshotData>): string {
  const d = result.data;
  const lines = [
    `Snapshot of ${d.database} at ${d.at} (${d.label}): ${plural(d.statements, 'statement')} (pg_stat_statements ${d.statementsInfo.version}, track ${d.statementsInfo.track}), ${plural(d.tables, 'table')}, ${plural(d.indexes, 'index', 'indexes')}; index scans of ${d.nodes.join(', ')}.`,
    ...d.stored.map((s) => `  stored ${s.place === 'local' ? 'locally' : 'beside the evidence'}: ${s.location} ${s.key}`),
  ];
  for (const u of d.unreachable) lines.push(`  replica ${u.node} could not be read: ${u.reason}`);
  return `${lines.join('\n')}\n`;
}
