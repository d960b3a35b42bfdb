import { EventportError } from './errors.js';

/** How long each kind of broker call may take before it fails with code TIMEOUT. */
export interface Deadlines {
  /** connect(), including the client's own handshake and authentication. Default 10 s. */
  connectMs: number;
  /** A whole publish / publishBatch, its retries included. Default 30 s. */
  publishMs: number;
  /** health(): it answers `{ ok: false }` by then. Default 5 s. */
  healthMs: number;
  /** Topic administration and opening a receiver. Default 30 s. */
  adminMs: number;
  /** One settle (ack/nack batch) call. Default 10 s. */
  settleMs: number;
  /** How long one receive() may wait for records before core asks it to return. Default 5 s. */
  receiveWaitMs: number;
  /** disconnect(): after this the connection is dropped even if the broker does not answer. Default 10 s. */
  closeMs: number;
}

export const DEFAULT_DEADLINES: Deadlines = {
  connectMs: 10_000,
  publishMs: 30_000,
  healthMs: 5_000,
  adminMs: 30_000,
  settleMs: 10_000,
  receiveWaitMs: 5_000,
  closeMs: 10_000,
};

/** Extra time a driver gets to honour an aborted signal before core stops waiting for it. */
export const ABORT_GRACE_MS = 2_000;

/**
 * Runs `call` with a signal that aborts after `ms` (or with `parent`), and stops waiting for it at
 * that point even when the call ignores its signal: the caller always gets an answer in time.
 */
export async function withDeadline<T>(
  ms: number,
  what: string,
  call: (signal: AbortSignal) => Promise<T>,
  parent?: AbortSignal,
): Promise<T> {
  const controller = new AbortController();
  const timeout = () =>
    new EventportError('TIMEOUT', `${what} did not answer within ${ms} ms; check that the broker is reachable`);
  let timer: NodeJS.Timeout | undefined;
  let abandon: (error: unknown) => void = () => undefined;
  const abandoned = new Promise<never>((_resolve, reject) => {
    abandon = reject;
  });
  abandoned.catch(() => undefined);
  const stop = (reason: unknown) => {
    controller.abort(reason);
    abandon(reason);
  };
  const onParentAbort = () => stop(parent?.reason ?? new EventportError('CLOSED', `${what} was cancelled`));
  if (parent?.aborted) onParentAbort();
  else parent?.addEventListener('abort', onParentAbort, { once: true });
  timer = setTimeout(() => stop(timeout()), ms);
  try {
    let running: Promise<T>;
    try {
      running = call(controller.signal);
    } catch (error) {
      running = Promise.reject(error);
    }
    // A call that rejects after we gave up on it must not surface as an unhandled rejection.
    running.catch(() => undefined);
    return await Promise.race([running, abandoned]);
  } finally {
    clearTimeout(timer);
    timer = undefined;
    parent?.removeEventListener('abort', onParentAbort);
  }
}

/**
 * Runs `use` with a promise that rejects with the signal's reason once `signal` aborts, to race any
 * number of calls against (for drivers whose client takes no signal). The listener is removed when
 * `use` settles: one signal shared by many calls (a publish and all its retries) collects none.
 */
export async function withAbortion<T>(signal: AbortSignal, use: (abortion: Promise<never>) => Promise<T>): Promise<T> {
  let onAbort: () => void = () => undefined;
  const abortion = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(signal.reason);
  });
  abortion.catch(() => undefined);
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await use(abortion);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** `promise`, or the signal's reason as a rejection once `signal` aborts, whichever comes first. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return withAbortion(signal, (abortion) => Promise.race([promise, abortion]));
}
