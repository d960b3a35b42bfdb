import { z } from 'zod';
import { type ErrorCode, EventportError } from './errors.js';

/** One line per issue, "path: message", for error messages that say exactly what to fix. */
export function formatZodError(
  error: z.ZodError,
  nameOf: (path: PropertyKey[]) => string = defaultName,
  known: readonly string[] = [],
): string {
  return error.issues
    .map((issue) => {
      if (issue.code !== 'unrecognized_keys') return `${nameOf(issue.path)}: ${issue.message}`;
      const hints = issue.keys.map((key) => {
        const closest = closestName(key, known);
        return closest ? `"${key}" (did you mean "${closest}"?)` : `"${key}"`;
      });
      const where = issue.path.length === 0 ? '' : ` in ${nameOf(issue.path)}`;
      return `unknown option${hints.length > 1 ? 's' : ''} ${hints.join(', ')}${where}${known.length ? `; valid: ${known.join(', ')}` : ''}`;
    })
    .join('; ');
}

/** The keys of an object schema, for "did you mean" hints. */
export function schemaKeys(schema: z.ZodType): string[] {
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
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
    throw new EventportError(
      code,
      `invalid ${component} options: ${formatZodError(parsed.error, undefined, schemaKeys(schema))}`,
    );
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

/**
 * Fails on keys that are not in `known`, naming the key and the closest known one, so a typo
 * (`grup`, `maxLenght`) is an error instead of an option silently left at its default.
 */
export function rejectUnknownKeys(
  input: object,
  known: readonly string[],
  what: string,
  code: ErrorCode = 'INVALID_CONFIG',
): void {
  const unknown = Object.keys(input).filter(
    (key) => !known.includes(key) && (input as Record<string, unknown>)[key] !== undefined,
  );
  if (unknown.length === 0) return;
  const hints = unknown.map((key) => {
    const closest = closestName(key, known);
    return closest ? `"${key}" (did you mean "${closest}"?)` : `"${key}"`;
  });
  throw new EventportError(
    code,
    `unknown ${what}${unknown.length > 1 ? 's' : ''} ${hints.join(', ')}; valid: ${known.join(', ')}`,
  );
}

/** The known name within edit distance 3 of `name`, if any. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance <= 3 && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] as number;
}
