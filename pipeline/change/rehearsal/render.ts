import { blocks } from './timeline.ts';
import { formatBytes, formatMs, formatShortMs, plural } from '../../core/format.ts';
import { type StepResult } from '../../core/result.ts';
import { type MigrationRehearsal, type RehearseData } from './model.ts';
import type { MaskedSnapshot } from '../../protection/masking/index.ts';

const num = (n: number) => n.toLocaleString('en-US');
const fmt = formatShortMs;

function locksLine(m: MigrationRehearsal): string[] {
  if (m.locks.length === 0) return [`  locks     none seen${m.samples === 0 ? ' (no sample: faster than one sampling interval)' : ''}`];
  const width = Math.max(...m.locks.map((l) => l.relation.length));
  return m.locks
    .slice(0, 6)
    .map(
      (l, i) =>
        `  ${i === 0 ? 'locks   ' : '        '}  ${l.relation.padEnd(width)}  ${l.mode.padEnd(24)} ${formatMs(l.heldMs).padStart(9)}  ${l.rows === null ? 'new table' : `${num(l.rows)} rows`}, ${blocks(l.mode)}`,
    )
    .concat(m.locks.length > 6 ? [`            … ${m.locks.length - 6} more`] : []);
}

function probesLine(m: MigrationRehearsal): string[] {
  if (m.probes.length === 0) return ['  probes    none (no existing table touched)'];
  const tables = [...new Set(m.probes.map((p) => p.table))];
  const width = Math.max(...tables.map((t) => t.length));
  return tables.map((t, i) => {
    const ps = m.probes.filter((p) => p.table === t);
    const parts = ps.map((p) => `${p.operation} p95 ${fmt(p.p95Ms)} (${plural(p.samples, 'query', 'queries')}${p.errors ? `, ${p.errors} failed` : ''})`);
    const blocked = Math.max(...ps.map((p) => p.maxBlockedMs));
    return `  ${i === 0 ? 'probes  ' : '        '}  ${t.padEnd(width)}  ${parts.join(' · ')} · max blocked ${fmt(blocked)}`;
  });
}

function tablesLine(m: MigrationRehearsal): string[] {
  const changed = m.tables.filter((t) => t.rewritten || t.rowsBefore !== t.rowsAfter || t.bytesBefore !== t.bytesAfter);
  if (changed.length === 0) return ['  tables    no rewrite, no size change'];
  return changed.map((t, i) => {
    const rows =
      t.rowsBefore === null
        ? `new, ${num(t.rowsAfter ?? 0)} rows`
        : t.rowsAfter === null
          ? `dropped (${num(t.rowsBefore)} rows)`
          : t.rowsBefore === t.rowsAfter
            ? `${num(t.rowsBefore)} rows`
            : `${num(t.rowsBefore)} → ${num(t.rowsAfter)} rows`;
    const bytes =
      t.bytesBefore !== null && t.bytesAfter !== null && t.bytesBefore !== t.bytesAfter
        ? ` · ${formatBytes(t.bytesBefore)} → ${formatBytes(t.bytesAfter)}`
        : '';
    return `  ${i === 0 ? 'tables  ' : '        '}  ${t.relation}: ${rows}${bytes}${t.rewritten ? ' · REWRITTEN' : ''}`;
  });
}

function rollbackLine(m: MigrationRehearsal): string {
  const r = m.rollback;
  const reapply = {
    matched: 're-apply matched',
    mismatch: 're-apply MISMATCH',
    failed: `re-apply FAILED${r.reapplyError ? `: ${r.reapplyError}` : ''}`,
    'not-run': '',
  }[r.reapply];
  const took = r.durationMs !== undefined ? ` in ${formatMs(r.durationMs)}` : '';
  const head = {
    proven: `proven${took} (schema equal to before)`,
    mismatch: `MISMATCH${took}: schema differs from before`,
    irreversible: `irreversible (${r.reason ?? ''}), not run`,
    failed: `FAILED${took}: ${r.reason ?? ''}`,
    missing: 'MISSING',
    'not-run': 'not run',
  }[r.status];
  return `  rollback  ${head}${reapply ? ` · ${reapply}` : ''}`;
}

function migrationBlock(m: MigrationRehearsal): string {
  if (m.status === 'not-run') return `${m.name}\n  not rehearsed: ${m.error ?? ''}\n`;
  const head = `${m.name}   ${m.mode} · ${m.status === 'applied' ? 'applied' : 'FAILED'} in ${formatMs(m.durationMs)} · ${plural(m.samples, 'lock sample')}${m.sampleIntervalMs ? ` every ${m.sampleIntervalMs} ms` : ''}`;
  const lines = [head];
  if (m.status === 'failed') lines.push(`  error     ${m.error ?? ''}`);
  lines.push(...locksLine(m), ...probesLine(m), ...tablesLine(m), rollbackLine(m));
  return `${lines.join('\n')}\n`;
}

function workloadBlock(d: RehearseData): string {
  if (d.workload.length === 0) return '';
  const width = Math.max(...d.workload.map((w) => w.name.length));
  const rows = d.workload.map((w) => {
    const b = w.before ? fmt(w.before.ms) : 'failed';
    const a = w.after ? fmt(w.after.ms) : 'failed';
    const ratio = w.ratio !== null ? `×${w.ratio < 0.1 ? w.ratio.toPrecision(2) : w.ratio.toFixed(2)}` : '';
    return `  ${w.name.padEnd(width)}  ${b.padStart(9)} → ${a.padEnd(9)} ${ratio.padEnd(7)}${w.planChanged ? ' plan changed' : ''}${!w.after && w.error ? ` ${w.error}` : ''}`;
  });
  return `\nWorkload (EXPLAIN ANALYZE before → after the pending migrations)\n${rows.join('\n')}\n`;
}

/** The attestation of a masked snapshot, in words: what the rehearsal ran on. */
export function maskedSnapshotLines(m: MaskedSnapshot): string[] {
  return [
    `Rehearsed on the masked snapshot ${m.database}: backup ${m.backupId} of ${m.sourceDatabase} (taken ${m.backupTakenAt}), masked at ${m.maskedAt}, masking policy sha256 ${m.policySha256}`,
    `${plural(m.columns, 'column')} masked; scan: ${plural(m.scan.values, 'original value')} searched in ${plural(m.scan.columns, 'column')}, ${m.scan.remaining} remaining; ${plural(m.checks, 'check')} held`,
  ];
}

export function render(result: StepResult<RehearseData>): string {
  const d = result.data;
  const s = d.snapshot;
  let out = '\n';
  if (d.pending.length === 0) return `${out}Nothing to rehearse: no pending migration${d.base.ref ? ` compared with ${d.base.ref}` : ''}.\n`;
  out += `Rehearsal on ${s.label}\n`;
  if (s.masked)
    out += maskedSnapshotLines(s.masked)
      .map((l) => `  ${l}\n`)
      .join('');
  out += `  cloned in ${formatMs(s.cloneMs)}${s.reused ? ' from the cached template' : ''} · base ${d.base.ref ?? 'state'}: ${plural(d.base.applied.length, 'migration')} · ${d.pending.length} pending\n\n`;
  out += d.migrations.map(migrationBlock).join('\n');
  out += workloadBlock(d);
  if (result.findings.length > 0) {
    out += '\nFindings\n';
    for (const f of result.findings) {
      const where = f.file ? ` ${f.file}${f.line ? `:${f.line}` : ''}` : '';
      const [first, ...more] = f.message.split('\n');
      out += `  ${f.severity.padEnd(7)} ${f.rule}${where}\n    ${first}\n${more.map((l) => `      ${l}\n`).join('')}`;
      if (f.help) out += `    fix: ${f.help}\n`;
    }
  }
  const count = (sev: string) => result.findings.filter((f) => f.severity === sev).length;
  out += `\nVerdict: ${result.verdict.toUpperCase()} (${plural(count('error'), 'error')}, ${plural(count('warning'), 'warning')}, ${plural(count('notice'), 'notice')})\n`;
  return out;
}
