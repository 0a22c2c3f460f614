import { formatMs, plural } from '../../core/format.ts';
import type { StepResult } from '../../core/result.ts';
import type { SnapshotMaskData } from './model.ts';

/** The terminal summary of `dbops snapshot mask`: what was masked, what the proof found, where it went. Never a value. */
export function renderSnapshotMask(result: StepResult<SnapshotMaskData>): string {
  const d = result.data;
  const lines = [
    `Backup ${d.backup.id} (database ${d.backup.database}, taken ${d.backup.takenAt}) from target ${d.backup.target}, restored into ${d.scratch}`,
    ...d.columns.map((c) => `  ${`${c.table}.${c.column}`.padEnd(40)} ${c.rule.padEnd(18)} ${plural(c.rows, 'row')}`),
    `  scan: ${plural(d.scan.columns, 'text-like column')} searched for ${plural(d.scan.values, 'original value')}: ${d.scan.hits.length === 0 ? 'none left' : `${plural(d.scan.hits.length, 'column')} still hold some`}`,
    ...d.scan.hits.map((h) => `    ✗ ${h.table}.${h.column}: ${plural(h.cells, 'cell')} (values of ${h.from.join(', ')})`),
    `  checks: ${plural(d.checks.length, 'check')} (${d.checks.filter((c) => c.kind === 'foreign-key').length} foreign keys), ${d.checks.filter((c) => c.violations > 0).length} failed`,
    ...d.checks.filter((c) => c.violations > 0).map((c) => `    ✗ ${c.kind} ${c.name}: ${plural(c.violations, 'row')}`),
    ...d.phases.map((p) => `  ${p.name.padEnd(20)} ${formatMs(p.durationMs)}`),
    '',
    d.template.installed
      ? `Installed the masked snapshot ${d.template.database} on ${d.template.server}${d.template.replaced ? ` (replacing the one of backup ${d.template.replaced})` : ''}; masking policy sha256 ${d.policySha256.slice(0, 12)}. \`dbops rehearse --snapshot masked\` clones it.`
      : `FAILED: nothing was installed; ${d.template.database} on ${d.template.server} is unchanged.`,
  ];
  return `${lines.join('\n')}\n`;
}
