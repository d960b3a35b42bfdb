import { EventportError } from '@eventport/core';
import type { ExpectedVersion } from './types.js';

/**
 * An append found the stream at another version than it expected: someone else wrote first. Load
 * the stream again, decide again, and append with the new version.
 */
export class ConcurrencyError extends EventportError {
  constructor(
    readonly streamId: string,
    readonly expectedVersion: ExpectedVersion,
    /** The stream's version when the append was checked (0: no events). */
    readonly actualVersion: number,
  ) {
    super(
      'CONFLICT',
      `stream "${streamId}" is at version ${actualVersion}, the append expected ${describeExpected(expectedVersion)}`,
      // Retrying the same append fails the same way; the caller must re-read first.
      { retryable: false },
    );
  }
}

export function isConcurrencyError(error: unknown): error is ConcurrencyError {
  return error instanceof ConcurrencyError;
}

/** Throws ConcurrencyError unless a stream at `actual` satisfies `expected`. */
export function checkExpectedVersion(streamId: string, expected: ExpectedVersion, actual: number): void {
  const satisfied =
    expected === 'any' ||
    (expected === 'no-stream' && actual === 0) ||
    (expected === 'exists' && actual > 0) ||
    expected === actual;
  if (!satisfied) throw new ConcurrencyError(streamId, expected, actual);
}

function describeExpected(expected: ExpectedVersion): string {
  if (expected === 'no-stream') return 'no stream';
  if (expected === 'exists') return 'an existing stream';
  return `version ${expected}`;
}
