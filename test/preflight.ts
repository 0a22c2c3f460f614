// `npm test` starts here: every system tool the suite drives is looked for first, and a missing one stops
// the run within seconds with the exact command that installs it, instead of dozens of failing tests.
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findPgBinaries, pgTool, serverRunAs, type PgTool } from '../pipeline/infra/pg/binaries.ts';

const run = promisify(execFile);

interface Missing {
  what: string;
  why: string;
  apt: string;
  brew: string;
}

const runs = (command: string, args: string[]) =>
  run(command, args, { timeout: 10_000 }).then(
    () => true,
    () => false,
  );

async function postgres(): Promise<Missing[]> {
  const install = { apt: 'sudo apt-get install -y postgresql postgresql-contrib', brew: 'brew install postgresql@16' };
  let bins;
  try {
    bins = await findPgBinaries();
  } catch (e) {
    return [{ what: 'PostgreSQL ≥ 15 (server and client)', why: (e as Error).message.split('\n')[0]!, ...install }];
  }
  const missing: Missing[] = [];
  const tools: PgTool[] = ['initdb', 'pg_ctl', 'postgres', 'psql', 'pg_dump', 'pg_restore', 'pg_amcheck'];
  for (const tool of tools) {
    await pgTool(bins, tool).catch(() => missing.push({ what: `${tool} (PostgreSQL ${bins.major})`, why: `not in ${bins.binDir}`, ...install }));
  }
  const libdir = await run(join(bins.binDir, 'pg_config'), ['--pkglibdir']).then(
    (r) => r.stdout.trim(),
    () => undefined,
  );
  if (libdir) {
    // The embedded and test clusters preload pg_stat_statements; the PITR heartbeat tests preload pg_cron.
    const libraries = [
      {
        name: 'pg_stat_statements',
        what: 'pg_stat_statements (PostgreSQL contrib modules)',
        apt: 'sudo apt-get install -y postgresql-contrib',
        brew: install.brew,
      },
      { name: 'pg_cron', what: 'pg_cron', apt: `sudo apt-get install -y postgresql-${bins.major}-cron`, brew: 'brew install pg_cron' },
      // The `dbops audit` tests start a cluster that preloads pgaudit.
      {
        name: 'pgaudit',
        what: 'pgaudit',
        apt: `sudo apt-get install -y postgresql-${bins.major}-pgaudit`,
        brew: 'build pgaudit from source: https://github.com/pgaudit/pgaudit',
      },
    ];
    for (const lib of libraries) {
      const found = await Promise.any(['so', 'dylib'].map((ext) => access(join(libdir, `${lib.name}.${ext}`)))).then(
        () => true,
        () => false,
      );
      if (!found) missing.push({ what: lib.what, why: `not in ${libdir}`, apt: lib.apt, brew: lib.brew });
    }
  }
  const sharedir = await run(join(bins.binDir, 'pg_config'), ['--sharedir']).then(
    (r) => r.stdout.trim(),
    () => undefined,
  );
  if (sharedir) {
    // The `dbops queries` tests create hypopg (hypothetical indexes): an extension, not a preloaded library.
    const extensions = [
      {
        name: 'hypopg',
        what: 'hypopg',
        apt: `sudo apt-get install -y postgresql-${bins.major}-hypopg`,
        brew: 'build hypopg from source: https://github.com/HypoPG/hypopg',
      },
    ];
    const dir = join(sharedir, 'extension');
    for (const ext of extensions) {
      const found = await access(join(dir, `${ext.name}.control`)).then(
        () => true,
        () => false,
      );
      if (!found) missing.push({ what: ext.what, why: `no ${ext.name}.control in ${dir}`, apt: ext.apt, brew: ext.brew });
    }
  }
  // PostgreSQL refuses to run as root: the test clusters then run as the postgres OS user.
  await serverRunAs().catch((e: Error) => missing.push({ what: 'the postgres OS user (tests run as root)', why: e.message.split('\n')[0]!, ...install }));
  return missing;
}

const checks: Array<() => Promise<Missing[]>> = [
  postgres,
  async () =>
    (await runs('age', ['--version']))
      ? []
      : [{ what: 'age', why: 'the age CLI decrypts what dbops encrypts in the interop tests', apt: 'sudo apt-get install -y age', brew: 'brew install age' }],
  async () =>
    (await runs('pgbackrest', ['version']))
      ? []
      : [
          {
            what: 'pgBackRest',
            why: 'dbops pitr drives it for WAL archiving, physical backups and point-in-time restores',
            apt: 'sudo apt-get install -y pgbackrest',
            brew: 'brew install pgbackrest',
          },
        ],
  async () =>
    (await runs('openssl', ['version']))
      ? []
      : [
          {
            what: 'openssl',
            why: 'the S3 tests serve HTTPS with a self-signed certificate (pgBackRest speaks only HTTPS to S3)',
            apt: 'sudo apt-get install -y openssl',
            brew: 'brew install openssl',
          },
        ],
  async () =>
    (await runs('promtool', ['--version']))
      ? []
      : [
          {
            what: 'promtool (Prometheus)',
            why: 'the tests check the alerting rules of `dbops monitor rules` with promtool check rules / test rules',
            apt: 'sudo apt-get install -y prometheus',
            brew: 'brew install prometheus',
          },
        ],
  async () =>
    (await runs(process.env['PGBOUNCER'] ?? '/usr/sbin/pgbouncer', ['--version'])) || (await runs('pgbouncer', ['--version']))
      ? []
      : [
          {
            what: 'PgBouncer',
            why: 'the tests put a real PgBouncer (transaction and session mode) in front of the test server for the pooler refusal and `dbops pool report`',
            apt: 'sudo apt-get install -y pgbouncer',
            brew: 'brew install pgbouncer',
          },
        ],
  async () =>
    (await runs('git', ['--version']))
      ? []
      : [
          {
            what: 'git',
            why: 'lint and rehearse compare with a base ref in temporary repositories',
            apt: 'sudo apt-get install -y git',
            brew: 'brew install git',
          },
        ],
];

const missing = (await Promise.all(checks.map((c) => c()))).flat();
if (missing.length > 0) {
  const lines = missing.map((m) => `  - ${m.what}: ${m.why}\n      Debian/Ubuntu: ${m.apt}\n      macOS:         ${m.brew}`);
  process.stderr.write(
    `npm test needs tools this machine does not have:\n${lines.join('\n')}\nInstall them (or run \`bash .ci/run\`, which installs what is missing on Debian/Ubuntu), then run npm test again.\n`,
  );
  process.exitCode = 1;
}
