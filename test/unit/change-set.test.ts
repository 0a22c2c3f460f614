// The change a pull request consists of, as lint and rehearse both see it (change/migrations/change-set.ts),
// against a real git repository.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changeScope, checkChangeFlags, readMigrationsFolder, type LocalMigration } from '../../pipeline/change/migrations/index.ts';
import { resolveScope } from '../../pipeline/change/rehearsal/scope.ts';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { createShell } from '../../pipeline/core/shell.ts';

const NAMES = ['20260101000000_a', '20260102000000_b', '20260103000000_c'];
let repo: string;
let previous: string;
let local: LocalMigration[];
let sh: ReturnType<typeof createShell>;

const git = (...args: string[]) =>
  execFileSync('git', args, {
    cwd: repo,
    stdio: 'pipe',
    env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e' },
  });
const add = (name: string) => {
  mkdirSync(join(repo, 'migrations', name), { recursive: true });
  writeFileSync(join(repo, 'migrations', name, 'migration.sql'), `CREATE TABLE "${name.slice(-1)}" (id int);\n`);
};

beforeAll(async () => {
  repo = mkdtempSync(join(tmpdir(), 'dbops-change-set-'));
  git('init', '-q', '-b', 'main');
  add(NAMES[0]!);
  add(NAMES[1]!);
  git('add', '.');
  git('commit', '-q', '-m', 'base');
  add(NAMES[2]!); // the change: untracked, as before `git add`
  previous = process.cwd();
  process.chdir(repo);
  sh = createShell(silentLogger()); // after chdir: a shell keeps the directory it was made in
  local = (await readMigrationsFolder(join(repo, 'migrations'))).migrations;
});
afterAll(() => process.chdir(previous));

describe('changeScope', () => {
  it('against a base ref: the base holds its migration folders, the change is what it lacks (also with an absolute --migrations-dir)', async () => {
    for (const dir of ['migrations', join(repo, 'migrations')]) {
      const scope = await changeScope({}, local, dir, 'main', sh);
      expect(scope).toMatchObject({ kind: 'changed', ref: 'main', onBase: NAMES.slice(0, 2) });
      expect(scope.kind === 'changed' && scope.added.map((m) => m.name)).toEqual([NAMES[2]]);
    }
  });

  it('--last, --only and --all name the change without git', async () => {
    const names = async (flags: Parameters<typeof changeScope>[0]) => {
      const s = await changeScope(flags, local, 'migrations', 'no-such-ref', sh);
      return s.kind === 'changed' ? null : s.migrations.map((m) => m.name);
    };
    expect(await names({ last: 2 })).toEqual(NAMES.slice(1));
    expect(await names({ only: `${NAMES[2]}, ${NAMES[0]}` })).toEqual([NAMES[2], NAMES[0]]);
    expect(await names({ all: true })).toEqual(NAMES);
  });

  it('refuses what names no change: two scopes at once, more migrations than exist, an unknown name, a ref that does not resolve', async () => {
    expect(() => checkChangeFlags({ all: true, last: 1 })).toThrow('--all and --last cannot be combined.');
    expect(() => checkChangeFlags({ last: 1, only: NAMES[0] })).toThrow('--last and --only cannot be combined.');
    expect(() => checkChangeFlags({ all: false, last: 1 })).not.toThrow();
    await expect(changeScope({ last: 4 }, local, 'migrations', 'main', sh)).rejects.toThrow('--last 4: migrations has only 3 migrations.');
    await expect(changeScope({ only: '20260101000000_x' }, local, 'migrations', 'main', sh)).rejects.toThrow(
      '--only names "20260101000000_x", which is not a migration of migrations.',
    );
    await expect(changeScope({ base: 'origin/nope' }, local, 'migrations', 'main', sh)).rejects.toThrow('origin/nope');
  });

  it("rehearse's base state and pending set are the change's: what the base has, then what the change adds", async () => {
    const changed = await resolveScope({ migrationsDir: 'migrations' }, local, 'main', sh);
    expect([changed.base.map((m) => m.name), changed.pending.map((m) => m.name)]).toEqual([NAMES.slice(0, 2), [NAMES[2]]]);
    const last = await resolveScope({ migrationsDir: 'migrations', last: 2 }, local, 'main', sh);
    expect([last.ref, last.base.map((m) => m.name), last.pending.map((m) => m.name)]).toEqual([null, [NAMES[0]], NAMES.slice(1)]);
  });
});
