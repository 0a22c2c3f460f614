import { z } from 'zod';
import { databaseFlags } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const AccessEncryptionInputs = z.object(databaseFlags('whose volume attestation (encryption.volume.<name> of policies/access.yaml) is checked too'));
export type AccessEncryptionInputs = z.output<typeof AccessEncryptionInputs>;

export const spec = defineCommand({
  path: ['access', 'encryption'],
  summary: 'encryption checks: TLS, host rules, SCRAM passwords, data checksums, encrypted backups, volume attestation; read-only',
  description:
    'PostgreSQL 15 has no transparent data encryption (TDE), so dbops checks what stands in for it: ssl = on; every pg_hba.conf rule beyond loopback requires TLS (hostssl) and none over TCP uses trust, password or md5 (pg_hba_file_rules, superuser); password_encryption = scram-sha-256 and no role with an md5 password (only role names are shown, never a password or hash); data_checksums = on; logical backups encrypted with age (encryption.recipients of policies/backups.yaml) and every offsite pgBackRest repository of pitr: with a cipher; with --environment, a fresh attestation in encryption.volume.<name> of policies/access.yaml that the volume is encrypted. Exit 1 on a failed check; a check the connection may not read is a warning. Changes nothing.',
  examples: [
    'dbops access encryption',
    'dbops access encryption --environment production',
    'dbops access encryption --database-url "$STAGING_DATABASE_URL" --json',
  ],
  inputs: AccessEncryptionInputs,
  report: 'access-encryption',
});
