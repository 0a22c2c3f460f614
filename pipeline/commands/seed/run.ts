import type { z } from 'zod';
import type { StepContext } from '../../cli/contract.ts';
import type { StepResult } from '../../core/result.ts';
import { seedDatabase, type SeedData } from '../../seed/index.ts';
import type { SeedInputs } from './spec.ts';
import { formatMs } from '../../core/format.ts';

/** `dbops seed` on --database-url, DATABASE_URL or the embedded cluster; the seed itself is seed/'s. */
export async function run(input: z.output<typeof SeedInputs>, ctx: StepContext): Promise<StepResult<SeedData>> {
  return seedDatabase(await ctx.database(), input, ctx);
}

const num = (n: number) => n.toLocaleString('en-US');

export function render(result: StepResult<SeedData>): string {
  const d = result.data;
  const width = Math.max(...d.tables.map((t) => t.table.length), ...d.phases.map((p) => p.phase.length));
  let out = `\nSeeded database \`${d.datasource.database}\`, schema \`${d.datasource.schema}\` at \`${d.datasource.host}:${d.datasource.port}\` (seed ${d.seed}, scale ${d.scale})\n\n`;
  out += `  ${'TABLE'.padEnd(width)}  ${'ROWS'.padStart(11)}\n`;
  for (const t of d.tables) out += `  ${t.table.padEnd(width)}  ${num(t.rows).padStart(11)}\n`;
  out += `\n  ${'PHASE'.padEnd(width)}  ${'TIME'.padStart(11)}\n`;
  for (const p of d.phases) out += `  ${p.phase.padEnd(width)}  ${formatMs(p.ms).padStart(11)}\n`;
  out += `  ${'total'.padEnd(width)}  ${formatMs(d.totalMs).padStart(11)}   (${num(d.journalLinesPerSecond)} journal lines/s)\n\n`;
  out += d.mode === 'verified'
    ? 'Loaded with triggers skipped for the load transaction only; balance and foreign keys re-checked before COMMIT: '
    : `Loaded through every trigger (${d.modeReason ?? ''}); `;
  out += `${d.checks.unbalancedPostedEntries} unbalanced posted entries, ${d.checks.foreignKeyViolations} dangling foreign keys; balance triggers ${d.checks.balanceTriggersEnabled ? 'enabled' : 'NOT ENABLED'}.\n`;
  return out;
}
