import { noun } from '../../core/format.ts';
import type { StepResult } from '../../core/result.ts';
import type { DriftData } from './model.ts';

const MARK = { missing: '-', unexpected: '+', changed: '~' } as const;

export function renderDrift(result: StepResult<DriftData>): string {
  const d = result.data;
  const lines: string[] = [];
  if (d.schema.agree) lines.push(`✔ ${d.prismaSchema} and the ${d.migrations} migrations agree.`);
  else {
    lines.push(`✘ ${d.prismaSchema} differs from the schema the migrations build (${d.schema.models.join(', ') || 'see below'}):`);
    lines.push(...(d.schema.summary ?? '').split('\n').map((l) => `    ${l}`));
    lines.push(
      '  A migration would need:',
      ...(d.schema.script ?? '')
        .trimEnd()
        .split('\n')
        .map((l) => `    ${l}`),
    );
    lines.push('  Run `dbops migrate new --name <what changed>` to write it with its rollback.');
  }
  if (d.live) {
    const l = d.live;
    const ignored = l.ignored > 0 ? ` (${l.ignored} ignored by drift.ignore)` : '';
    if (l.unknown.length > 0) lines.push(`✘ ${l.database} records migrations the folder lacks: ${l.unknown.join(', ')}.`);
    else if (l.agree) lines.push(`✔ ${l.database} (schema ${l.schema}) has exactly the schema its ${l.applied.length} applied migrations build${ignored}.`);
    else {
      lines.push(
        `✘ ${l.database} (schema ${l.schema}) differs from the schema its ${l.applied.length} applied migrations build: ${l.items.length} ${noun(l.items.length, 'object')}${ignored}.`,
      );
      for (const item of l.items) {
        lines.push(`  ${MARK[item.change]} ${item.key}: ${item.change}`);
        if (item.expected) lines.push(`      expected: ${item.expected}`);
        if (item.actual) lines.push(`      found:    ${item.actual}`);
        if (item.restore.length > 0) lines.push('      restore:', ...item.restore.map((s) => `        ${s}`));
        else if (item.manual) lines.push(`      ${item.manual}`);
      }
    }
  } else lines.push('  (no database given: --database-url, DATABASE_URL or --environment compares a live database too)');
  if (d.evidence) {
    const outside = d.evidence.rows.filter((r) => r.status === 'outside');
    lines.push(
      outside.length === 0 && d.evidence.chain.ok
        ? `✔ Every change ${d.evidence.environment}'s _prisma_migrations records is explained by its evidence.`
        : `✘ ${d.evidence.environment}: ${outside.map((r) => `${r.migration} ${r.event} at ${r.at}`).join(', ') || 'no change'} outside the pipeline${d.evidence.chain.ok ? '' : `; the evidence chain is broken (${d.evidence.chain.firstProblem})`}.`,
    );
  }
  return `${lines.join('\n')}\n`;
}
