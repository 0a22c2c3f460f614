import { parseSize } from '../../core/size.ts';
import type { Resources } from '../../policy/postgresql.ts';
import { memoryText } from './values.ts';

/**
 * Tuning advice from an environment's declared resources: PGTune's rules for an OLTP workload (a ledger is
 * one), each value with the rule and the numbers that produced it, so a reviewer can follow it. Pure.
 * Written here rather than taken from a library: PGTune is a web page (le0pard/pgtune), not a package.
 */

export interface Advice {
  name: string;
  value: string;
  /** The rule with its inputs, e.g. `25 % of memory (64GB)`. */
  rule: string;
}

const GB = 1024 ** 3;
const MB = 1024 ** 2;
const kB = 1024;

export function tuningAdvice(r: Resources): Advice[] {
  const memory = parseSize(r.memory) ?? 0;
  const mem = r.memory;
  const advice: Advice[] = [];
  const add = (name: string, value: string, rule: string) => advice.push({ name, value, rule });

  const sharedBuffers = Math.floor(memory / 4 / kB) * kB;
  add('max_connections', String(r.connections), `the declared connections (${r.connections})`);
  add('shared_buffers', memoryText(sharedBuffers), `25 % of memory (${mem})`);
  add(
    'effective_cache_size',
    memoryText(Math.floor((memory * 3) / 4 / kB) * kB),
    `75 % of memory (${mem}): what the OS cache and shared_buffers hold together`,
  );
  add('maintenance_work_mem', memoryText(Math.min(2 * GB, Math.floor(memory / 16 / kB) * kB)), `memory / 16 (${mem}), at most 2GB`);
  // 3 % of shared_buffers, between 32kB and 16MB (one WAL segment): what PostgreSQL's own -1 default computes, with PGTune's cap.
  add('wal_buffers', memoryText(Math.max(32 * kB, Math.min(16 * MB, Math.floor((sharedBuffers * 0.03) / kB) * kB))), '3 % of shared_buffers, at most 16MB');

  const parallel = r.cores >= 2;
  const perGather = Math.min(4, Math.ceil(r.cores / 2));
  if (parallel) {
    // PGTune gives one per core; never below PostgreSQL's 8, which pg_cron's and logical replication's workers share.
    add('max_worker_processes', String(Math.max(8, r.cores)), `one per core (${r.cores}), at least PostgreSQL's 8 for background workers`);
    add('max_parallel_workers', String(r.cores), `one per core (${r.cores})`);
    add('max_parallel_workers_per_gather', String(perGather), `half the cores (${r.cores}), at most 4`);
    add('max_parallel_maintenance_workers', String(perGather), `half the cores (${r.cores}), at most 4`);
  }
  // Each connection may run a few sorts or hashes at once, each parallel worker its own: PGTune's OLTP divisor.
  const workMem = Math.max(64 * kB, Math.floor((memory - sharedBuffers) / (r.connections * 3) / (parallel ? perGather : 1) / kB) * kB);
  add(
    'work_mem',
    memoryText(workMem),
    `(memory − shared_buffers) / (3 × connections${parallel ? ' × max_parallel_workers_per_gather' : ''}) = (${mem} − ${memoryText(sharedBuffers)}) / (3 × ${r.connections}${parallel ? ` × ${perGather}` : ''}), at least 64kB`,
  );

  add('checkpoint_completion_target', '0.9', 'spread checkpoint writes over 90 % of the interval');
  add('min_wal_size', '2GB', 'OLTP: enough recycled WAL for write bursts');
  add('max_wal_size', '8GB', 'OLTP: checkpoints by time rather than by WAL volume');
  add('default_statistics_target', '100', 'OLTP: PostgreSQL’s default sample size');
  add(
    'random_page_cost',
    r.storage === 'hdd' ? '4' : '1.1',
    r.storage === 'hdd' ? 'hdd: a random read costs 4 sequential ones' : `${r.storage}: random reads cost about as much as sequential ones`,
  );
  add('effective_io_concurrency', { ssd: '200', hdd: '2', san: '300' }[r.storage], `${r.storage}: concurrent I/O requests the storage serves`);
  if (memory >= 32 * GB) add('huge_pages', 'try', `memory ≥ 32GB (${mem}): page tables of shared_buffers stay small`);
  return advice;
}
