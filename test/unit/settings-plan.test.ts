// The pure half of `dbops settings`: unit conversion against pg_settings, PGTune's advice, precedence of the
// sources, shared_preload_libraries as a set, and the policy keys another policy owns.
import { describe, expect, it } from 'vitest';
import { checkSettings, normalize, sameValue, tuningAdvice, wantedSettings, type ServerSetting } from '../../pipeline/operations/settings/index.ts';
import { PostgresqlPolicy } from '../../pipeline/policy/postgresql.ts';

const server = (over: Partial<ServerSetting> & Pick<ServerSetting, 'name' | 'setting' | 'vartype'>): ServerSetting => ({
  known: true,
  shown: over.setting,
  unit: null,
  context: 'user',
  pendingRestart: false,
  sourcefile: null,
  sourceline: null,
  ...over,
});

describe('values as pg_settings reports them', () => {
  it('converts memory and time units into the setting’s own unit', () => {
    expect(normalize('64MB', { vartype: 'integer', unit: '8kB' })).toBe(8192);
    expect(normalize('1GB', { vartype: 'integer', unit: 'kB' })).toBe(1048576);
    expect(normalize('500ms', { vartype: 'integer', unit: 'ms' })).toBe(500);
    expect(normalize('10s', { vartype: 'integer', unit: 'ms' })).toBe(10000);
    expect(normalize('2min', { vartype: 'integer', unit: 's' })).toBe(120);
    expect(normalize('2ms', { vartype: 'real', unit: 'ms' })).toBe(2);
    // A bare number is in the setting's unit.
    expect(normalize('8192', { vartype: 'integer', unit: '8kB' })).toBe(8192);
    // A time unit on a memory setting is no value at all.
    expect(normalize('5s', { vartype: 'integer', unit: 'kB' })).toBeUndefined();
    expect(normalize('yes', { vartype: 'bool', unit: null })).toBe('on');
    expect(normalize('maybe', { vartype: 'bool', unit: null })).toBeUndefined();
  });

  it('compares a wanted value with the server’s, in either spelling', () => {
    expect(sameValue('128MB', server({ name: 'shared_buffers', setting: '16384', unit: '8kB', vartype: 'integer' }))).toBe(true);
    expect(sameValue('256MB', server({ name: 'shared_buffers', setting: '16384', unit: '8kB', vartype: 'integer' }))).toBe(false);
    expect(sameValue('off', server({ name: 'log_lock_waits', setting: 'off', vartype: 'bool' }))).toBe(true);
    expect(sameValue('1.1', server({ name: 'random_page_cost', setting: '1.1', vartype: 'real' }))).toBe(true);
    expect(sameValue('TOP', server({ name: 'pg_stat_statements.track', setting: 'top', vartype: 'enum' }))).toBe(true);
    expect(sameValue('lots', server({ name: 'work_mem', setting: '4096', unit: 'kB', vartype: 'integer' }))).toBeUndefined();
  });
});

describe('tuning advice', () => {
  it('follows PGTune’s OLTP rules (8 GB, 4 cores, 1000 connections, ssd: its published figures)', () => {
    const a = Object.fromEntries(tuningAdvice({ memory: '8GB', cores: 4, storage: 'ssd', connections: 1000 }).map((x) => [x.name, x.value]));
    expect(a).toMatchObject({
      shared_buffers: '2GB',
      effective_cache_size: '6GB',
      maintenance_work_mem: '512MB',
      work_mem: '1048kB',
      wal_buffers: '16MB',
      min_wal_size: '2GB',
      max_wal_size: '8GB',
      random_page_cost: '1.1',
      effective_io_concurrency: '200',
      max_parallel_workers_per_gather: '2',
      max_parallel_workers: '4',
      max_connections: '1000',
    });
    // Never fewer worker slots than PostgreSQL's default: pg_cron and logical replication need them.
    expect(a['max_worker_processes']).toBe('8');
    expect(a['huge_pages']).toBeUndefined();
  });

  it('names the rule and its inputs behind each value', () => {
    const advice = tuningAdvice({ memory: '64GB', cores: 16, storage: 'hdd', connections: 300 });
    expect(advice.find((x) => x.name === 'shared_buffers')).toEqual({ name: 'shared_buffers', value: '16GB', rule: '25 % of memory (64GB)' });
    expect(advice.find((x) => x.name === 'random_page_cost')?.value).toBe('4');
    expect(advice.find((x) => x.name === 'huge_pages')?.value).toBe('try');
    expect(advice.find((x) => x.name === 'work_mem')?.rule).toContain('(64GB − 16GB) / (3 × 300 × 4)');
  });
});

describe('wanted settings and their check', () => {
  const policy = PostgresqlPolicy.parse({
    version: 1,
    settings: { work_mem: '8MB', log_lock_waits: true },
    shared_preload_libraries: ['pg_stat_statements', 'auto_explain'],
    environments: { production: { resources: { memory: '64GB', cores: 16, connections: 300 }, settings: { work_mem: '32MB' } } },
  });

  it('takes the environment’s value over the file’s over the advice, and keeps the advice beside', () => {
    const wanted = wantedSettings(policy, 'production', undefined, []);
    const work = wanted.find((w) => w.name === 'work_mem')!;
    expect(work).toMatchObject({ value: '32MB', source: 'policies/postgresql.yaml environments.production.settings' });
    expect(work.advice?.value).toBe('13981kB');
    expect(wanted.find((w) => w.name === 'shared_buffers')?.source).toBe('advice: 25 % of memory (64GB)');
    expect(wanted.find((w) => w.name === 'log_lock_waits')?.value).toBe('on');
    // Without resources: no advice, only the declared values.
    expect(wantedSettings(policy, 'staging', undefined, []).find((w) => w.name === 'shared_buffers')).toBeUndefined();
  });

  it('merges shared_preload_libraries as a set with the server’s own, and pitr’s archiving settings', () => {
    const wanted = wantedSettings(policy, 'staging', { archive_mode: 'on' }, ['pg_cron', 'pg_stat_statements']);
    expect(wanted.find((w) => w.name === 'shared_preload_libraries')?.value).toBe('pg_cron,pg_stat_statements,auto_explain');
    expect(wanted.find((w) => w.name === 'archive_mode')).toMatchObject({ value: 'on', writer: 'pitr' });
    const plan = checkSettings(
      'staging',
      false,
      wanted,
      new Map([
        [
          'shared_preload_libraries',
          server({ name: 'shared_preload_libraries', setting: 'pg_cron,pg_stat_statements', vartype: 'string', context: 'postmaster' }),
        ],
        ['archive_mode', server({ name: 'archive_mode', setting: 'off', vartype: 'enum', context: 'postmaster' })],
        ['work_mem', server({ name: 'work_mem', setting: '8192', unit: 'kB', vartype: 'integer' })],
        ['log_lock_waits', server({ name: 'log_lock_waits', setting: 'off', vartype: 'bool', sourcefile: '/data/postgresql.auto.conf', sourceline: 3 })],
      ]),
    );
    const by = Object.fromEntries(plan.checks.map((c) => [c.name, c]));
    expect(by['shared_preload_libraries']).toMatchObject({ status: 'drift', problem: 'not preloaded: auto_explain', restart: true });
    expect(by['archive_mode']?.fix).toBe('`dbops pitr enable`, then restart PostgreSQL');
    expect(by['work_mem']?.status).toBe('ok');
    expect(by['log_lock_waits']).toMatchObject({ status: 'drift', fix: 'ALTER SYSTEM RESET log_lock_waits; then `dbops settings apply`' });
    expect(plan.counts).toMatchObject({ ok: 1, drift: 3 });
  });

  it('refuses in the policy a setting another policy owns, and a name pg_settings could not list', () => {
    const bad = PostgresqlPolicy.safeParse({ version: 1, settings: { archive_timeout: '60s', 'Work-Mem': '1MB' } });
    expect(bad.success).toBe(false);
    const messages = bad.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');
    expect(messages).toContain('archive_timeout is not set here: it comes from pitr.archive_timeout in policies/backups.yaml');
    expect(messages).toContain('expected a setting name as pg_settings lists it');
  });
});
