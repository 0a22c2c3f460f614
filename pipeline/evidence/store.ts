import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { ConfigError, RefusedError, UsageError } from '../core/errors.ts';
import { didYouMean } from '../core/suggest.ts';
import type { Logger } from '../core/logger.ts';
import { createShell } from '../core/shell.ts';
import { DBOPS_VERSION } from '../core/version.ts';
import { ENVIRONMENT_NAME } from '../policy/environments.ts';
import type { Policies } from '../policy/schema.ts';
import { writeFileAtomic } from '../core/fs.ts';
import { openTargets } from '../infra/storage/open.ts';
import { DirectoryStorage } from '../infra/storage/directory.ts';
import { localDir } from '../infra/pg/local.ts';
import { NotFoundError, type Storage } from '../infra/storage/types.ts';
import { EvidenceBundle, InflightMarker, type BundleDraft } from './bundle.ts';
import { bundleStem, CHECKPOINT_FILE, checkBundle, checkCheckpoint, INFLIGHT_FILE, parseBundleName, sealBundle, serialize, sha256Hex } from './chain.ts';
import { renderBundleBody, renderBundleMarkdown } from './render.ts';
import { dbopsBuild } from '../infra/git/base.ts';
import { redactDeep } from '../core/redact.ts';

/** Where the bundles of one environment live. */
export interface EvidenceStore {
  storage: Storage;
  /** `<prefix>/<environment>/` */
  folder: string;
  environment: string;
  /** For warnings (an unreadable in-flight marker, a Markdown twin restored after a crash). */
  log?: Logger;
}

export interface StoredBundle {
  bundle: EvidenceBundle;
  key: string;
  markdownKey: string;
  /** The exact bytes stored (also written to the workflow artifact). */
  json: string;
  markdown: string;
}

/** The evidence storage target and prefix of the policies (without an environment): for commands that walk every environment. */
export function openEvidenceRoot(
  policies: Pick<Policies, 'backups' | 'environments'>,
  env: NodeJS.ProcessEnv,
  log?: Logger,
): { storage: Storage; prefix: string } {
  const { target, prefix } = policies.environments.evidence;
  const targets = openTargets(policies.backups, env, log);
  if (target !== undefined && !targets.names.includes(target)) {
    throw new ConfigError(
      `policies/environments.yaml: evidence.target "${target}" is not a storage target of policies/backups.yaml (it defines ${targets.names.map((n) => `"${n}"`).join(', ')}).`,
      {
        hint: `Name one of ${targets.names.join(', ')}, or remove evidence.target to use the primary target.`,
      },
    );
  }
  return { storage: targets.get(target), prefix: `${prefix}/` };
}

/** Refuses what cannot be an environment (it becomes a folder name of the evidence storage). `what` names it in the message, e.g. the flag. */
export function checkEnvironmentName(name: string | undefined, what = `--environment "${name}"`): void {
  if (name !== undefined && !ENVIRONMENT_NAME.test(name)) {
    throw new UsageError(`${what} is not an environment name (lower-case letters, digits and dashes).`, {
      hint: 'Pass a name as policies/environments.yaml spells it, e.g. production.',
    });
  }
}

/**
 * Refuses an --environment that neither policies/environments.yaml defines nor the evidence holds: a typo
 * must not verify or list "nothing" and pass. `where` says where the evidence was looked for.
 */
export function assertKnownEnvironment(name: string | undefined, defined: Iterable<string> | null, found: Iterable<string>, where: string): void {
  if (name === undefined) return;
  const known = new Set([...(defined ?? []), ...found]);
  if (known.has(name)) return;
  const why = defined ? `policies/environments.yaml does not define it and ${where} holds no evidence of it` : `${where} holds no evidence of it`;
  throw new UsageError(`--environment ${name}: no such environment; ${why}.${didYouMean(name, known)}`, {
    hint: known.size > 0 ? `Known environments: ${[...known].sort().join(', ')}.` : 'No environment is defined or has evidence yet.',
  });
}

/** The evidence target (policy evidence.target, else the backups primary) and folder of an environment. */
export function openEvidence(policies: Pick<Policies, 'backups' | 'environments'>, environment: string, env: NodeJS.ProcessEnv, log: Logger): EvidenceStore {
  checkEnvironmentName(environment, `"${environment}"`);
  const { storage, prefix } = openEvidenceRoot(policies, env, log);
  return { storage, folder: `${prefix}${environment}/`, environment, log };
}

/** The environment `local`: evidence of what ran against the embedded cluster (a DR drill), kept in its folder. */
export const LOCAL_ENVIRONMENT = 'local';

export async function openLocalEvidence(env: NodeJS.ProcessEnv, log: Logger): Promise<EvidenceStore & { dir: string }> {
  const dir = join(localDir(env), 'evidence');
  await mkdir(dir, { recursive: true });
  return { storage: new DirectoryStorage({ name: 'local', path: dir }), folder: `${LOCAL_ENVIRONMENT}/`, environment: LOCAL_ENVIRONMENT, log, dir };
}

/** The evidence of `environment`, or the local chain (environment `local`) of what ran without one. */
export async function openEvidenceOf(
  policies: Pick<Policies, 'backups' | 'environments'>,
  environment: string | undefined,
  env: NodeJS.ProcessEnv,
  log: Logger,
): Promise<EvidenceStore> {
  return environment === undefined ? openLocalEvidence(env, log) : openEvidence(policies, environment, env, log);
}

/** Environments with an evidence folder under the prefix, sorted. */
export async function evidenceEnvironments(storage: Storage, prefix: string): Promise<string[]> {
  const names = new Set<string>();
  for (const o of await storage.list(prefix)) {
    const rest = o.key.slice(prefix.length).split('/');
    if (rest.length === 2 && ENVIRONMENT_NAME.test(rest[0]!)) names.add(rest[0]!);
  }
  return [...names].sort();
}

export async function readObject(storage: Storage, key: string): Promise<Buffer | undefined> {
  try {
    return await buffer(await storage.get(key));
  } catch (e) {
    if (e instanceof NotFoundError) return undefined;
    throw e;
  }
}

/** Every file directly in the environment's folder, by name (the in-flight marker left out). */
export async function readFolder(store: EvidenceStore): Promise<Map<string, Buffer>> {
  const names = (await store.storage.list(store.folder)).map((o) => o.key.slice(store.folder.length)).filter((n) => !n.includes('/') && n !== INFLIGHT_FILE);
  const files = new Map<string, Buffer>();
  // Small objects, read a few at a time: on S3 the round trips dominate.
  for (let i = 0; i < names.length; i += 8) {
    const batch = names.slice(i, i + 8);
    const read = await Promise.all(batch.map((n) => readObject(store.storage, `${store.folder}${n}`)));
    batch.forEach((n, j) => read[j] && files.set(n, read[j]));
  }
  return files;
}

const where = (store: EvidenceStore) => `the evidence of "${store.environment}" on target "${store.storage.name}" (${store.storage.location})`;

/** The link a new bundle carries: the newest stored bundle (which must verify), else the retention checkpoint, else none. */
async function chainTip(store: EvidenceStore): Promise<{ sequence: number; previous: EvidenceBundle['previous'] }> {
  const names = (await store.storage.list(store.folder)).map((o) => o.key.slice(store.folder.length)).filter((n) => !n.includes('/'));
  const bundles = names
    .map((n) => ({ n, p: parseBundleName(n) }))
    .filter((x) => x.p?.ext === 'json')
    .sort((a, b) => a.p!.sequence - b.p!.sequence || (a.n < b.n ? -1 : 1));
  const newest = bundles.at(-1);
  const refuse = (key: string, why: string) =>
    new RefusedError(`Refusing to extend ${where(store)}: ${why}`, {
      hint: `Run \`dbops evidence verify --environment ${store.environment}\` and have the problem at ${key} investigated (restore the original from a copy, e.g. the workflow artifact of that run). A new bundle is never linked to a broken one.`,
    });
  if (newest) {
    const key = `${store.folder}${newest.n}`;
    const stem = newest.p!.stem;
    const json = await readObject(store.storage, key);
    if (!json) throw refuse(key, `${key} disappeared while it was read.`);
    const markdownKey = `${store.folder}${stem}.md`;
    const markdown = await readObject(store.storage, markdownKey);
    const check = checkBundle({ environment: store.environment, key, name: newest.n, json, markdown, markdownKey });
    const problems = check.problems.filter((p) => !(p.check === 'markdown' && markdown === undefined));
    if (!check.intact || !check.bundle || problems.length > 0) throw refuse(key, `its newest bundle does not verify: ${problems[0]?.message ?? 'unreadable'}`);
    if (markdown === undefined) {
      // The JSON is the commit point: a crash between the two puts leaves the JSON alone. The twin is a
      // rendering of it; written again only when this dbops renders exactly the page that was sealed.
      if (sha256Hex(renderBundleBody(check.bundle)) === check.bundle.markdownSha256) {
        await store.storage.put(markdownKey, renderBundleMarkdown(check.bundle));
        store.log?.warn({ key: markdownKey }, `restored the missing Markdown twin ${markdownKey} of bundle ${check.bundle.sequence}`);
      } else
        store.log?.warn(
          { key: markdownKey },
          `the Markdown twin ${markdownKey} of bundle ${check.bundle.sequence} is missing and this dbops version renders it differently: not restored`,
        );
    }
    return { sequence: check.bundle.sequence + 1, previous: { sequence: check.bundle.sequence, sha256: check.hash! } };
  }
  if (names.includes(CHECKPOINT_FILE)) {
    const key = `${store.folder}${CHECKPOINT_FILE}`;
    const bytes = await readObject(store.storage, key);
    const c = bytes ? checkCheckpoint(store.environment, key, bytes) : undefined;
    if (!c?.checkpoint) throw refuse(key, c?.problems[0]?.message ?? `${key} disappeared while it was read.`);
    return { sequence: c.checkpoint.throughSequence + 1, previous: { sequence: c.checkpoint.throughSequence, sha256: c.checkpoint.sha256 } };
  }
  return { sequence: 1, previous: null };
}

/**
 * The newest bundle of `kind` that `accept` takes (newest first, reading back only as far as needed), or
 * undefined. Read as stored; `dbops evidence verify` is what judges the chain.
 */
export async function newestBundle(
  store: EvidenceStore,
  kind: EvidenceBundle['kind'],
  accept: (b: EvidenceBundle) => boolean,
): Promise<EvidenceBundle | undefined> {
  const names = (await store.storage.list(store.folder))
    .map((o) => o.key.slice(store.folder.length))
    .map((n) => ({ n, p: parseBundleName(n) }))
    .filter((x) => x.p?.ext === 'json' && x.p.stem.endsWith(`-${kind}`))
    .sort((a, b) => b.p!.sequence - a.p!.sequence);
  for (const { n } of names) {
    const bytes = await readObject(store.storage, `${store.folder}${n}`);
    const parsed = bytes ? EvidenceBundle.safeParse(JSON.parse(bytes.toString('utf8'))) : undefined;
    if (parsed?.success && accept(parsed.data)) return parsed.data;
  }
  return undefined;
}

/** The sequence the next bundle of this environment gets (stable while the caller holds the deploy lock). */
export const nextSequence = async (store: EvidenceStore): Promise<number> => (await chainTip(store)).sequence;

/**
 * Seals the draft (sequence = newest + 1, previous = its hash, own sha256) and stores JSON and Markdown.
 * Callers hold the deploy lock. The JSON is stored first: it is the bundle (the commit point), the Markdown
 * a rendering that the next append restores if a crash cut it off. `build` defaults to this dbops and the
 * git commit of the current directory.
 */
export async function appendBundle(
  store: EvidenceStore,
  draft: BundleDraft,
  now: Date = new Date(),
  build?: { version: string; commit: string | null },
): Promise<StoredBundle> {
  const tip = await chainTip(store);
  const dbops = build ?? (store.log ? await dbopsBuild(createShell(store.log)) : { version: DBOPS_VERSION, commit: null });
  // Secrets never reach a bundle, whatever the caller put into error messages or reasons; redacting before
  // sealing keeps the hash over what is stored.
  const unsealed = EvidenceBundle.omit({ sha256: true, markdownSha256: true }).parse(
    redactDeep({
      formatVersion: 1,
      environment: store.environment,
      sequence: tip.sequence,
      kind: draft.kind,
      createdAt: now.toISOString(),
      previous: tip.previous,
      breakGlass: draft.breakGlass,
      execution: draft.execution,
      interrupted: draft.interrupted,
      drill: draft.drill,
      settings: draft.settings,
      queryReview: draft.queryReview,
      auditLog: draft.auditLog,
      access: draft.access,
      drift: draft.drift,
      run: draft.run,
      dbops,
    }),
  );
  const bundle = sealBundle(unsealed);
  const stem = bundleStem(bundle);
  const key = `${store.folder}${stem}.json`;
  const markdownKey = `${store.folder}${stem}.md`;
  for (const k of [key, markdownKey]) {
    if (await store.storage.head(k)) {
      throw new RefusedError(`Refusing to overwrite ${k} on target "${store.storage.name}": a bundle with this key already exists.`, {
        hint: 'Another deploy of this environment wrote a bundle at the same moment; deploys must hold the deploy lock. Run `dbops evidence verify` and deploy again.',
      });
    }
  }
  const json = serialize(bundle);
  const markdown = renderBundleMarkdown(bundle);
  await store.storage.put(key, json);
  await store.storage.put(markdownKey, markdown);
  return { bundle, key, markdownKey, json, markdown };
}

/** Writes the bundle's two files to `<dir>/<environment>/` (the workflow artifact; `evidence verify --dir <dir>` reads that layout). */
export async function saveLocalCopy(dir: string, stored: StoredBundle): Promise<{ json: string; markdown: string }> {
  const folder = join(dir, stored.bundle.environment);
  const stem = bundleStem(stored.bundle);
  const paths = { json: join(folder, `${stem}.json`), markdown: join(folder, `${stem}.md`) };
  await writeFileAtomic(paths.json, stored.json);
  await writeFileAtomic(paths.markdown, stored.markdown);
  return paths;
}

const inflightKey = (store: EvidenceStore) => `${store.folder}${INFLIGHT_FILE}`;

export async function writeInflight(store: EvidenceStore, marker: InflightMarker): Promise<void> {
  await store.storage.put(inflightKey(store), serialize(redactDeep(InflightMarker.parse(marker))));
}

/** The marker, or undefined; an unreadable marker is returned as undefined with a warning. */
export async function readInflight(store: EvidenceStore): Promise<InflightMarker | undefined> {
  const key = inflightKey(store);
  const bytes = await readObject(store.storage, key);
  if (!bytes) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    store.log?.warn({ key }, `ignoring the in-flight marker ${key}: not valid JSON (${(e as Error).message})`);
    return undefined;
  }
  const parsed = InflightMarker.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    store.log?.warn(
      { key },
      `ignoring the in-flight marker ${key}: not a marker (${issue ? `${issue.path.join('.') || '<root>'}: ${issue.message}` : 'invalid'})`,
    );
    return undefined;
  }
  return parsed.data;
}

export async function clearInflight(store: EvidenceStore): Promise<void> {
  await store.storage.delete([inflightKey(store)]);
}
