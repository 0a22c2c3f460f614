import { readFileSync } from 'node:fs';

/** dbops's own version (package.json), recorded in reports, manifests, verification records and SARIF. */
export const DBOPS_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
