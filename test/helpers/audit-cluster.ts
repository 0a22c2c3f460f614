// A PostgreSQL cluster of its own with pgaudit preloaded and the logging collector writing jsonlog files
// into a folder the test process can read: for `dbops audit check|collect`.
import { chmod, chown, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../pipeline/core/logger.ts';
import { serverRunAs } from '../../pipeline/infra/pg/binaries.ts';
import { clusterUrl, createCluster, destroyCluster, startCluster, type Cluster } from '../../pipeline/infra/pg/cluster.ts';
import { queryUrl } from './db.ts';

export interface AuditCluster {
  /** Running. */
  cluster: Cluster;
  /** Superuser URL of a database of the cluster. */
  url(database: string): string;
  /**
   * Absolute path of the server's log directory (readable by the test process). The collector writes
   * `postgresql-YYYYMMDD-HHMMSS.json` there (log_filename 'postgresql-%Y%m%d-%H%M%S.log': for jsonlog,
   * PostgreSQL replaces the .log suffix with .json), mode 0644, owned by the server's OS user. Beside each
   * the collector also opens a stderr file of the same name ending in .log (usually empty).
   */
  logDir: string;
  /** The jsonlog files of logDir, oldest first (their names sort by time). */
  logFiles(): Promise<string[]>;
  /** `SELECT pg_rotate_logfile()`, after the clock has moved to a new second, then waits until the new file exists. */
  rotate(): Promise<void>;
  /** Stops the server and removes everything; safe twice. */
  stop(): Promise<void>;
}

export const AUDIT_LOG_FILENAME = 'postgresql-%Y%m%d-%H%M%S.log';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A cluster of its own with pgaudit preloaded (shared_preload_libraries = 'pg_stat_statements,pgaudit'),
 * logging_collector = on, log_destination = 'jsonlog', log_directory = an absolute folder, log_filename =
 * 'postgresql-%Y%m%d-%H%M%S.log' (files named …​.json), log_file_mode = 0644, no size or age rotation.
 * `settings` are written as they are into postgresql.conf after these and win over them: quote strings
 * (`{ 'pgaudit.log': "'role,ddl'", log_connections: 'on' }`). log_connections and log_disconnections stay
 * at PostgreSQL's default (off) unless `settings` sets them. The pgaudit extension is not created.
 */
export async function startAuditCluster(label: string, settings: Record<string, string | number> = {}): Promise<AuditCluster> {
  const log = createLogger({ level: 'warn' });
  const home = await mkdtemp(join(tmpdir(), `dbops-audit-${label.replace(/[^A-Za-z0-9_-]+/g, '-')}-`));
  // The server runs as the postgres OS user when the tests run as root: it must reach the folder.
  await chmod(home, 0o755);
  const logDir = join(home, 'log');
  await mkdir(logDir, { mode: 0o755 });
  await chmod(logDir, 0o755);
  const runAs = await serverRunAs();
  if (runAs) await chown(logDir, runAs.uid, runAs.gid);
  let cluster: Cluster | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (cluster) await destroyCluster(cluster, log).catch(() => undefined);
    await rm(home, { recursive: true, force: true });
  };
  try {
    cluster = await createCluster({
      dir: join(home, 'cluster'),
      log,
      settings: {
        fsync: 'off',
        shared_preload_libraries: "'pg_stat_statements,pgaudit'",
        logging_collector: 'on',
        log_destination: "'jsonlog'",
        log_directory: `'${logDir}'`,
        log_filename: `'${AUDIT_LOG_FILENAME}'`,
        log_file_mode: '0644',
        log_rotation_age: 0,
        log_rotation_size: 0,
        log_truncate_on_rotation: 'off',
        ...settings,
      },
    });
    await startCluster(cluster, log);
  } catch (e) {
    await stop();
    throw e;
  }
  const running = cluster;
  const url = (database: string) => clusterUrl(running, database);
  const logFiles = async () =>
    (await readdir(logDir).catch(() => [] as string[]))
      .filter((n) => n.endsWith('.json'))
      .sort()
      .map((n) => join(logDir, n));
  const rotate = async () => {
    const before = new Set(await logFiles());
    // The file name has a resolution of one second: rotating within the second of the newest file would reopen it.
    const second = Math.floor(Date.now() / 1000);
    while (Math.floor(Date.now() / 1000) === second) await sleep(20);
    const newest = [...before].sort().at(-1);
    for (let attempt = 0; attempt < 3; attempt++) {
      await queryUrl(url('postgres'), 'SELECT pg_rotate_logfile()');
      const deadline = Date.now() + 5_000;
      while (Date.now() < deadline) {
        const now = await logFiles();
        if (now.some((f) => !before.has(f) && (!newest || f > newest))) return;
        await sleep(25);
      }
      await sleep(1_000);
    }
    throw new Error(`pg_rotate_logfile() made no new log file in ${logDir}`);
  };
  return { cluster: running, url, logDir, logFiles, rotate, stop };
}
