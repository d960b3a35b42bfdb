import { backoffDelay, describeError, EventportError, type Logger } from '@eventport/core';
import type { StoredEvent } from './types.js';

/** Applies one event to a read model; `tx` is the transaction the checkpoint moves in. */
export type ProjectionHandler<Tx> = (event: StoredEvent, tx: Tx) => Promise<void> | void;

export interface ProjectOptions<Tx> {
  /** Events applied per transaction. Default 100. */
  batchSize?: number;
  /** How often to look for new events once caught up (appends in this process wake it at once). Default 500 ms. */
  pollIntervalMs?: number;
  /** Only these event types reach the handler (the checkpoint still moves past the others). */
  types?: readonly string[];
  /** Empties the read model, in the transaction that resets the checkpoint; rebuild() needs it. */
  reset?: (tx: Tx) => Promise<void> | void;
  /** A failed batch (rolled back, tried again with backoff). Default: logged as a warning. */
  onError?: (error: unknown) => void;
}

export interface RebuildProgress {
  name: string;
  /** Events applied since the reset. */
  applied: number;
  /** The checkpoint now. */
  position: number;
  /** The store's last position when the rebuild started: done when position reaches it. */
  head: number;
}

export interface RebuildOptions {
  /** Called after every batch. */
  onProgress?: (progress: RebuildProgress) => void;
}

/** A running catch-up subscription over readAll(). */
export interface Projection {
  readonly name: string;
  /** The checkpoint as this instance last committed or read it. */
  readonly position: number;
  readonly running: boolean;
  /** Resolves with the checkpoint once every event committed before the call is applied. */
  caughtUp(timeoutMs?: number): Promise<number>;
  /** Finishes the batch in progress (it commits), then stops. */
  stop(): Promise<void>;
}

/** What a projection needs from its store. */
export interface ProjectionBackend<Tx> {
  /** Runs `work` in one transaction holding the checkpoint; what it returns becomes the checkpoint. */
  withCheckpoint(name: string, work: (checkpoint: number, tx: Tx) => Promise<number>): Promise<number>;
  resetCheckpoint(name: string, reset: (tx: Tx) => Promise<void> | void): Promise<void>;
  readBatch(fromPosition: number, limit: number, types: readonly string[] | undefined, tx: Tx): Promise<StoredEvent[]>;
  headPosition(tx?: Tx): Promise<number>;
}

interface Waiter {
  target: number;
  resolve: (position: number) => void;
}

export class ProjectionRunner<Tx> implements Projection {
  position = 0;
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly onError: (error: unknown) => void;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private notified = false;
  private wakeUp: (() => void) | undefined;
  private waiters: Waiter[] = [];

  constructor(
    readonly name: string,
    private readonly handler: ProjectionHandler<Tx>,
    private readonly options: ProjectOptions<Tx>,
    private readonly backend: ProjectionBackend<Tx>,
    logger: Logger,
  ) {
    this.batchSize = options.batchSize ?? 100;
    this.pollIntervalMs = options.pollIntervalMs ?? 500;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) {
      throw new EventportError('INVALID_ARGUMENT', `projection batchSize must be a positive integer`);
    }
    this.onError =
      options.onError ??
      ((error) => logger.warn('projection batch failed', { projection: name, error: describeError(error) }));
  }

  get running(): boolean {
    return this.loop !== undefined;
  }

  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeUp?.();
    await this.loop;
    this.loop = undefined;
  }

  /** New events may exist (an append in this process). */
  notify(): void {
    this.notified = true;
    this.wakeUp?.();
  }

  async caughtUp(timeoutMs = 30_000): Promise<number> {
    const head = await this.backend.headPosition();
    if (this.position >= head) return this.position;
    if (!this.running) {
      throw new EventportError('CLOSED', `projection "${this.name}" is stopped at ${this.position} of ${head}`);
    }
    this.notify();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        target: head,
        resolve: (position) => {
          clearTimeout(timer);
          resolve(position);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((each) => each !== waiter);
        reject(
          new EventportError(
            'TIMEOUT',
            `projection "${this.name}" did not reach position ${head} within ${timeoutMs} ms (at ${this.position})`,
          ),
        );
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** One transaction: reads a batch after the checkpoint, applies it, moves the checkpoint. */
  async runBatch(): Promise<{ applied: number; position: number; full: boolean }> {
    let applied = 0;
    const { types } = this.options;
    const position = await this.backend.withCheckpoint(this.name, async (checkpoint, tx) => {
      // Read before the batch: every position up to it is committed (commit order is position order),
      // so a filtered batch that comes back short may move the checkpoint that far.
      const head = types ? await this.backend.headPosition(tx) : undefined;
      const events = await this.backend.readBatch(checkpoint + 1, this.batchSize, types, tx);
      for (const event of events) {
        await this.handler(event, tx);
        applied++;
      }
      const last = events.at(-1)?.position ?? checkpoint;
      return head !== undefined && events.length < this.batchSize ? Math.max(last, head) : last;
    });
    this.position = position;
    const reached = this.waiters.filter((waiter) => waiter.target <= position);
    this.waiters = this.waiters.filter((waiter) => waiter.target > position);
    for (const waiter of reached) waiter.resolve(position);
    return { applied, position, full: applied === this.batchSize };
  }

  /** Stops, resets read model and checkpoint in one transaction, replays up to the head, resumes. */
  async rebuild(options: RebuildOptions = {}): Promise<{ applied: number; position: number }> {
    const { reset } = this.options;
    if (!reset) {
      throw new EventportError(
        'INVALID_ARGUMENT',
        `projection "${this.name}" has no reset option: rebuild() must know how to empty its read model`,
      );
    }
    const wasRunning = this.running;
    await this.stop();
    try {
      await this.backend.resetCheckpoint(this.name, reset);
      this.position = 0;
      const head = await this.backend.headPosition();
      let applied = 0;
      while (this.position < head) {
        const batch = await this.runBatch();
        applied += batch.applied;
        options.onProgress?.({ name: this.name, applied, position: batch.position, head });
        if (batch.applied === 0 && this.position < head) break; // another instance moved it; nothing left for us
      }
      return { applied, position: this.position };
    } finally {
      if (wasRunning) this.start();
    }
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      try {
        const { full } = await this.runBatch();
        failures = 0;
        if (!full) await this.pause(this.pollIntervalMs, true);
      } catch (error) {
        failures++;
        this.onError(error);
        // New events do not make a failing handler or database healthy again.
        await this.pause(backoffDelay(failures, 100, 10_000), false);
      }
    }
  }

  private pause(ms: number, wakeOnNotify: boolean): Promise<void> {
    if (this.stopping || (wakeOnNotify && this.notified)) {
      this.notified = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        this.notified = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = () => {
        if (this.stopping || wakeOnNotify) done();
      };
    });
  }
}
