import type { StepContext } from '../../../cli/contract.ts';
import type { StepResult } from '../../../core/result.ts';
import {
  decayedMean,
  HOURS_OF_WEEK,
  hourLabel,
  monitorStore,
  nextQuietHour,
  quietHours,
  readTraffic,
  type QuietHours,
} from '../../../operations/monitoring/index.ts';
import { environmentTarget } from '../../flags.ts';
import type { MonitorTrafficInputs } from './spec.ts';

export interface TrafficHour {
  hour: number;
  label: string;
  /** Decayed mean and highest transactions per second, null without a sample. */
  tps: number | null;
  maxTps: number | null;
  activeSessions: number | null;
  samples: number;
}

export interface MonitorTrafficData {
  database: string;
  environment: string | null;
  store: string;
  zone: string;
  /** Time of the newest sample, null when nothing is recorded. */
  updatedAt: string | null;
  hours: TrafficHour[];
  quiet: QuietHours;
  next: { at: string; label: string } | null;
}

const round = (v: number | null) => (v === null ? null : Math.round(v * 100) / 100);

/** `dbops monitor traffic`: the profile from the monitor store; operations/monitoring proposes the quiet hours. */
export async function run(input: MonitorTrafficInputs, ctx: StepContext): Promise<StepResult<MonitorTrafficData>> {
  const { target, environment } = await environmentTarget(input, ctx, 'whose traffic profile is read');
  const { backups, environments } = await ctx.policies('backups', 'environments');
  const { openEvidenceOf } = await import('../../../evidence/index.ts');
  const evidence = await openEvidenceOf({ backups: backups.value, environments: environments.value }, environment?.name, ctx.env, ctx.log);
  const store = monitorStore(evidence, target.database);
  const profile = await readTraffic(store);
  const zone = profile?.zone ?? environment?.policy.windows.zone ?? 'UTC';
  const options = { percentile: input.percentile, minSamples: input.minSamples };
  const hours: TrafficHour[] = Array.from({ length: HOURS_OF_WEEK }, (_, hour) => {
    const b = profile?.hours[hour];
    return {
      hour,
      label: hourLabel(hour),
      tps: b ? round(decayedMean(b.tps)) : null,
      maxTps: b && b.tps.n > 0 ? round(b.tps.max) : null,
      activeSessions: b ? round(decayedMean(b.active)) : null,
      samples: b?.tps.n ?? 0,
    };
  });
  const quiet = profile
    ? quietHours(profile, options)
    : { zone, threshold: null, percentile: input.percentile, judgedHours: 0, samples: 0, hours: [], runs: [] };
  const next = profile ? nextQuietHour(profile, new Date(), options) : null;
  const data: MonitorTrafficData = {
    database: target.display,
    environment: environment?.name ?? null,
    store: store.description,
    zone,
    updatedAt: profile?.updatedAt ?? null,
    hours,
    quiet,
    next: next ? { at: next.at.toISOString(), label: next.label } : null,
  };
  return {
    verdict: 'pass',
    findings: profile
      ? []
      : [
          {
            rule: 'monitor/no-traffic-profile',
            severity: 'notice',
            message: `No traffic profile in ${store.description}: every \`dbops monitor check\` adds a sample.`,
          },
        ],
    data,
  };
}

const SHADES = ['░', '▒', '▓', '█'];
const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/** A day × hour heatmap of the TPS (`·` no sample; `q` under a shade marks a proposed quiet hour), then the quiet hours. */
export function render(result: StepResult<MonitorTrafficData>): string {
  const d = result.data;
  const lines = [`Traffic profile of ${d.database}${d.environment ? ` (environment ${d.environment})` : ''}, hours in ${d.zone} (${d.store})`];
  if (d.updatedAt === null) {
    lines.push('No sample recorded yet: every `dbops monitor check` adds one (schedule it, e.g. every 5 minutes).');
    return `${lines.join('\n')}\n`;
  }
  const max = Math.max(0, ...d.hours.map((h) => h.tps ?? 0));
  const quiet = new Set(d.quiet.hours);
  const shade = (tps: number | null) =>
    tps === null ? '·' : max === 0 ? SHADES[0]! : SHADES[Math.min(SHADES.length - 1, Math.floor((tps / max) * SHADES.length))]!;
  lines.push(`newest sample ${d.updatedAt}; ${d.quiet.samples} TPS samples, ${d.quiet.judgedHours} of 168 hours judged`);
  lines.push('', `      ${Array.from({ length: 24 }, (_, h) => String(h).padStart(2, '0')).join(' ')}   peak TPS`);
  for (let day = 0; day < 7; day++) {
    const row = d.hours.slice(day * 24, day * 24 + 24);
    const cells = row.map((h) => `${shade(h.tps)}${quiet.has(h.hour) ? 'q' : ' '}`).join(' ');
    const peak = Math.max(...row.map((h) => h.tps ?? -1));
    lines.push(`${DAYS[day]}   ${cells}  ${peak < 0 ? '-' : peak}`);
  }
  lines.push(
    `      ${SHADES.map((s, i) => `${s} ≤ ${Math.round(((max * (i + 1)) / SHADES.length) * 100) / 100}`).join('  ')} TPS   · no sample   q proposed quiet hour`,
    '',
  );
  if (d.quiet.runs.length === 0) lines.push('No quiet hours proposed yet: too few hours have enough samples.');
  else {
    lines.push(`Proposed quiet hours (mean TPS ≤ ${d.quiet.threshold}, the ${d.quiet.percentile}th percentile of the week):`);
    for (const r of d.quiet.runs)
      lines.push(
        `  ${r.from} → ${r.to} ${d.zone}  ${r.hours} h  mean ${r.meanTps} TPS, max ${r.maxTps} TPS${r.meanActiveSessions !== null ? `, ${r.meanActiveSessions} active sessions` : ''}`,
      );
    if (d.next) lines.push(`Next quiet hour: ${d.next.label} (${d.next.at}).`);
  }
  return `${lines.join('\n')}\n`;
}
