import {
  type EventAdapter,
  type Headers,
  JSON_CONTENT_TYPE,
  parseOptions,
  type ReceivedMessage,
} from '@eventport/core';
import { z } from 'zod';
import { type DeadLetterReason, DLQ_HEADERS, isDeadLetterHeader } from './headers.js';
import { nonNegativeMs, positiveInteger, REPLAY_GROUP, SuffixSchema } from './options.js';

/** A dead letter as listDeadLetters() shows it and replay() filters it. */
export interface DeadLetter {
  id: string;
  /** The topic it failed on, where replay() puts it back. */
  topic: string;
  /** The payload; for a preserved raw body, its JSON value when it parses, else the raw bytes (Buffer). */
  data: unknown;
  key?: string;
  /** The original message's own headers, without the dlq-* ones. */
  headers: Headers;
  timestamp: number;
  reason: DeadLetterReason | 'unknown';
  error: { message: string; class: string; code?: string };
  attempts: number;
  firstFailureAt?: Date;
  lastFailureAt?: Date;
  /** The consumer group that gave up on it. */
  group?: string;
  /** Present when the raw body was preserved: the content type it arrived with ("" when it had none). */
  originalContentType?: string;
  /**
   * Present when the message was too large for the dead-letter topic: `data` holds only its first
   * bytes. replay() skips such letters (putting a cut body back would be wrong); fetch the original
   * from its producer instead.
   */
  truncatedFrom?: number;
}

export interface ScanOptions {
  /** Suffix the decorator was configured with. Default ".dlq". */
  suffix?: string;
  /** Stop once no dead letter arrived for this long. Default 1 s. */
  idleMs?: number;
  /** How long to wait for the first one (consumer-group joins can be slow). Default 5 s. */
  startTimeoutMs?: number;
}

export interface ListOptions extends ScanOptions {
  /** At most this many. Default 100. */
  limit?: number;
}

export interface ReplayOptions extends ScanOptions {
  /** Only dead letters it returns true for are replayed; the others stay in the dead-letter topic. */
  filter?: (letter: DeadLetter) => boolean;
  /** At most this many are replayed. Default: all. */
  limit?: number;
  /** Dead letters examined and held at once; skipped ones occupy it until the replay ends. Default 1,000. */
  window?: number;
  onProgress?: (progress: ReplayResult) => void;
}

export interface ReplayResult {
  replayed: number;
  skipped: number;
}

const ScanOptionsSchema = z.object({
  suffix: SuffixSchema,
  idleMs: nonNegativeMs.default(1_000),
  startTimeoutMs: nonNegativeMs.default(5_000),
});
type ResolvedScanOptions = z.output<typeof ScanOptionsSchema>;

const ListOptionsSchema = ScanOptionsSchema.extend({ limit: positiveInteger.default(100) });

const ReplayOptionsSchema = ScanOptionsSchema.extend({
  limit: positiveInteger.default(Number.POSITIVE_INFINITY),
  window: positiveInteger.default(1_000),
});

/**
 * Reads up to `limit` dead letters of `topic` without removing them (they are handed back to the
 * broker afterwards). Uses only the portable API, through the dedicated replay consumer group.
 */
export async function listDeadLetters(
  adapter: EventAdapter,
  topic: string,
  options: ListOptions = {},
): Promise<DeadLetter[]> {
  const { limit, ...scanOptions } = parseOptions(ListOptionsSchema, options, 'listDeadLetters', 'INVALID_ARGUMENT');
  const letters: DeadLetter[] = [];
  await scan(adapter, topic, scanOptions, limit, async (message) => {
    letters.push(parseDeadLetter(message, topic));
    return letters.length < limit;
  });
  return letters;
}

/**
 * Publishes dead letters of `topic` back to it (same id, key and headers, plus dlq-replayed-at) and
 * removes each from the dead-letter topic once that publish succeeded. A failing publish stops the
 * replay with the error; the letter stays where it was.
 */
export async function replay(adapter: EventAdapter, topic: string, options: ReplayOptions = {}): Promise<ReplayResult> {
  const { limit, window, ...scanOptions } = parseOptions(ReplayOptionsSchema, options, 'replay', 'INVALID_ARGUMENT');
  const progress: ReplayResult = { replayed: 0, skipped: 0 };
  await scan(adapter, topic, scanOptions, window, async (message) => {
    const letter = parseDeadLetter(message, topic);
    if (letter.truncatedFrom !== undefined || (options.filter && !options.filter(letter))) {
      // Left unsettled until the scan ends, so it is not seen twice in this run.
      progress.skipped++;
      options.onProgress?.({ ...progress });
      return true;
    }
    await adapter.publish({
      topic: letter.topic,
      id: letter.id,
      timestamp: letter.timestamp,
      ...(letter.key === undefined ? {} : { key: letter.key }),
      headers: { ...letter.headers, [DLQ_HEADERS.replayedAt]: new Date().toISOString() },
      data: letter.data,
    });
    await message.ack();
    progress.replayed++;
    options.onProgress?.({ ...progress });
    return progress.replayed < limit;
  });
  return progress;
}

/** Reads a message of a dead-letter topic; `originalTopic` is used when it lacks dlq-original-topic. */
export function parseDeadLetter(message: ReceivedMessage, originalTopic: string): DeadLetter {
  const headers: Headers = {};
  for (const [name, value] of Object.entries(message.headers)) {
    if (!isDeadLetterHeader(name)) headers[name] = value;
  }
  const dlq = message.headers;
  const originalContentType = dlq[DLQ_HEADERS.originalContentType];
  const letter: DeadLetter = {
    id: message.id,
    topic: dlq[DLQ_HEADERS.originalTopic] ?? originalTopic,
    data: originalContentType === undefined ? message.data : restoreRaw(message.data, originalContentType),
    headers,
    timestamp: message.timestamp,
    reason: parseReason(dlq[DLQ_HEADERS.reason]),
    error: { message: dlq[DLQ_HEADERS.errorMessage] ?? '', class: dlq[DLQ_HEADERS.errorClass] ?? '' },
    attempts: Number(dlq[DLQ_HEADERS.attempts] ?? 0),
  };
  const key = dlq[DLQ_HEADERS.originalKey];
  if (key !== undefined) letter.key = key;
  const code = dlq[DLQ_HEADERS.errorCode];
  if (code !== undefined) letter.error.code = code;
  const first = parseDate(dlq[DLQ_HEADERS.firstFailureAt]);
  if (first) letter.firstFailureAt = first;
  const last = parseDate(dlq[DLQ_HEADERS.lastFailureAt]);
  if (last) letter.lastFailureAt = last;
  const group = dlq[DLQ_HEADERS.group];
  if (group !== undefined) letter.group = group;
  if (originalContentType !== undefined) letter.originalContentType = originalContentType;
  if (dlq[DLQ_HEADERS.truncated] === 'true') letter.truncatedFrom = Number(dlq[DLQ_HEADERS.originalBytes]);
  return letter;
}

/**
 * A preserved raw body comes back as bytes. JSON that parses (a schema rejection) is replayed as
 * JSON again; anything else is replayed as the raw bytes (application/octet-stream).
 */
function restoreRaw(data: unknown, contentType: string): unknown {
  if (!Buffer.isBuffer(data)) return data;
  if (contentType === '' || contentType === JSON_CONTENT_TYPE || contentType.endsWith('+json')) {
    try {
      return JSON.parse(data.toString('utf8'));
    } catch {
      return data;
    }
  }
  return data;
}

/**
 * Consumes `<topic><suffix>` with the replay group until `visit` returns false, nothing arrives
 * for idleMs, or the stream ends; whatever was not acked is handed back when it closes.
 */
async function scan(
  adapter: EventAdapter,
  topic: string,
  { suffix, idleMs, startTimeoutMs }: ResolvedScanOptions,
  prefetch: number,
  visit: (message: ReceivedMessage) => Promise<boolean>,
): Promise<void> {
  let waitMs = startTimeoutMs;
  // Where the broker cannot replay, the group prepared with the first dead letter holds every one.
  const fromBeginning = adapter.capabilities.replayFromStart;
  const stream = adapter.consume(`${topic}${suffix}`, { group: REPLAY_GROUP, fromBeginning, prefetch });
  const iterator = stream[Symbol.asyncIterator]();
  try {
    while (true) {
      const next = await nextWithin(iterator, waitMs);
      if (next === undefined || next.done) return;
      waitMs = idleMs;
      if (!(await visit(next.value))) return;
    }
  } finally {
    await stream.close();
  }
}

async function nextWithin<T>(iterator: AsyncIterator<T>, ms: number): Promise<IteratorResult<T> | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([iterator.next(), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

function parseReason(value: string | undefined): DeadLetter['reason'] {
  return value === 'exhausted' || value === 'non-retryable' || value === 'invalid' ? value : 'unknown';
}

function parseDate(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}
