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

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;

/** "500" or "500ms", "2s", "5m", "1h", "1d", in milliseconds. */
export function parseDuration(flag: string): (value: string) => number {
  return (value) => {
    const match = DURATION.exec(value.trim());
    const ms = match ? Number(match[1]) * (UNIT_MS[match[2] ?? 'ms'] as number) : Number.NaN;
    if (!Number.isFinite(ms) || ms <= 0) {
      throw new EventportError(
        'INVALID_ARGUMENT',
        `${flag}: expected a duration such as 500ms, 2s, 5m, 1h or 1d (got "${value}")`,
      );
    }
    return Math.round(ms);
  };
}

/**
 * A point in time: an ISO 8601 date or date-time ("2026-11-30", "2026-11-30T08:00:00Z"), epoch
 * milliseconds ("1764489600000"), or a duration ago ("15m", "2h", "1d"). Returns epoch milliseconds.
 */
export function parseTime(flag: string, now: () => number = Date.now): (value: string) => number {
  return (value) => {
    const text = value.trim();
    if (/^\d{10,}$/.test(text)) return Number(text);
    const relative = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text);
    if (relative) return now() - Math.round(Number(relative[1]) * (UNIT_MS[relative[2] as string] as number));
    const parsed = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
    if (Number.isNaN(parsed)) {
      throw new EventportError(
        'INVALID_ARGUMENT',
        `${flag}: expected an ISO date-time (2026-11-30T08:00:00Z), epoch milliseconds, or a duration ago (15m, 2h, 1d) (got "${value}")`,
      );
    }
    return parsed;
  };
}
