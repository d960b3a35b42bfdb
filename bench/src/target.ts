/**
 * What one measured client does. The SDK (an EventAdapter), each raw client, the in-process floor and
 * each peer library implement the same interface, so every workload runs the identical loop against all.
 */

/** The JSON message every workload sends: run id, sequence number, publish time, padding to 1 KiB. */
export interface Payload {
  /** Run id: a subscription shared by several runs ignores (but still acks) messages of other runs. */
  r: string;
  /** Sequence number within the run. */
  s: number;
  /** performance.now() when the message was handed to publish. */
  t: number;
  p: string;
}

export type OnMessage = (payload: Payload) => void;

export interface Consumer {
  close(): Promise<void>;
}

export interface BenchTarget {
  /**
   * Makes `topic` ready for publish-only runs: creates the consumer group's queue / subscription where
   * the broker would otherwise drop (and never persist) what is published to a topic nobody reads.
   */
  prepare(topic: string, group: string): Promise<void>;
  publish(topic: string, payload: Payload): Promise<void>;
  publishBatch(topic: string, payloads: readonly Payload[]): Promise<void>;
  /**
   * For a client whose publish returns before the broker has the message (no publisher confirms):
   * resolves once the broker holds everything published to `topic`, so a publish run ends when its
   * messages are stored, as it does for clients that wait for confirms. Absent for those.
   */
  stored?(topic: string): Promise<void>;
  /** Resolves once the group's position exists: everything published afterwards reaches `onMessage`. */
  subscribe(topic: string, group: string, concurrency: number, onMessage: OnMessage): Promise<Consumer>;
  /** Deletes what this run created on the broker (streams, queues, exchanges, topics, subscriptions). */
  cleanup(topic: string, groups: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

export const PAYLOAD_BYTES = 1024;

const pads = new Map<number, string>();

/** A payload whose JSON encoding is exactly PAYLOAD_BYTES bytes (ASCII only). */
export function makePayload(run: string, seq: number): Payload {
  const t = performance.now();
  const base = JSON.stringify({ r: run, s: seq, t, p: '' }).length;
  const length = Math.max(0, PAYLOAD_BYTES - base);
  let pad = pads.get(length);
  if (pad === undefined) {
    pad = 'x'.repeat(length);
    pads.set(length, pad);
  }
  return { r: run, s: seq, t, p: pad };
}

export function encodePayload(payload: Payload): Buffer {
  return Buffer.from(JSON.stringify(payload), 'utf8');
}

export function decodePayload(body: Buffer | Uint8Array | string): Payload {
  const text =
    typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  return JSON.parse(text) as Payload;
}

/** The handler as the SDK runs it: awaited, so a message is settled only once its handler resolved. */
export async function handle(onMessage: OnMessage, payload: Payload): Promise<void> {
  await onMessage(payload);
}
