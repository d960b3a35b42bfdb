import { AsyncLocalStorage } from 'node:async_hooks';

export const CORRELATION_HEADER = 'correlation-id';
export const CAUSATION_HEADER = 'causation-id';

interface HandlingContext {
  messageId: string;
  correlationId: string;
}

const storage = new AsyncLocalStorage<HandlingContext>();

/** Runs `fn` as the handling of one message, so publishes inside it inherit correlation and causation. */
export function runInMessageContext<R>(message: { id: string; headers: Record<string, string> }, fn: () => R): R {
  const correlationId = message.headers[CORRELATION_HEADER] || message.id;
  return storage.run({ messageId: message.id, correlationId }, fn);
}

/**
 * Runs `fn` as if no message were being handled: what it publishes starts a new causation chain.
 * For infrastructure that republishes a message (dead letters, replays) rather than reacting to it.
 */
export function runOutsideMessageContext<R>(fn: () => R): R {
  return storage.exit(fn);
}

/** The message being handled by the current async call chain, if any. */
export function currentMessageContext(): HandlingContext | undefined {
  return storage.getStore();
}

/**
 * Headers for a new message: the correlation id is kept from the message being handled (or is the new
 * message's own id at the start of a flow); the causation id is the handled message's id. Explicit
 * headers from the caller win.
 */
export function correlationHeaders(newMessageId: string, headers?: Record<string, string>): Record<string, string> {
  const context = storage.getStore();
  const derived: Record<string, string> = { [CORRELATION_HEADER]: context?.correlationId ?? newMessageId };
  if (context) derived[CAUSATION_HEADER] = context.messageId;
  return headers === undefined ? derived : Object.assign(derived, headers);
}
