import { z } from 'zod';
import { connection, json, policiesOnly } from '../flags.ts';

/** What every `dbops pitr` command takes: the database (its cluster is the one archived) and the policy. */
export const PitrInputs = z.object({ databaseUrl: connection.databaseUrl, ...policiesOnly, ...json });
export type PitrInputs = z.output<typeof PitrInputs>;
