import { parseDuration } from '../../core/duration.ts';
import { formatAge, plural } from '../../core/format.ts';
import type { Runtime } from '../../core/runtime.ts';
import { isPgError, withClient, type Client } from '../../infra/db/client.ts';
import type { DbTarget } from '../../infra/db/url.ts';
import type { AccessPolicy } from '../../policy/access.ts';
import type { BackupsPolicy } from '../../policy/backups.ts';
import type { EncryptionCheck } from './report.ts';

// `dbops access encryption`: what the server says about encryption in transit, password storage and
// integrity (facts, read-only), judged with the backup policy and the volume attestations of
// policies/access.yaml (pure). No password and no password hash is ever read into the output: only role names.

/** One line of pg_hba.conf as pg_hba_file_rules parses it (the file on disk, which a reload would load). */
export interface HbaRule {
  line: number;
  type: string;
  database: string[];
  users: string[];
  address: string | null;
  netmask: string | null;
  method: string | null;
  error: string | null;
}

/** Something the connection may not read, and the grant or role that would allow it. */
export interface Unreadable {
  unreadable: string;
}

export interface EncryptionFacts {
  major: number;
  user: string;
  superuser: boolean;
  ssl: string;
  sslCertFile: string;
  /** TLS of this very connection (pg_stat_ssl), e.g. TLSv1.3; null when it is not encrypted. */
  connectionTls: string | null;
  passwordEncryption: string;
  dataChecksums: string;
  hba: HbaRule[] | Unreadable;
  /** Names of the roles whose stored password is an md5 hash (never the hash). */
  md5Roles: string[] | Unreadable;
}

const isUnreadable = (v: unknown): v is Unreadable => typeof v === 'object' && v !== null && 'unreadable' in v;

/** Runs a query that needs a privilege; a permission error becomes `Unreadable` with its explanation. */
async function privileged<T>(run: () => Promise<T>, why: string): Promise<T | Unreadable> {
  try {
    return await run();
  } catch (e) {
    if (isPgError(e) && e.code === '42501') return { unreadable: why };
    throw e;
  }
}

/** Everything the checks need from the server, read-only. */
export async function readEncryptionFacts(c: Client): Promise<EncryptionFacts> {
  const show = async (name: string): Promise<string> => (await c.query<{ v: string }>('SELECT current_setting($1) AS v', [name])).rows[0]!.v;
  const who = (
    await c.query<{ user: string; superuser: boolean; major: number }>(
      `SELECT current_user AS user, r.rolsuper AS superuser, current_setting('server_version_num')::int / 10000 AS major
         FROM pg_roles r WHERE r.rolname = current_user`,
    )
  ).rows[0]!;
  const tls = (await c.query<{ version: string | null }>('SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl')).rows[0]?.version ?? null;
  const hba = await privileged(
    async () =>
      (
        await c.query<{
          line_number: number;
          type: string;
          database: string[] | null;
          user_name: string[] | null;
          address: string | null;
          netmask: string | null;
          auth_method: string | null;
          error: string | null;
        }>('SELECT line_number, type, database, user_name, address, netmask, auth_method, error FROM pg_hba_file_rules ORDER BY line_number')
      ).rows.map((r): HbaRule => ({
        line: r.line_number,
        type: r.type,
        database: r.database ?? [],
        users: r.user_name ?? [],
        address: r.address,
        netmask: r.netmask,
        method: r.auth_method,
        error: r.error,
      })),
    `pg_hba_file_rules is readable by superusers only (PostgreSQL 15): connect as a superuser, or \`GRANT SELECT ON pg_hba_file_rules TO ${who.user}; GRANT EXECUTE ON FUNCTION pg_hba_file_rules() TO ${who.user};\``,
  );
  const md5Why = `stored passwords (pg_authid) are readable by superusers only: connect as a superuser to check for md5 hashes (${who.user} is not one)`;
  // Only the role names: the hash itself never leaves the server.
  const md5Roles = who.superuser
    ? await privileged(
        async () =>
          (await c.query<{ rolname: string }>(`SELECT rolname FROM pg_authid WHERE rolpassword LIKE 'md5%' ORDER BY rolname`)).rows.map((r) => r.rolname),
        md5Why,
      )
    : { unreadable: md5Why };
  return {
    major: who.major,
    user: who.user,
    superuser: who.superuser,
    ssl: await show('ssl'),
    sslCertFile: await show('ssl_cert_file'),
    connectionTls: tls,
    passwordEncryption: await show('password_encryption'),
    dataChecksums: await show('data_checksums'),
    hba,
    md5Roles,
  };
}

/** The prefix length of a netmask (255.255.255.0 → 24, ffff:…:ffff → 128); undefined when it is not one. */
export function prefixLength(netmask: string): number | undefined {
  let bits: string;
  if (netmask.includes('.')) {
    const parts = netmask.split('.').map(Number);
    if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
    bits = parts.map((p) => p.toString(2).padStart(8, '0')).join('');
  } else {
    const [head = '', tail = ''] = netmask.split('::');
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = netmask.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
    if (groups.length !== 8 || groups.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) return undefined;
    bits = groups.map((g) => parseInt(g, 16).toString(2).padStart(16, '0')).join('');
  }
  return /^1*0*$/.test(bits) ? (bits.indexOf('0') === -1 ? bits.length : bits.indexOf('0')) : undefined;
}

/** Whether a TCP rule admits only clients on the server itself (loopback addresses, localhost, samehost). */
export function loopbackOnly(rule: Pick<HbaRule, 'address' | 'netmask'>): boolean {
  const a = rule.address;
  if (a === null) return false;
  if (a === 'localhost' || a === 'samehost') return true;
  const prefix = rule.netmask === null ? undefined : prefixLength(rule.netmask);
  if (prefix === undefined) return false;
  if (/^127\.\d+\.\d+\.\d+$/.test(a)) return prefix >= 8;
  if (a === '::1') return prefix === 128;
  return false;
}

/** A rule as pg_hba.conf spells it: `host all all 0.0.0.0/0 trust`. */
export function hbaText(rule: HbaRule): string {
  const prefix = rule.netmask === null ? undefined : prefixLength(rule.netmask);
  const address = rule.address === null ? [] : [rule.netmask === null ? rule.address : `${rule.address}/${prefix ?? rule.netmask}`];
  return [rule.type, rule.database.join(',') || '?', rule.users.join(',') || '?', ...address, rule.method ?? '?'].join(' ');
}

/** The problems of the host rules, one per line and reason, and the notes that are not failures. */
export function judgeHba(rules: HbaRule[]): { problems: string[]; notes: string[] } {
  const problems: string[] = [];
  const notes: string[] = [];
  for (const r of rules) {
    const where = `pg_hba.conf line ${r.line} (${hbaText(r)})`;
    if (r.error !== null) {
      problems.push(`${where}: does not parse (${r.error}); the server refuses to reload the file`);
      continue;
    }
    if (r.method === 'reject') continue;
    if (r.type === 'local') {
      // The Unix socket never leaves the machine and the OS checks who opens it: `local … trust` (or peer) is
      // the usual laptop set-up, so it is a note, not a failure. Over TCP (even loopback) trust lets any
      // process that reaches the port connect as any role, superuser included: that fails below.
      if (r.method === 'trust') notes.push(`${where}: trust on the Unix socket: any OS user of this machine connects as any role`);
      else if (r.method === 'md5' || r.method === 'password') notes.push(`${where}: ${r.method} on the Unix socket; scram-sha-256 is better`);
      continue;
    }
    if (r.method === 'trust') problems.push(`${where}: trust lets anyone who reaches the server connect as any role without a password`);
    else if (r.method === 'password') problems.push(`${where}: password sends the password itself to the server (clear text unless TLS)`);
    else if (r.method === 'md5') problems.push(`${where}: md5 accepts md5 password hashes, which are replayable; use scram-sha-256`);
    const tlsOptional = r.type === 'host' || r.type === 'hostnogssenc';
    if ((tlsOptional || r.type === 'hostnossl') && !loopbackOnly(r))
      problems.push(
        `${where}: ${r.type === 'hostnossl' ? 'hostnossl refuses TLS' : `${r.type} accepts connections without TLS`} from ${r.address === 'all' ? 'any address' : 'outside this machine'}`,
      );
  }
  return { problems, notes };
}

export interface EncryptionPolicies {
  backups: BackupsPolicy;
  access: AccessPolicy;
  /** Whether policies/access.yaml exists (absent: its defaults, no attestation). */
  accessFile: boolean;
}

const DAY_MS = 86_400_000;

/** encryption.volume.<environment> of policies/access.yaml, at `now`. */
export function judgeVolume(access: AccessPolicy, accessFile: boolean, environment: string | null, now: Date): EncryptionCheck {
  const name = 'volume encryption';
  const fix = (env: string) =>
    `declare encryption.volume.${env} in policies/access.yaml: encrypted: true, by (what encrypts it), attested_by, attested_at (YYYY-MM-DD of the check), max_age`;
  if (environment === null)
    return {
      name,
      status: 'not-checked',
      detail: `a database URL has no declared volume: run with --environment NAME to check the attestation of its volume${accessFile ? '' : ' (policies/access.yaml is absent)'}`,
    };
  const v = access.encryption.volume[environment];
  if (!accessFile)
    return {
      name,
      status: 'fail',
      detail: `policies/access.yaml is absent: no attestation that the volume of ${environment} is encrypted`,
      fix: fix(environment),
    };
  if (!v)
    return {
      name,
      status: 'fail',
      detail: `policies/access.yaml has no encryption.volume.${environment}: nobody attested that its volume is encrypted`,
      fix: fix(environment),
    };
  if (!v.encrypted)
    return {
      name,
      status: 'fail',
      detail: `encryption.volume.${environment}: encrypted: false (${v.by}, attested by ${v.attested_by} on ${v.attested_at})`,
      fix: `encrypt the data volume of ${environment} (and its WAL and backup volumes), then attest it: encrypted: true, attested_at`,
    };
  const at = Date.parse(`${v.attested_at}T00:00:00Z`);
  const maxMs = parseDuration(v.max_age) ?? 0;
  const age = now.getTime() - at;
  const said = `encrypted by ${v.by}, attested by ${v.attested_by} on ${v.attested_at}`;
  if (Number.isNaN(at))
    return { name, status: 'fail', detail: `encryption.volume.${environment}.attested_at ${v.attested_at} is not a date`, fix: fix(environment) };
  if (age < -DAY_MS)
    return {
      name,
      status: 'fail',
      detail: `${said}: attested_at is in the future`,
      fix: `set attested_at of encryption.volume.${environment} to the day of the check`,
    };
  // max_age 0 means the attestation does not expire (0 = off, as in PostgreSQL's settings).
  if (maxMs > 0 && age > maxMs)
    return {
      name,
      status: 'fail',
      detail: `${said}: ${formatAge(age)} old, older than max_age ${v.max_age}`,
      fix: `check the volume of ${environment} again and update attested_by and attested_at of encryption.volume.${environment} in policies/access.yaml`,
    };
  return { name, status: 'pass', detail: `${said} (${formatAge(Math.max(age, 0))} old, max_age ${v.max_age})` };
}

/** The logical backups (age) and the repositories of pitr: (pgBackRest cipher). */
export function judgeBackups(backups: BackupsPolicy): EncryptionCheck[] {
  const recipients = backups.encryption.recipients;
  const logical: EncryptionCheck =
    recipients.length > 0
      ? {
          name: 'logical backups',
          status: 'pass',
          detail: `every \`dbops backup create\` encrypts with age to ${plural(recipients.length, 'recipient')} of policies/backups.yaml (${recipients.map((r) => r.name).join(', ')}) before anything is stored`,
        }
      : {
          name: 'logical backups',
          status: 'fail',
          detail: 'policies/backups.yaml has no encryption.recipients: `dbops backup create` cannot encrypt, so it takes no backup',
          fix: 'add an age recipient (`age-keygen -y` of the identity) under encryption.recipients in policies/backups.yaml',
        };
  const pitr = backups.pitr;
  if (!pitr)
    return [
      logical,
      {
        name: 'pitr repositories',
        status: 'pass',
        detail: 'policies/backups.yaml has no pitr: section: no physical backups or WAL archive are declared, nothing to check',
      },
    ];
  // With database_host, dbops (and every directory repository) is on the backup server, away from the data.
  const remoteHost = pitr.database_host !== undefined;
  const repos = pitr.repositories.length > 0 ? pitr.repositories : [{ type: 'directory' as const, path: `${pitr.state_dir}/repo` }];
  const problems: string[] = [];
  const notes: string[] = [];
  for (const [i, r] of repos.entries()) {
    const n = `repo${i + 1}`;
    if (r.type === 's3') notes.push(`${n} (s3://${r.bucket}${r.path}): aes-256-cbc, passphrase from $${r.cipher_pass_env}`);
    else if (remoteHost)
      problems.push(`${n} (${r.path} on the repository host ${pitr.database_host!.repository_host}): no cipher, stored away from the database host in clear`);
    else notes.push(`${n} (${r.path}): no cipher; a folder on the database host, covered by its volume encryption`);
  }
  return [
    logical,
    problems.length > 0
      ? {
          name: 'pitr repositories',
          status: 'fail',
          detail: [...problems, ...notes].join('; '),
          problems,
          fix: 'keep the offsite copy in an S3 repository of pitr.repositories (always aes-256-cbc with cipher_pass_env), or encrypt the backup server’s volume and attest it',
        }
      : { name: 'pitr repositories', status: 'pass', detail: notes.join('; ') },
  ];
}

/** Every check, in order, from the facts and the policies at `now`. */
export function judgeEncryption(facts: EncryptionFacts, policies: EncryptionPolicies, environment: string | null, now: Date): EncryptionCheck[] {
  const checks: EncryptionCheck[] = [];
  checks.push({
    name: 'transparent data encryption',
    status: 'info',
    detail: `PostgreSQL ${facts.major} has no transparent data encryption (TDE): data files, WAL and temporary files are written to the volume as they are. Checked instead: TLS (ssl and the host rules), SCRAM passwords, data checksums (integrity), encrypted backups, and a dated attestation that each environment's volume is encrypted`,
  });
  const tls = facts.connectionTls ? `this connection uses ${facts.connectionTls}` : 'this connection is not encrypted';
  checks.push(
    facts.ssl === 'on'
      ? { name: 'ssl', status: 'pass', detail: `ssl = on (certificate ${facts.sslCertFile}); ${tls}` }
      : {
          name: 'ssl',
          status: 'fail',
          detail: `ssl = ${facts.ssl}: the server accepts no TLS connection, passwords and data cross the network in clear`,
          fix: 'set ssl: on with ssl_cert_file and ssl_key_file under settings: in policies/postgresql.yaml, then `dbops settings apply` (a reload is enough)',
        },
  );
  if (isUnreadable(facts.hba)) checks.push({ name: 'host rules', status: 'not-checked', detail: facts.hba.unreadable });
  else {
    const { problems, notes } = judgeHba(facts.hba);
    const n = `${plural(facts.hba.length, 'rule')} of pg_hba.conf`;
    checks.push(
      problems.length > 0
        ? {
            name: 'host rules',
            status: 'fail',
            detail: `${n}: ${[...problems, ...notes].join('; ')}`,
            problems,
            fix: 'in pg_hba.conf: hostssl (not host) for every address beyond loopback, scram-sha-256 instead of trust, password or md5; then SELECT pg_reload_conf()',
          }
        : {
            name: 'host rules',
            status: 'pass',
            detail: `${n}: TLS required beyond loopback (hostssl), no trust, password or md5 over TCP${notes.length > 0 ? `; note: ${notes.join('; ')}` : ''}`,
          },
    );
  }
  checks.push(
    facts.passwordEncryption === 'scram-sha-256'
      ? { name: 'password_encryption', status: 'pass', detail: 'password_encryption = scram-sha-256: new passwords are stored as SCRAM verifiers' }
      : {
          name: 'password_encryption',
          status: 'fail',
          detail: `password_encryption = ${facts.passwordEncryption}: new passwords are stored as md5 hashes`,
          fix: 'set password_encryption: scram-sha-256 under settings: in policies/postgresql.yaml, then `dbops settings apply`',
        },
  );
  if (isUnreadable(facts.md5Roles)) checks.push({ name: 'md5 passwords', status: 'not-checked', detail: facts.md5Roles.unreadable });
  else
    checks.push(
      facts.md5Roles.length === 0
        ? { name: 'md5 passwords', status: 'pass', detail: 'no role has a password stored as an md5 hash' }
        : {
            name: 'md5 passwords',
            status: 'fail',
            detail: `${plural(facts.md5Roles.length, 'role')} with a password stored as an md5 hash: ${facts.md5Roles.join(', ')}`,
            fix: 'with password_encryption = scram-sha-256, set each of these passwords again (ALTER ROLE … PASSWORD, or \\password in psql) so it is stored as SCRAM',
          },
    );
  checks.push(
    facts.dataChecksums === 'on'
      ? { name: 'data checksums', status: 'pass', detail: 'data_checksums = on: a damaged page is detected when it is read' }
      : {
          name: 'data checksums',
          status: 'fail',
          detail: `data_checksums = ${facts.dataChecksums}: a damaged page goes unnoticed`,
          fix: 'pg_checksums --enable -D <data directory> on the stopped cluster (PostgreSQL 12+), or initdb --data-checksums and restore into it',
        },
  );
  checks.push(...judgeBackups(policies.backups));
  checks.push(judgeVolume(policies.access, policies.accessFile, environment, now));
  return checks;
}

/** Reads the facts over one connection and judges them. */
export async function surveyEncryption(
  target: DbTarget,
  policies: EncryptionPolicies,
  environment: string | null,
  now: Date,
  rt: Runtime,
): Promise<{ facts: EncryptionFacts; checks: EncryptionCheck[] }> {
  const facts = await withClient(target, { log: rt.log, applicationName: 'dbops access encryption' }, readEncryptionFacts);
  return { facts, checks: judgeEncryption(facts, policies, environment, now) };
}
