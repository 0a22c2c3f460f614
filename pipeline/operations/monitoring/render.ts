import type { StepResult } from '../../core/result.ts';
import type { MonitorCheckData } from './model.ts';

const MARK: Record<string, string> = { ok: 'ok', warning: 'WARNING', critical: 'CRITICAL', 'not-configured': 'not configured', unknown: 'unknown' };

/** The terminal table of `dbops monitor check`: one line per check. */
export function renderMonitorCheck(result: StepResult<MonitorCheckData>): string {
  const d = result.data;
  const width = Math.max(...d.checks.map((c) => c.check.length));
  const lines = [
    `${d.database}${d.environment ? ` (environment ${d.environment})` : ''} at ${d.at}`,
    ...d.checks.map((c) => `  ${c.check.padEnd(width)}  ${(MARK[c.status] ?? c.status).padEnd(14)}  ${c.summary}`),
    '',
    `${d.counts.critical} critical, ${d.counts.warning} warning, ${d.counts.ok} ok, ${d.counts.notConfigured} not configured, ${d.counts.unknown} unknown.`,
  ];
  const a = d.alerts;
  if (a) {
    const list = (names: string[]) => (names.length > 0 ? names.join(', ') : 'none');
    lines.push(
      `Alerts: opened ${list(a.opened)}; closed ${list(a.closed)}; open ${list(a.open)}${a.dryRun ? ' (dry run: nothing sent, state unchanged)' : a.muted ? ` (muted: ${a.mutedReason ?? 'maintenance window'}; recorded, not sent)` : ''}.`,
      ...a.deliveries.map((x) => `  ${x.route} ${x.action} ${x.check}: ${x.status}${x.target ? ` (${x.target})` : ''}${x.reason ? `: ${x.reason}` : ''}`),
    );
  }
  return `${lines.join('\n')}\n`;
}
