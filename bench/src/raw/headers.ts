import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  CLOUDEVENTS_SPEC_VERSION,
  CORRELATION_HEADER,
  type Headers,
  JSON_CONTENT_TYPE,
  RESERVED_HEADERS,
} from '@eventport/core';

/**
 * What a raw client puts on the wire. `sdk-headers`: the headers the SDK writes on every message (see
 * sdkHeaders), in the backend's own binding, read back on the consume side; `bare`: the body alone.
 */
export type WireMode = 'sdk-headers' | 'bare';

/** The SDK's default CloudEvents source (packages/core/src/portable/adapter.ts). */
const SOURCE = process.env.EVENTPORT_SOURCE ?? `urn:eventport:${hostname()}`;

/**
 * The headers the portable adapter writes on a message published outside a handler, with the same
 * names, values and order (prepare() in packages/core/src/portable/adapter.ts): the correlation id (the
 * message's own id at the start of a flow) and the CloudEvents attributes in binary mode. Drivers
 * rename the `ce-` ones where their binding says so: cloudEventsNames() below.
 */
export function sdkHeaders(topic: string): { id: string; time: string; headers: Headers } {
  const id = randomUUID();
  const time = new Date().toISOString();
  return {
    id,
    time,
    headers: {
      [CORRELATION_HEADER]: id,
      [RESERVED_HEADERS.specversion]: CLOUDEVENTS_SPEC_VERSION,
      [RESERVED_HEADERS.id]: id,
      [RESERVED_HEADERS.source]: SOURCE,
      [RESERVED_HEADERS.type]: topic,
      [RESERVED_HEADERS.time]: time,
      [RESERVED_HEADERS.contentType]: JSON_CONTENT_TYPE,
    },
  };
}

/** `ce-` names as a binding spells them: Kafka `ce_id`, AMQP `cloudEvents:id` (as the drivers translate them). */
export function cloudEventsNames(headers: Headers, prefix: string): Headers {
  const renamed: Headers = {};
  for (const name in headers) {
    renamed[name.startsWith('ce-') ? prefix + name.slice(3) : name] = headers[name] as string;
  }
  return renamed;
}

/** Header values a client hands over as Buffers or unknowns (kafkajs, amqplib tables), as strings. */
export function stringHeaders(values: Record<string, unknown> | undefined): Headers {
  const headers: Headers = {};
  for (const name in values) {
    const value = values[name];
    if (typeof value === 'string') headers[name] = value;
    else if (Buffer.isBuffer(value)) headers[name] = value.toString('utf8');
  }
  return headers;
}
