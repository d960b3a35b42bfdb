import { z } from 'zod';
import { type ErrorCode, EventportError } from './errors.js';

/** One line per issue, "path: message", for error messages that say exactly what to fix. */
export function formatZodError(error: z.ZodError, nameOf: (path: PropertyKey[]) => string = defaultName): string {
  return error.issues.map((issue) => `${nameOf(issue.path)}: ${issue.message}`).join('; ');
}

function defaultName(path: PropertyKey[]): string {
  return path.length === 0 ? 'value' : path.map(String).join('.');
}

/**
 * Validates an options object against its zod schema (defaults included) before anything connects;
 * a failure is an INVALID_CONFIG error (or `code`, e.g. INVALID_ARGUMENT for call arguments) naming
 * every offending option.
 */
export function parseOptions<S extends z.ZodType>(
  schema: S,
  input: unknown,
  component: string,
  code: ErrorCode = 'INVALID_CONFIG',
): z.output<S> {
  const parsed = schema.safeParse(input ?? {});
  if (!parsed.success) {
    throw new EventportError(code, `invalid ${component} options: ${formatZodError(parsed.error)}`);
  }
  return parsed.data;
}

/**
 * `schema` that also accepts its number written as a string ("30000"), as untyped config (env vars,
 * JSON, command lines) gives it; an empty or non-numeric string still fails `schema`.
 */
export function numericOption<S extends z.ZodNumber>(schema: S) {
  return z.preprocess((value) => (typeof value === 'string' && value.trim() !== '' ? Number(value) : value), schema);
}
