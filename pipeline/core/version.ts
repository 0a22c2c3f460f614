import { PACKAGE } from './package.ts';

/** dbops's own version (package.json), recorded in reports, manifests, verification records and SARIF. */
export const DBOPS_VERSION = PACKAGE.version;
