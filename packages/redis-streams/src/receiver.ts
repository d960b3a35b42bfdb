import type { ConsumerLag, IncomingRecord, Receiver } from '@eventport/core';
import type Redis from 'ioredis';
import { parseCursorReply, parseEntries, parseGroups, parsePending, parseReadReply, toRecord } from './entries.js';

/** Longest XREADGROUP BLOCK: how soon `receive` notices that its signal aborted. */
export const BLOCK_MS = 1_000;

/** The group or its stream no longer exists: a closing member has nothing left to hand back or remove. */
const GONE = /^(NOGROUP|ERR The XGROUP subcommand requires the key)/;

/** What this process knows about one group of one stream, shared by its receivers and outliving them. */
export interface GroupState {
  /** The newest entry read: where the group is recreated if it vanishes (stream deleted, Redis lost its data). */
  lastId?: string;
  /** Handled entries whose XACK failed (connection lost): sent with the next XACK, never delivered again. */
  unacked: Set<string>;
  /** Consumer-name suffixes in use: each receiver is its own member. */
  members: Set<number>;
}

export interface Member {
  /** The shared command connection, and this member's own one for the blocking XREADGROUP. */
  client: Redis;
  reader: Redis;
  stream: string;
  group: string;
  consumer: string;
  state: GroupState;
  claimIdleMs: number;
  claimIntervalMs: number;
  /** The group is destroyed when the last member of this process closes. */
  ephemeral: boolean;
}

/** The groups of a stream; none when the stream does not exist. */
export async function readGroups(client: Redis, stream: string): Promise<ReturnType<typeof parseGroups>> {
  try {
    return parseGroups(await client.call('XINFO', 'GROUPS', stream));
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('ERR no such key')) return [];
    throw error;
  }
}

/**
 * One member of a consumer group. Records come from, first, entries nacked back to it (XCLAIM to
 * itself, which bumps the delivery count), then entries other members left idle for claimIdleMs
 * (XAUTOCLAIM: how a crashed member's entries come back), then new entries (XREADGROUP >). What it
 * holds stays in its pending list, refreshed every claimIdleMs / 3 so no live member loses it.
 */
export class RedisStreamsReceiver implements Receiver {
  private readonly held = new Set<string>();
  private readonly nacked: Set<string>;
  private readonly keeper: NodeJS.Timeout;
  private nextSweep = 0;
  private sweepFrom = '0-0';
  private closed = false;

  constructor(
    private readonly m: Member,
    ownPending: string[],
    private readonly release: () => void,
  ) {
    this.nacked = new Set(ownPending);
    this.keeper = setInterval(() => void this.keepOwned(), Math.max(1, Math.floor(m.claimIdleMs / 3)));
    this.keeper.unref();
  }

  async receive(max: number, signal: AbortSignal): Promise<IncomingRecord[]> {
    while (!signal.aborted && !this.closed) {
      let records: IncomingRecord[];
      if (this.nacked.size > 0) records = await this.claim([...this.nacked].slice(0, max));
      else if (Date.now() >= this.nextSweep) records = await this.sweep(max);
      else records = await this.read(max);
      for (const { id } of records) this.held.add(id);
      if (records.length > 0) return records;
    }
    return [];
  }

  /** One XACK per batch. A nack needs no broker call: the next receive claims the entry back. */
  async settle(acks: readonly IncomingRecord[], nacks: readonly IncomingRecord[]): Promise<void> {
    for (const { id } of nacks) if (this.held.delete(id)) this.nacked.add(id);
    for (const { id } of acks) this.held.delete(id);
    if (acks.length > 0) await this.ack(acks.map(({ id }) => id));
  }

  /** Entries not yet delivered to the group (XINFO GROUPS `lag`, Redis 7); pending ones are not counted. */
  async lag(): Promise<ConsumerLag> {
    const { client, stream, group } = this.m;
    const lag = (await readGroups(client, stream)).find(({ name }) => name === group)?.lag;
    return lag === undefined ? {} : { messages: lag };
  }

  /**
   * What it still holds is marked as delivered long ago, so the next sweep of any member takes it at
   * once (Redis has no unowned pending state). A member left with nothing pending is deleted; so is
   * nothing to do when the group itself is gone. The last member of an ephemeral group destroys it
   * (consumers and pending list with it) instead.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keeper);
    const { client, reader, stream, group, consumer, state, ephemeral } = this.m;
    reader.disconnect();
    const ids = [...this.held, ...this.nacked];
    try {
      if (ephemeral && state.members.size === 1) await client.xgroup('DESTROY', stream, group);
      else if (ids.length > 0) await client.xclaim(stream, group, consumer, 0, ...ids, 'TIME', 1, 'JUSTID');
      else if (parsePending(await client.xpending(stream, group, '-', '+', 1, consumer)).length === 0) {
        await client.xgroup('DELCONSUMER', stream, group, consumer);
      }
    } catch (error) {
      if (!(error instanceof Error && GONE.test(error.message))) throw error;
    } finally {
      this.release();
    }
  }

  private async read(max: number): Promise<IncomingRecord[]> {
    const { reader, stream, group, consumer, state } = this.m;
    const block = Math.max(1, Math.min(BLOCK_MS, this.nextSweep - Date.now()));
    const args = ['GROUP', group, consumer, 'COUNT', max, 'BLOCK', block, 'STREAMS', stream, '>'];
    const entries = parseReadReply(await reader.callBuffer('XREADGROUP', ...args));
    state.lastId = entries[entries.length - 1]?.id ?? state.lastId;
    return entries.map((entry) => toRecord(entry, 1, stream));
  }

  /** Takes over entries idle for claimIdleMs (their member died); those already handled are only acked. */
  private async sweep(max: number): Promise<IncomingRecord[]> {
    const { client, stream, group, consumer, claimIdleMs, claimIntervalMs, state } = this.m;
    const args = [stream, group, consumer, claimIdleMs, this.sweepFrom, 'COUNT', max, 'JUSTID'];
    const { cursor, items } = parseCursorReply(await client.call('XAUTOCLAIM', ...args), 'XAUTOCLAIM');
    this.sweepFrom = cursor;
    this.nextSweep = cursor !== '0-0' && items.length >= max ? 0 : Date.now() + claimIntervalMs;
    if (items.some((id) => state.unacked.has(id))) await this.ack([]);
    const taken = items.filter((id) => !state.unacked.has(id) && !this.held.has(id) && !this.nacked.has(id));
    return taken.length > 0 ? this.claim(taken) : [];
  }

  /** XCLAIM to itself, which bumps the delivery count, and the counts, in one round trip. */
  private async claim(ids: string[]): Promise<IncomingRecord[]> {
    const { client, stream, group, consumer } = this.m;
    const pipeline = client.pipeline().callBuffer('XCLAIM', stream, group, consumer, 0, ...ids);
    for (const id of ids) pipeline.call('XPENDING', stream, group, id, id, 1);
    const [claimed, ...pending] = ((await pipeline.exec()) ?? []).map(([error, reply]) => {
      if (error) throw error;
      return reply;
    });
    for (const id of ids) this.nacked.delete(id);
    const counts = new Map(pending.flatMap(parsePending));
    return parseEntries(claimed, 'XCLAIM').map((entry) => toRecord(entry, counts.get(entry.id) ?? 1, stream));
  }

  private async ack(ids: string[]): Promise<void> {
    const { client, stream, group, state } = this.m;
    const all = [...new Set([...ids, ...state.unacked])];
    if (all.length === 0) return;
    try {
      await client.xack(stream, group, ...all);
      for (const id of all) state.unacked.delete(id);
    } catch (error) {
      for (const id of ids) state.unacked.add(id);
      throw error;
    }
  }

  /** Resets the idle time of what it holds (JUSTID leaves delivery counts alone). */
  private async keepOwned(): Promise<void> {
    const ids = [...this.held, ...this.nacked];
    if (ids.length === 0 || this.closed) return;
    const { client, stream, group, consumer } = this.m;
    await client.xclaim(stream, group, consumer, 0, ...ids, 'JUSTID').catch(() => undefined);
  }
}
