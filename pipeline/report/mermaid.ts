import { formatMs } from '../core/format.ts';
import { type MigrationRehearsal } from '../change/rehearsal/index.ts';

/**
 * A migration's lock timeline as a Mermaid gantt chart, which GitHub renders from a ```mermaid block:
 * one section per relation, one bar per lock interval labelled with the mode. ACCESS EXCLUSIVE (blocks
 * every read and write) is `crit` (red); intervals where the migration waited for a lock it had not been
 * granted yet are `active` (a different colour) and labelled "waits for …".
 *
 * Start times are milliseconds since the migration started, written with `dateFormat x` (Unix ms), so
 * they render as instants just after 1970-01-01; the axis format shows only seconds and milliseconds,
 * which no time zone shifts. Lengths are whole-millisecond durations (`120ms`): Mermaid parses integer
 * durations with a unit reliably, where decimal values and some start/end date pairs have been buggy.
 */

/** Mermaid gantt syntax breaks on `:` (label/data separator), `#` (entity codes), `;` and `%%` (comments) and line breaks. */
export function mermaidLabel(value: string, max = 60): string {
  const clean = value
    .replace(/[^\p{L}\p{N} _.,()/+-]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return (clean.length > max ? `${clean.slice(0, max - 1)}…` : clean) || 'unnamed';
}

/** Up to this many relations and bars; more would make the chart unreadable (the locks table lists everything). */
export const MAX_SECTIONS = 12;
export const MAX_BARS = 60;

function axisFormat(totalMs: number): string {
  if (totalMs < 1000) return '%L ms';
  if (totalMs < 60_000) return '%S.%L s';
  return '%M min %S s';
}

export interface Gantt {
  chart: string;
  /** Bars left out by the caps above. */
  omitted: number;
}

export function lockGantt(m: MigrationRehearsal): Gantt | undefined {
  if (m.timeline.length === 0) return undefined;
  const byRelation = new Map<string, MigrationRehearsal['timeline']>();
  for (const span of [...m.timeline].sort((a, b) => a.startMs - b.startMs)) {
    const list = byRelation.get(span.relation) ?? [];
    list.push(span);
    byRelation.set(span.relation, list);
  }
  const end = Math.max(m.durationMs, ...m.timeline.map((s) => s.endMs));
  const lines = [
    'gantt',
    `    title ${mermaidLabel(`Locks taken by ${m.name}`, 100)}`,
    '    dateFormat x',
    `    axisFormat ${axisFormat(end)}`,
    '    todayMarker off',
  ];
  lines.push(
    `    section ${mermaidLabel('migration')}`,
    `    ${mermaidLabel(`runs ${m.mode} ${formatMs(m.durationMs)}`)} :done, 0, ${Math.max(1, Math.round(m.durationMs))}ms`,
  );
  let bars = 0;
  let omitted = 0;
  let sections = 0;
  for (const [relation, spans] of byRelation) {
    if (sections >= MAX_SECTIONS || bars >= MAX_BARS) {
      omitted += spans.length;
      continue;
    }
    sections++;
    lines.push(`    section ${mermaidLabel(relation)}`);
    for (const s of spans) {
      if (bars >= MAX_BARS) {
        omitted++;
        continue;
      }
      bars++;
      const tags = [...(s.mode === 'AccessExclusiveLock' ? ['crit'] : []), ...(s.granted ? [] : ['active'])];
      const label = mermaidLabel(s.granted ? s.mode : `waits for ${s.mode}`);
      const start = Math.max(0, Math.round(s.startMs));
      // A lock seen by one sample only still gets a visible bar.
      const stop = Math.max(start + 1, Math.round(s.endMs));
      lines.push(`    ${label} :${tags.length ? `${tags.join(', ')}, ` : ''}${start}, ${stop - start}ms`);
    }
  }
  return { chart: lines.join('\n'), omitted };
}
