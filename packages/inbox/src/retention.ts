import { parseOptions } from '@eventport/core';
import { z } from 'zod';

/**
 * How long the PostgreSQL store keeps records. A record may go only once no copy of its message can
 * reach its group any more; that horizon is the broker's (see the README's per-backend rule), so it
 * is yours to state as `redeliveryWindowMs`, and no rule below ever deletes a record younger than it.
 */
export interface InboxRetention {
  /**
   * The longest time after a message was handled that a copy of it can still be delivered to the
   * group (a redelivery, a re-read after a crash, a republish by the outbox relay). Records younger
   * than this are never deleted, whatever maxAgeMs and maxRecords say.
   */
  redeliveryWindowMs: number;
  /** Delete records older than this. Must be at least redeliveryWindowMs. */
  maxAgeMs?: number;
  /**
   * Per group: delete the oldest records beyond this many, except those inside the redelivery window
   * (so a burst can keep more than maxRecords for a while, never fewer than the window needs).
   */
  maxRecords?: number;
  /** How often handling starts a cleanup in the background. Default 60 s; 0: only when you call cleanup(). */
  intervalMs?: number;
}

export interface ResolvedRetention {
  redeliveryWindowMs: number;
  maxAgeMs: number | undefined;
  maxRecords: number | undefined;
  intervalMs: number;
}

const RetentionSchema = z
  .strictObject({
    redeliveryWindowMs: z.number({ error: 'is required: see the per-backend retention rule' }).nonnegative(),
    maxAgeMs: z.number().positive().optional(),
    maxRecords: z.number().int().positive().optional(),
    intervalMs: z.number().nonnegative().default(60_000),
  })
  .refine((value) => value.maxAgeMs !== undefined || value.maxRecords !== undefined, {
    message: 'give maxAgeMs, maxRecords or both',
  })
  .refine((value) => value.maxAgeMs === undefined || value.maxAgeMs >= value.redeliveryWindowMs, {
    path: ['maxAgeMs'],
    message: 'must not be below redeliveryWindowMs (it would delete records a redelivery can still need)',
  });

export function resolveRetention(retention: InboxRetention | undefined): ResolvedRetention | undefined {
  if (retention === undefined) return undefined;
  const parsed = parseOptions(RetentionSchema, retention, 'inbox retention', 'INVALID_ARGUMENT');
  return {
    redeliveryWindowMs: parsed.redeliveryWindowMs,
    maxAgeMs: parsed.maxAgeMs,
    maxRecords: parsed.maxRecords,
    intervalMs: parsed.intervalMs,
  };
}

/** What one cleanup did. */
export interface CleanupResult {
  /** Records older than maxAgeMs. */
  deletedByAge: number;
  /** Records beyond maxRecords of their group, and outside the redelivery window. */
  deletedByCount: number;
  /** Records beyond maxRecords that were kept because they are inside the redelivery window. */
  keptInWindow: number;
}
