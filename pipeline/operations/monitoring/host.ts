import { readFile, statfs } from 'node:fs/promises';
import { sleep } from '../../core/duration.ts';

/**
 * CPU, memory and the data directory's disk, read from this machine (/proc, statfs): only meaningful where
 * dbops runs beside the server, which is when the server is on loopback or a socket and its data directory
 * is a folder here. Anywhere else each is null, and the check says plainly that dbops cannot see it.
 */
export interface HostFacts {
  /** Why the host is not measured, or null when it is. */
  unseen: string | null;
  cpuPercent: number | null;
  memoryPercent: number | null;
  disk: { usedPercent: number; freeBytes: number; totalBytes: number } | null;
}

const LOCAL = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

async function cpuTimes(): Promise<{ busy: number; total: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: idle + iowait is not busy.
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - v[3]! - (v[4] ?? 0), total };
}

/** CPU busy time over `sampleMs`, started now: it runs while the database is read, not after. */
export function sampleCpu(sampleMs = 100): Promise<number | null> {
  return (async () => {
    const before = await cpuTimes().catch(() => undefined);
    await sleep(sampleMs);
    const after = await cpuTimes().catch(() => undefined);
    return before && after && after.total > before.total ? (100 * (after.busy - before.busy)) / (after.total - before.total) : null;
  })();
}

export async function hostFacts(host: string, dataDirectory: string | null, cpu: Promise<number | null> = sampleCpu()): Promise<HostFacts> {
  const none = (unseen: string): HostFacts => ({ unseen, cpuPercent: null, memoryPercent: null, disk: null });
  if (!LOCAL.has(host) && !host.startsWith('/')) return none(`the server (${host}) is on another machine: dbops sees this host's /proc only`);
  if (!dataDirectory) return none('the role may not read data_directory (pg_read_all_settings), so dbops cannot tell whether the server runs here');
  const fs = await statfs(dataDirectory).catch(() => undefined);
  if (!fs) return none(`the data directory ${dataDirectory} is not a folder on this machine: the server runs elsewhere (a container, another host)`);
  const [cpuPercent, meminfo] = await Promise.all([cpu, readFile('/proc/meminfo', 'utf8').catch(() => undefined)]);
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(meminfo ?? '')?.[1] ?? NaN);
  const memTotal = kb('MemTotal');
  const memoryPercent = Number.isFinite(memTotal) && memTotal > 0 ? (100 * (memTotal - kb('MemAvailable'))) / memTotal : null;
  const totalBytes = fs.blocks * fs.bsize;
  const freeBytes = fs.bavail * fs.bsize;
  return {
    unseen: null,
    cpuPercent,
    memoryPercent,
    disk: { usedPercent: totalBytes > 0 ? (100 * (totalBytes - freeBytes)) / totalBytes : 0, freeBytes, totalBytes },
  };
}
