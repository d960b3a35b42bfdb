import { EventportError, type PublishInput, pause, runOutsideMessageContext } from '@eventport/core';
import type { EventRouting, ReplayOptions, ReplayResult, StoredEvent } from './types.js';

/** Headers every published stored event carries, besides its metadata. */
export const EVENT_TYPE_HEADER = 'event-type';
export const STREAM_ID_HEADER = 'stream-id';
export const STREAM_VERSION_HEADER = 'stream-version';
export const GLOBAL_POSITION_HEADER = 'global-position';

const PROGRESS_EVERY = 100;

/**
 * The message for a stored event, the same whether the outbox relay or a replay publishes it: the
 * event's own id (so consumers that dedupe on ids drop repeats), its metadata as headers.
 */
export function toPublishInput(event: StoredEvent, routing: EventRouting = {}): PublishInput & { id: string } {
  const topic = typeof routing.topic === 'function' ? routing.topic(event) : (routing.topic ?? event.type);
  const key = routing.key ? routing.key(event) : event.streamId;
  const message: PublishInput & { id: string } = {
    topic,
    id: event.id,
    data: event.data,
    timestamp: event.occurredAt.getTime(),
    headers: {
      ...event.metadata,
      [EVENT_TYPE_HEADER]: event.type,
      [STREAM_ID_HEADER]: event.streamId,
      [STREAM_VERSION_HEADER]: String(event.version),
      [GLOBAL_POSITION_HEADER]: String(event.position),
    },
  };
  if (key !== undefined) message.key = key;
  return message;
}

/**
 * Publishes `events` in order. Without `speed` they go out in batches of 100; with it, one by one
 * at the original spacing divided by `speed` (measured from the first event, so delays never add up).
 */
export async function replayEvents(events: AsyncIterable<StoredEvent>, options: ReplayOptions): Promise<ReplayResult> {
  const { to, speed, onProgress, signal } = options;
  if (speed !== undefined && !(speed > 0)) {
    throw new EventportError('INVALID_ARGUMENT', `replay speed must be a positive multiple (got ${speed})`);
  }
  let published = 0;
  let position = 0;
  let batch: StoredEvent[] = [];
  // Replays republish what happened; they are not caused by whatever message is being handled now.
  const publish = (messages: PublishInput[]) => runOutsideMessageContext(() => to.publishBatch(messages));
  const flush = async () => {
    if (batch.length === 0) return;
    await publish(batch.map((event) => toPublishInput(event, options)));
    published += batch.length;
    position = (batch.at(-1) as StoredEvent).position;
    batch = [];
    if (published % PROGRESS_EVERY === 0) onProgress?.({ published, position });
  };

  let startedAt: number | undefined;
  let firstOccurredAt = 0;
  for await (const event of events) {
    if (signal?.aborted) break;
    if (speed === undefined) {
      batch.push(event);
      if (batch.length === PROGRESS_EVERY) await flush();
      continue;
    }
    if (startedAt === undefined) {
      startedAt = Date.now();
      firstOccurredAt = event.occurredAt.getTime();
    }
    const due = startedAt + (event.occurredAt.getTime() - firstOccurredAt) / speed;
    if (!(await pause(due - Date.now(), signal))) break;
    batch.push(event);
    await flush();
  }
  if (!signal?.aborted) await flush();
  if (published % PROGRESS_EVERY !== 0) onProgress?.({ published, position });
  return { published, position };
}

/** The filters replay() and readAll() share, for readers that cannot push them into a query. */
export function matchesFilter(
  event: StoredEvent,
  filter: { types?: readonly string[]; since?: Date; until?: Date },
): boolean {
  if (filter.types && !filter.types.includes(event.type)) return false;
  if (filter.since && event.occurredAt < filter.since) return false;
  if (filter.until && event.occurredAt > filter.until) return false;
  return true;
}
