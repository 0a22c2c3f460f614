import slugify from '@sindresorhus/slugify';
import { UsageError } from '../../core/errors.ts';

/** Prisma's own limit on the name part (the engine refuses longer ones with P3??? "MigrationNameTooLong"). */
const MAX_NAME = 200;

/**
 * The name part of the migration folder, made the way `prisma migrate dev --name` makes it: Prisma's CLI
 * passes the name through @sindresorhus/slugify with `_` as the separator (camelCase split, lower case,
 * accents transliterated) and keeps 200 characters, so `AddInvoiceDueDate` becomes `add_invoice_due_date`.
 */
export function migrationName(raw: string): string {
  const name = slugify(raw, { separator: '_' }).substring(0, MAX_NAME);
  if (name === '')
    throw new UsageError(`--name ${JSON.stringify(raw)} has no letter or digit to name the migration with.`, {
      hint: 'Name the change, e.g. --name add_invoice_due_date.',
    });
  return name;
}
