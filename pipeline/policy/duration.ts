import { z } from 'zod';
import { DURATION_PATTERN } from '../core/duration.ts';

/** A duration as PostgreSQL settings write it: `500ms`, `5s`, `15min`, `2h`; `0` turns the limit off. */
export const Duration = z.union([z.string().regex(DURATION_PATTERN, 'expected a duration such as 500ms, 5s, 15min, 2h or 0'), z.literal(0)]).transform(String);
