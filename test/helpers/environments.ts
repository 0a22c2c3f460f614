import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ageKey, type AgeKey } from './age.ts';
import { testEnv } from './cli.ts';
import { migrationsFolder, tempDir } from './migrations.ts';

/**
 * A repository-shaped folder for the production path: policies (environments, backups with a folder
 * target and a fresh age key, migrations with short timeouts), prisma/migrations, rollbacks/, reports/,
 * and the environment variables the commands need. Policies are written as JSON (which is YAML).
 */
export interface DeployFixture {
  root: string;
  policiesDir: string;
  migrationsDir: string;
  rollbacksDir: string;
  reportsDir: string;
  /** The backups' (and evidence's) primary folder target. */
  storageDir: string;
  /** age identity (secret) and recipient of the backups. */
  identity: string;
  recipient: string;
  /** Environment for the CLI: URL variables, DBOPS_BACKUP_IDENTITY. */
  env: NodeJS.ProcessEnv;
  /** Flags every production-path command of this fixture needs. */
  flags: string[];
  writeEnvironments(environments: Record<string, Record<string, unknown>>, evidence?: Record<string, unknown>): Promise<void>;
  /** Adds migrations (name → SQL) and their rollbacks (name → SQL, or null for none). */
  addMigrations(migrations: Record<string, string>, rollbacks?: Record<string, string | null>): Promise<void>;
}

let key: Promise<AgeKey> | undefined;
/** One age key for the whole test file. */
const fixtureKey = () => (key ??= ageKey());

export interface DeployFixtureOptions {
  /** Environment name → database URL; the URL variable is <NAME>_DATABASE_URL (upper case). */
  urls: Record<string, string>;
  environments?: Record<string, Record<string, unknown>>;
  migrations?: Record<string, string>;
  rollbacks?: Record<string, string | null>;
  executor?: Record<string, unknown>;
  extraEnv?: NodeJS.ProcessEnv;
}

export const urlEnvOf = (environment: string) => `${environment.toUpperCase().replace(/-/g, '_')}_DATABASE_URL`;

export async function deployFixture(o: DeployFixtureOptions): Promise<DeployFixture> {
  const root = await tempDir('dbops-deploy-');
  const policiesDir = join(root, 'policies');
  const rollbacksDir = join(root, 'rollbacks');
  const reportsDir = join(root, 'reports');
  const storageDir = join(root, 'backup-server');
  await Promise.all([mkdir(policiesDir), mkdir(rollbacksDir), mkdir(reportsDir), mkdir(storageDir)]);
  const migrationsDir = await migrationsFolder({});
  const { identity, recipient } = await fixtureKey();
  const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
  await writeFile(
    join(policiesDir, 'backups.yaml'),
    json({
      version: 1,
      encryption: { recipients: [{ name: 'test', key: recipient }] },
      targets: { server: { type: 'directory', path: storageDir, primary: true } },
    }),
  );
  await writeFile(
    join(policiesDir, 'migrations.yaml'),
    json({
      version: 1,
      executor: { lock_timeout: '2s', lock_retries: 1, retry_backoff: '100ms', retry_backoff_max: '200ms', advisory_lock_timeout: '5s', ...o.executor },
    }),
  );
  const env = testEnv({
    DBOPS_BACKUP_IDENTITY: identity,
    ...Object.fromEntries(Object.entries(o.urls).map(([name, url]) => [urlEnvOf(name), url])),
    ...o.extraEnv,
  });
  const fixture: DeployFixture = {
    root,
    policiesDir,
    migrationsDir,
    rollbacksDir,
    reportsDir,
    storageDir,
    identity,
    recipient,
    env,
    flags: ['--policies-dir', policiesDir, '--migrations-dir', migrationsDir, '--rollbacks-dir', rollbacksDir, '--reports-dir', reportsDir],
    async writeEnvironments(environments, evidence) {
      const full = Object.fromEntries(Object.entries(environments).map(([name, e]) => [name, { database_url_env: urlEnvOf(name), ...e }]));
      await writeFile(join(policiesDir, 'environments.yaml'), json({ version: 1, environments: full, ...(evidence ? { evidence } : {}) }));
    },
    async addMigrations(migrations, rollbacks = {}) {
      for (const [name, sql] of Object.entries(migrations)) {
        await mkdir(join(migrationsDir, name), { recursive: true });
        await writeFile(join(migrationsDir, name, 'migration.sql'), sql);
        const rollback = name in rollbacks ? rollbacks[name] : `-- rollback of ${name}\nSELECT 1;\n`;
        if (rollback !== null && rollback !== undefined) await writeFile(join(rollbacksDir, `${name}.sql`), rollback);
      }
    },
  };
  await fixture.writeEnvironments(o.environments ?? Object.fromEntries(Object.keys(o.urls).map((n) => [n, { approvals: 0, backup: { required: false } }])));
  if (o.migrations) await fixture.addMigrations(o.migrations, o.rollbacks);
  return fixture;
}
