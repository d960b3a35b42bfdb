import { EventportError, formatZodError } from '@eventport/core';
import { z } from 'zod';

export const positiveInteger = z.coerce.number().int().positive();

/**
 * A commander argument parser that validates (and converts) a flag's value with a zod schema.
 * A bad value is an INVALID_ARGUMENT error naming the flag, which the CLI exits with as a usage error (2).
 */
export function parseFlag<S extends z.ZodType>(schema: S, flag: string): (value: string) => z.output<S> {
  return (value) => {
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      throw new EventportError('INVALID_ARGUMENT', `${formatZodError(parsed.error, () => flag)} (got "${value}")`);
    }
    return parsed.data;
  };
}
