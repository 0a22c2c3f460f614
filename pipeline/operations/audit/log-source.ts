import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EnvError } from '../../core/errors.ts';
import { isPgError, type Client } from '../../infra/db/client.ts';

/**
 * Where the server log is read from: a folder on this machine (`--log-dir`, the server's log_directory mounted
 * here), or the server itself through pg_ls_logdir() and pg_read_binary_file(), which needs no mount but the
 * privileges to read the server's files. Either way only the log files of the policy's format, by name and size, read by range.
 */
export interface LogSource {
  /** For messages and the segments' source: the folder, or `server:<log_directory>`. */
  description: string;
  /** The log files whose names match (`.json`, `.csv`), oldest first (their names carry the rotation time), with their sizes now. */
  list(files: RegExp): Promise<Array<{ name: string; size: number }>>;
  read(name: string, offset: number, length: number): Promise<Buffer>;
}

export function folderSource(dir: string): LogSource {
  return {
    description: dir,
    async list(files) {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (e) {
        throw new EnvError(`Could not read the log folder ${dir}: ${(e as Error).message}.`, {
          hint: 'Pass the server’s log_directory with --log-dir, readable by this user (log_file_mode = 0640 and this user in the server’s group, or 0644); or leave --log-dir out to read the log through the server.',
        });
      }
      const logs = names.filter((n) => files.test(n)).sort();
      return Promise.all(logs.map(async (name) => ({ name, size: (await stat(join(dir, name))).size })));
    },
    async read(name, offset, length) {
      const handle = await open(join(dir, name), 'r');
      try {
        const bytes = Buffer.alloc(length);
        const { bytesRead } = await handle.read(bytes, 0, length, offset);
        return bytes.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    },
  };
}

const denied = (e: unknown, what: string, grant: string): never => {
  if (isPgError(e) && e.code === '42501')
    throw new EnvError(`The server refused to ${what}: ${e.message}.`, {
      hint: `${grant}, or pass the log folder mounted on this machine with --log-dir.`,
      cause: e,
    });
  throw e;
};

/** The server's own log, read through SQL: pg_ls_logdir() (pg_monitor) and pg_read_binary_file() (pg_read_server_files). */
export async function serverSource(client: Client): Promise<LogSource> {
  const user = (await client.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u;
  // log_directory is one of the settings only pg_read_all_settings (in pg_monitor) may read.
  const dir = (
    await client
      .query<{ dir: string }>(`SELECT current_setting('log_directory') AS dir`)
      .catch((e: unknown) => denied(e, 'say where its log is (log_directory)', `GRANT pg_monitor TO "${user}"`))
  ).rows[0]!.dir;
  return {
    description: `server:${dir}`,
    async list(files) {
      const rows = await client
        .query<{ name: string; size: string }>(`SELECT name, size::text AS size FROM pg_ls_logdir() ORDER BY name`)
        .catch((e: unknown) => denied(e, 'list its log folder (pg_ls_logdir)', `GRANT pg_monitor TO "${user}"`));
      return rows.rows.filter((r) => files.test(r.name)).map((r) => ({ name: r.name, size: Number(r.size) }));
    },
    async read(name, offset, length) {
      const { rows } = await client
        .query<{ bytes: Buffer }>(`SELECT pg_read_binary_file($1, $2, $3, false) AS bytes`, [`${dir}/${name}`, offset, length])
        .catch((e: unknown) => denied(e, `read ${dir}/${name} (pg_read_binary_file)`, `GRANT pg_read_server_files TO "${user}"`));
      return rows[0]!.bytes;
    },
  };
}
