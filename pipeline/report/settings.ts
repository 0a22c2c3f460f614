import { alignedTable } from '../core/format.ts';
import type { Finding } from '../core/result.ts';
import type { SettingCheck } from '../operations/settings/index.ts';

/** How `settings check` and `settings apply` show the settings: status, values, source, and the fix when one is needed. */

const STATUS_LABEL: Record<SettingCheck['status'], string> = {
  ok: 'ok',
  drift: 'DRIFT',
  'pending-restart': 'RESTART',
  unknown: 'UNKNOWN',
  invalid: 'INVALID',
};

export function settingsTable(checks: SettingCheck[]): string[] {
  const rows = checks.map((c) => [STATUS_LABEL[c.status], c.name, c.value, c.server ?? '–', c.source]);
  const lines = alignedTable(['STATUS', 'SETTING', 'WANTED', 'SERVER', 'SOURCE'], rows);
  const advice = checks.filter((c) => c.advice && c.advice.value !== c.value);
  if (advice.length > 0) {
    lines.push('', 'Declared values that differ from the advice (the declared value wins):');
    for (const c of advice) lines.push(`  ${c.name} = ${c.value}; advice ${c.advice!.value}: ${c.advice!.rule}`);
  }
  const todo = checks.filter((c) => c.status !== 'ok');
  if (todo.length > 0) {
    lines.push('', 'To do:');
    for (const c of todo) lines.push(`  ${c.name}: ${c.problem ?? c.status}${c.fix ? `. Fix: ${c.fix}` : ''}`);
  }
  return lines;
}

/** Drift, unknown and invalid settings are errors; a value waiting for a restart is a warning. */
export function settingFindings(checks: SettingCheck[]): Finding[] {
  return checks
    .filter((c) => c.status !== 'ok')
    .map((c) => ({
      rule: `settings/${c.status}`,
      severity: c.status === 'pending-restart' ? ('warning' as const) : ('error' as const),
      message: `${c.name}: ${c.problem ?? c.status} (wanted ${c.value}, from ${c.source})`,
      ...(c.fix ? { help: c.fix } : {}),
    }));
}
