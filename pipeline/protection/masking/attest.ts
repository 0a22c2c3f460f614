import { z } from 'zod';
import type { Client } from '../../infra/db/client.ts';
import { markOwner, ownership } from '../../infra/db/clone.ts';
import type { DbTarget } from '../../infra/db/url.ts';

/**
 * What a masked snapshot is, written on its template database (COMMENT ON DATABASE, beside the ownership
 * mark that keeps it from being swept) and read by `dbops rehearse --snapshot masked`, which copies it into
 * the rehearsal report and from there into the deploy evidence: which backup was masked, under which
 * policy, when, and what the scan proved. It names no seed and no original value.
 */
export const MaskedSnapshot = z.object({
  /** The template database. */
  database: z.string(),
  backupId: z.string(),
  /** When the masked backup was taken. */
  backupTakenAt: z.string(),
  /** The database the backup is of. */
  sourceDatabase: z.string(),
  /** SHA-256 of policies/masking.yaml as the masking used it (of its defaults when the file is absent). */
  policySha256: z.string(),
  maskedAt: z.string(),
  /** Masked columns (keep rules aside). */
  columns: z.number(),
  scan: z.object({
    /** Text-like columns searched. */
    columns: z.number(),
    /** Distinct original values searched for. */
    values: z.number(),
    /** Cells still holding one (0 for every snapshot that exists: a failing scan never becomes a template). */
    remaining: z.number(),
  }),
  /** Foreign keys and policy checks that held. */
  checks: z.number(),
});
export type MaskedSnapshot = z.output<typeof MaskedSnapshot>;

/** Where the masked snapshot lives, as `snapshot mask` builds it and `rehearse --snapshot masked` clones it. */
export interface MaskedSnapshotLocation {
  /** The server; undefined: the embedded cluster. */
  server: DbTarget | undefined;
  /** The template database. */
  database: string;
  /** For messages: "the embedded cluster", "the server of environment staging ($STAGING_DATABASE_URL)", "--database-url". */
  where: string;
}

/** The attestation of a template database, or undefined when it is not a masked snapshot dbops made. */
export async function readMaskedSnapshot(admin: Client, database: string): Promise<MaskedSnapshot | undefined> {
  const { rows } = await admin.query<{ note: string | null }>(`SELECT shobj_description(oid, 'pg_database') AS note FROM pg_database WHERE datname = $1`, [
    database,
  ]);
  if (rows.length === 0) return undefined;
  try {
    const parsed = MaskedSnapshot.safeParse((JSON.parse(rows[0]!.note ?? '') as { masked?: unknown }).masked);
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Marks a database as kept (never swept) and as the masked snapshot described. */
export async function writeMaskedSnapshot(admin: Client, database: string, snapshot: MaskedSnapshot): Promise<void> {
  await markOwner(admin, database, ownership(true), { masked: snapshot });
}

/** One line for reports: "dbops_masked: backup 20261207T020000Z-daily-3f9a masked 2026-12-07T05:41:02Z (policy sha256 1a2b3c4d5e6f)". */
export const describeMaskedSnapshot = (s: MaskedSnapshot): string =>
  `${s.database}: backup ${s.backupId} of ${s.sourceDatabase}, masked ${s.maskedAt} (masking policy sha256 ${s.policySha256.slice(0, 12)})`;

/** SHA-256 of policies/masking.yaml as written (what `sha256sum` prints), or of its defaults when the file is absent. */
export async function maskingPolicyDigest(path: string | undefined, value: unknown): Promise<string> {
  const { createHash } = await import('node:crypto');
  const { readFile } = await import('node:fs/promises');
  const bytes = path === undefined ? JSON.stringify(value) : await readFile(path);
  return createHash('sha256').update(bytes).digest('hex');
}
