import { Document } from 'yaml';
import type { CheckName, MonitoringChecks } from '../../policy/monitoring.ts';
import { CHECK_ORDER } from './checks.ts';

/**
 * Prometheus alerting rules equivalent to policies/monitoring.yaml, over the metrics of `dbops monitor serve`.
 * dbops judges the thresholds itself (dbops_check_status is already ok/warning/critical for the environment
 * it serves), so a rule only maps a status to an alert; the thresholds appear in the annotations for the
 * people paged. Pure: no I/O.
 */

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: 'warning' | 'critical' };
  annotations: { summary: string; description: string };
}
export interface PrometheusRules {
  groups: Array<{ name: string; rules: AlertRule[] }>;
}

type Severity = 'warning' | 'critical';
/** How long a status must last before it alerts: a blip between two scrapes does not page. */
export const RULE_FOR: Record<Severity, string> = { warning: '10m', critical: '5m' };
/** The database not answering pages sooner. */
const AVAILABILITY_FOR = '1m';

const PERCENT: CheckName[] = ['connections', 'wraparound', 'database_size', 'wal_size', 'disk', 'cpu', 'memory'];

/** What each check's alert means, with `{t}` the threshold of the severity. */
const MEANING: Record<CheckName, string | Partial<Record<Severity, string>>> = {
  availability: { critical: 'the database does not answer (connect and SELECT 1)' },
  connections: 'client connections reached {t} of max_connections minus the reserved connections',
  wraparound: 'the transaction-ID or multixact age of the oldest database reached {t} of the way to wraparound',
  idle_in_transaction: 'a session has been idle in a transaction for {t} or more',
  long_running_queries: 'a statement has been running for {t} or more',
  blocked_sessions: 'a session has waited {t} or more for a lock another holds',
  replication_lag: 'a replica is {t} or more of WAL behind (critical also when a declared replica does not stream)',
  inactive_slots: 'an inactive replication slot holds {t} or more of WAL',
  checksum_failures: { critical: 'data-checksum failures were counted (pg_stat_database)' },
  database_size: 'the database reached {t} of capacity.database',
  wal_size: 'pg_wal reached {t} of capacity.wal',
  disk: 'the file system of the data directory is {t} or more full',
  cpu: 'the host CPU is {t} or more busy',
  memory: 'the host memory is {t} or more in use',
  slow_queries: '{t} or more statements are slow or regressed since the newest query snapshot',
  backup_age: 'the newest verified backup is {t} old or older',
  restore_test: 'the newest passing restore test is {t} old or older (critical also when the newest failed)',
  pitr: {
    warning: 'the RPO exposure of the WAL archive reached 80 % of pitr.objectives.rpo (policies/backups.yaml)',
    critical: 'WAL archiving fails or the RPO exposure exceeds pitr.objectives.rpo (policies/backups.yaml)',
  },
  security_events: '{t} or more security events in the audit collection of the last day',
};

const pascal = (name: string) =>
  name
    .split('_')
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');

/** The matchers every expression carries: the check, and the environment when the rules are for one. */
const selector = (environment: string | null, check?: string) =>
  `{${[...(check ? [`check="${check}"`] : []), ...(environment !== null ? [`environment="${environment}"`] : [])].join(',')}}`;

/** One alert per enabled check and severity, and dbops_up == 0; the thresholds of `checks` in the annotations. */
export function prometheusRules(checks: MonitoringChecks, environment: string | null): PrometheusRules {
  const see = `dbops monitor check${environment !== null ? ` --environment ${environment}` : ''}`;
  const rules: AlertRule[] = [
    {
      alert: 'DbopsDown',
      expr: `dbops_up${environment !== null ? selector(environment) : ''} == 0`,
      for: AVAILABILITY_FOR,
      labels: { severity: 'critical' },
      annotations: {
        summary: 'dbops cannot reach database {{ $labels.database }}',
        description: `The newest pass of dbops monitor serve found the database unreachable. \`${see}\` says why.`,
      },
    },
  ];
  for (const name of CHECK_ORDER) {
    const policy = checks[name] as { enabled: boolean; warning?: unknown; critical?: unknown };
    if (!policy.enabled) continue;
    const meaning = MEANING[name];
    for (const severity of ['critical', 'warning'] as const) {
      const template = typeof meaning === 'string' ? meaning : meaning[severity];
      if (template === undefined) continue;
      const threshold = policy[severity];
      const t = threshold === undefined ? '' : PERCENT.includes(name) ? `${String(threshold)} %` : String(threshold);
      const text = template.replace('{t}', t);
      const source =
        threshold === undefined
          ? ''
          : ` (checks.${name}.${severity}: ${String(threshold)} in policies/monitoring.yaml${environment !== null ? `, environment ${environment}` : ''})`;
      rules.push({
        alert: `Dbops${pascal(name)}${pascal(severity)}`,
        expr: `dbops_check_status${selector(environment, name)} ${severity === 'critical' ? '>= 2' : '== 1'}`,
        for: name === 'availability' ? AVAILABILITY_FOR : RULE_FOR[severity],
        labels: { severity },
        annotations: {
          summary: `dbops check ${name} is ${severity} on {{ $labels.database }}`,
          description: `${text[0]!.toUpperCase()}${text.slice(1)}${source}. \`${see}\` shows the details.`,
        },
      });
    }
  }
  return { groups: [{ name: environment !== null ? `dbops-${environment}` : 'dbops', rules }] };
}

/** The rules file as YAML (what `promtool check rules` reads), with a header saying where it comes from. */
export function rulesYaml(rules: PrometheusRules, environment: string | null): string {
  const doc = new Document(rules);
  doc.commentBefore = ` Generated by \`dbops monitor rules${environment !== null ? ` --environment ${environment}` : ''}\` from policies/monitoring.yaml: do not edit, regenerate.\n Alerts over the metrics of \`dbops monitor serve\` (dbops_check_status: 0 ok, 1 warning, 2 critical, -1 not configured or unknown).`;
  return doc.toString({ lineWidth: 0 });
}
