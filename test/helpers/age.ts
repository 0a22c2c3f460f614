import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateIdentity, identityToRecipient } from 'age-encryption';

export interface AgeKey {
  /** AGE-SECRET-KEY-1… (a secret: never in any output). */
  identity: string;
  /** age1… */
  recipient: string;
}

/**
 * A fresh X25519 key from the age library (the one dbops' own encryption is checked against), so that only
 * the CLI interop tests need the `age` binary.
 */
export async function ageKey(): Promise<AgeKey> {
  const identity = await generateIdentity();
  return { identity, recipient: await identityToRecipient(identity) };
}

/** A fresh key written as an identity file the way age-keygen writes one (for `age -d -i` and --identity-file). */
export async function ageKeyFile(dir: string, name = 'key'): Promise<AgeKey & { file: string }> {
  const key = await ageKey();
  const file = join(dir, `${name}.txt`);
  await writeFile(file, `# created: ${new Date().toISOString()}\n# public key: ${key.recipient}\n${key.identity}\n`, { mode: 0o600 });
  return { ...key, file };
}
