import { z } from 'zod';
import { SIZE_PATTERN } from '../core/size.ts';

/** A size as PostgreSQL settings write it: `8kB`, `10MB`, `1GB` (1 kB = 1024 B); kept as written, read with core/size.ts. */
export const Size = z.union([z.string().regex(SIZE_PATTERN, 'expected a size such as 10MB, 512kB or 1GB'), z.number().int().min(0)]).transform(String);
