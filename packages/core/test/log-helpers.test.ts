import { OffsetLog, PushBuffer } from '@eventport/core';
import { describe, expect, test } from '@jest/globals';

describe('OffsetLog', () => {
  test('commits only the settled prefix, one write at a time, the newest point replacing a waiting one', async () => {
    const commits: number[] = [];
    let release: () => void = () => undefined;
    const log = new OffsetLog<number>(
      async (offset) => {
        commits.push(offset);
        if (commits.length === 1) await new Promise<void>((resolve) => (release = resolve));
      },
      () => undefined,
    );
    for (let offset = 0; offset < 6; offset++) log.track(offset);
    log.ack(1);
    expect(commits).toEqual([]);
    log.ack(0);
    expect(commits).toEqual([1]);
    log.ack(2);
    log.ack(3);
    log.ack(5);
    // 2 and 3 arrived while the first commit was in flight: one commit of 3 follows it, not two.
    release();
    await log.flush();
    expect(commits).toEqual([1, 3]);
    expect(log.unsettled).toBe(2);
  });

  test('a nack redelivers that record only, in log order, and the commit point waits for it', async () => {
    const commits: number[] = [];
    const log = new OffsetLog<number>(
      async (offset) => void commits.push(offset),
      () => undefined,
    );
    for (let offset = 0; offset < 5; offset++) log.track(offset);
    log.ack(0);
    log.nack(3);
    log.nack(1);
    log.ack(2);
    log.ack(4);
    expect(log.takeRedeliveries(10)).toEqual([1, 3]);
    await log.flush();
    expect(commits).toEqual([0]);
    log.ack(1);
    await log.flush();
    expect(commits).toEqual([0, 2]);
    log.ack(3);
    await log.flush();
    expect(commits).toEqual([0, 2, 4]);
    expect(log.unsettled).toBe(0);
  });

  test('reset forgets a revoked partition; a failed commit is reported and covered by the next', async () => {
    const errors: unknown[] = [];
    let fail = true;
    const commits: number[] = [];
    const log = new OffsetLog<number>(
      async (offset) => {
        if (fail) throw new Error('coordinator moved');
        commits.push(offset);
      },
      (error) => errors.push(error),
    );
    log.track(0);
    log.track(1);
    log.ack(0);
    await log.flush();
    expect(errors).toHaveLength(1);
    fail = false;
    log.ack(1);
    await log.flush();
    expect(commits).toEqual([1]);
    log.track(2);
    log.nack(2);
    log.reset();
    expect(log.takeRedeliveries(10)).toEqual([]);
    expect(log.unsettled).toBe(0);
  });
});

describe('PushBuffer', () => {
  const record = (id: string) => ({ id, headers: {}, body: Buffer.alloc(0), meta: {} });

  test('push resolves once core has taken the records; receive never hands out more than asked', async () => {
    const buffer = new PushBuffer();
    let taken = false;
    const pushed = buffer.push(record('a'), record('b'), record('c')).then(() => (taken = true));
    expect((await buffer.receive(2, new AbortController().signal)).map((r) => r.id)).toEqual(['a', 'b']);
    await Promise.resolve();
    expect(taken).toBe(false);
    expect((await buffer.receive(5, new AbortController().signal)).map((r) => r.id)).toEqual(['c']);
    await pushed;
    expect(taken).toBe(true);
  });

  test('an aborted receive returns nothing; a failure is thrown once nothing is left', async () => {
    const buffer = new PushBuffer();
    expect(await buffer.receive(5, AbortSignal.timeout(20))).toEqual([]);
    void buffer.push(record('x'));
    buffer.fail(new Error('channel closed'));
    expect((await buffer.receive(5, new AbortController().signal)).map((r) => r.id)).toEqual(['x']);
    await expect(buffer.receive(5, new AbortController().signal)).rejects.toThrow('channel closed');
  });
});
