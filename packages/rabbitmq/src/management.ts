import { type ErrorCode, EventportError } from '@eventport/core';

const HTTP_CODES: Partial<Record<number, ErrorCode>> = {
  401: 'PERMISSION_DENIED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
};

/**
 * listGroups through the management plugin's HTTP API: AMQP 0-9-1 cannot list queues or bindings.
 * A group is a queue `<topic>.<group>` bound to the topic's exchange (so queues of other tools bound
 * to it are not groups). Credentials are the management URL's, else the AMQP URL's (amqplib's
 * guest/guest default included), kept in this closure so no field or error carries them.
 */
export function managementGroupLister(
  managementUrl: string,
  amqpUrl: URL,
): (topic: string, signal: AbortSignal) => Promise<string[]> {
  const api = new URL(managementUrl);
  const login = api.username ? api : amqpUrl;
  const credential = `${decodeURIComponent(login.username || 'guest')}:${decodeURIComponent(login.password || 'guest')}`;
  const authorization = `Basic ${Buffer.from(credential).toString('base64')}`;
  // fetch refuses URLs with credentials; a path prefix (management.path_prefix) is kept.
  api.username = api.password = '';
  api.pathname = api.pathname.replace(/\/?$/, '/');
  const vhost = encodeURIComponent(decodeURIComponent(amqpUrl.pathname.slice(1)) || '/');
  const get = async (path: string, what: string, signal: AbortSignal): Promise<unknown> => {
    const response = await fetch(new URL(path, api), { headers: { authorization }, signal });
    if (!response.ok) {
      const { status } = response;
      await response.body?.cancel().catch(() => undefined);
      // 5xx: a node starting or stopping, retryable as 320 and 541 are over AMQP.
      throw new EventportError(
        status >= 500 ? 'CONNECTION' : (HTTP_CODES[status] ?? 'INTERNAL'),
        `the RabbitMQ management API answered ${status} to reading ${what}` +
          (status === 404 ? ' (no such exchange or vhost, or managementUrl misses a path prefix)' : ''),
      );
    }
    return response.json();
  };
  return async (topic, signal) => {
    const exchange = `api/exchanges/${vhost}/${encodeURIComponent(topic)}`;
    // The bindings endpoint answers 200 [] for an exchange, or a vhost, that does not exist: the exchange
    // itself is asked too, so a topic never declared is NOT_FOUND rather than a topic without groups.
    const [, bindings] = await Promise.all([
      get(`${exchange}?columns=name`, `exchange "${topic}"`, signal),
      get(`${exchange}/bindings/source`, `the bindings of exchange "${topic}"`, signal),
    ]);
    const prefix = `${topic}.`;
    const groups = (bindings as { destination: string; destination_type: string }[])
      .filter((binding) => binding.destination_type === 'queue' && binding.destination.startsWith(prefix))
      .map((binding) => binding.destination.slice(prefix.length));
    return [...new Set(groups)];
  };
}
