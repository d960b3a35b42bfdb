import type { z } from 'zod';

/** One line per issue, "path: message", for error messages that say exactly what to fix. */
export function formatZodError(error: z.ZodError, nameOf: (path: PropertyKey[]) => string = defaultName): string {
  return error.issues.map((issue) => `${nameOf(issue.path)}: ${issue.message}`).join('; ');
}

function defaultName(path: PropertyKey[]): string {
  return path.length === 0 ? 'value' : path.map(String).join('.');
}
