/**
 * Secret scrubbing for everything dbops writes. Two layers, like GitHub's `::add-mask::`:
 * any connection string's password is masked by pattern, and values registered at runtime
 * (the password of the URL in use, which can also show up outside a URL) are masked wherever
 * they appear.
 */
const registered = new Set<string>();

export const MASK = '***';

/** Remember a secret value so that every later `redact()` masks it. Short values are ignored: masking "a" would shred output. */
export function registerSecret(value: string | undefined | null): void {
  if (value && value.length >= 4) registered.add(value);
}

// scheme://user:password@host — the password ends at the last '@' before the host part.
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s'"]*):([^@\s'"]*)@/gi;
// key=value connection strings and query parameters
const KV_PASSWORD = /\b(password|passwd|pwd|sslpassword)=([^&\s'"]+)/gi;

// A password can appear as typed, URL-encoded by encodeURIComponent, or with every reserved character encoded.
const spellings = (secret: string) =>
  new Set([secret, encodeURIComponent(secret), secret.replace(/[^A-Za-z0-9_.~-]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`)]);

export function redact(text: string): string {
  let out = text.replace(URL_PASSWORD, (_m, head: string) => `${head}:${MASK}@`).replace(KV_PASSWORD, `$1=${MASK}`);
  for (const secret of registered) {
    for (const form of spellings(secret)) if (out.includes(form)) out = out.split(form).join(MASK);
  }
  return out;
}

/** Every string in a JSON value passed through `redact()`, so the file stays valid JSON whatever a secret contains. */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map(redactDeep) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)])) as T;
  return value;
}

/**
 * Every literal of an SQL text masked (`'…'`, `$$…$$`): statement texts that are stored or shown (pg_stat_statements'
 * utility statements before PostgreSQL 16, pgaudit's statements) keep `ALTER ROLE … PASSWORD '…'` or
 * `OPTIONS (password '…')` as sent. Parameters (`$1`) stay.
 */
export function maskLiterals(query: string): string {
  return query
    .replace(/\$([A-Za-z_][A-Za-z0-9_]*)?\$[\s\S]*?\$\1?\$/g, (m) => (/^\$\d/.test(m) ? m : '$$…$$'))
    .replace(/(?:\b[EeBbXxUu]&?)?'(?:[^']|'')*'/g, "'…'");
}
