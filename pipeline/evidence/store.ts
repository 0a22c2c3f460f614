import type { Logger } from '../core/logger.ts';
import type { Policies } from '../policy/schema.ts';
import type { Storage } from '../storage/types.ts';
import type { BundleDraft, EvidenceBundle, InflightMarker } from './bundle.ts';

/** Where the bundles of one environment live. */
export interface EvidenceStore {
  storage: Storage;
  /** `<prefix>/<environment>/` */
  folder: string;
  environment: string;
}

export interface StoredBundle {
  bundle: EvidenceBundle;
  key: string;
  markdownKey: string;
  /** The exact bytes stored (also written to the workflow artifact). */
  json: string;
  markdown: string;
}

/** The evidence target (policy evidence.target, else the backups primary) and folder of an environment. */
export function openEvidence(_policies: Pick<Policies, 'backups' | 'environments'>, _environment: string, _env: NodeJS.ProcessEnv, _log: Logger): EvidenceStore {
  throw new Error('not implemented: openEvidence');
}

/** Seals the draft (sequence = newest + 1, previous = its hash, own sha256) and stores JSON and Markdown. Callers hold the deploy lock. */
export async function appendBundle(_store: EvidenceStore, _draft: BundleDraft, _now?: Date): Promise<StoredBundle> {
  throw new Error('not implemented: appendBundle');
}

export async function writeInflight(_store: EvidenceStore, _marker: InflightMarker): Promise<void> {
  throw new Error('not implemented: writeInflight');
}

/** The marker, or undefined; an unreadable marker is returned as undefined with a warning. */
export async function readInflight(_store: EvidenceStore): Promise<InflightMarker | undefined> {
  throw new Error('not implemented: readInflight');
}

export async function clearInflight(_store: EvidenceStore): Promise<void> {
  throw new Error('not implemented: clearInflight');
}
