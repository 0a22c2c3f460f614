import { text } from 'node:stream/consumers';
import { NotFoundError, type Storage } from '../../infra/storage/types.ts';

/**
 * Where monitoring keeps what must outlive a run (open alerts, the traffic profile): beside the evidence of
 * the environment (`<prefix>/<environment>/monitoring/<database>/<name>.json` on the evidence target), so a
 * fresh runner finds what the last one left; for a bare --database-url the local evidence folder. One writer
 * at a time is the workflow's concurrency group; every write replaces the object whole.
 */
export interface MonitorStore {
  /** For messages: "target local, evidence/production/monitoring/astro/". */
  description: string;
  read<T>(name: string): Promise<T | undefined>;
  write(name: string, value: unknown): Promise<void>;
}

/** `folder`: the evidence folder of the environment (`<prefix>/<environment>/`). */
export function monitorStore(evidence: { storage: Storage; folder: string }, database: string): MonitorStore {
  const base = `${evidence.folder}monitoring/${database.replace(/[^A-Za-z0-9_.-]/g, '_')}/`;
  return {
    description: `target ${evidence.storage.name}, ${base}`,
    async read<T>(name: string): Promise<T | undefined> {
      try {
        return JSON.parse(await text(await evidence.storage.get(`${base}${name}.json`))) as T;
      } catch (e) {
        if (e instanceof NotFoundError) return undefined;
        throw e;
      }
    },
    async write(name: string, value: unknown): Promise<void> {
      await evidence.storage.put(`${base}${name}.json`, Buffer.from(`${JSON.stringify(value, null, 2)}\n`));
    },
  };
}
