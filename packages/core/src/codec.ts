import { InvalidMessageError } from './errors.js';

/**
 * Turns `data` into bytes and back. The content type travels in the `content-type` header so a
 * consumer decodes what the producer encoded, whatever codec each side was configured with.
 */
export interface Codec {
  /** The body must be the codec's own: eventport and drivers keep it without copying. */
  encode(data: unknown): { body: Buffer; contentType: string };
  decode(body: Buffer, contentType: string | undefined): unknown;
}

export const JSON_CONTENT_TYPE = 'application/json';
export const BINARY_CONTENT_TYPE = 'application/octet-stream';

/**
 * JSON for values, raw bytes for Buffers and Uint8Arrays, so binary payloads round-trip untouched
 * (a Buffer inside a JSON object would come back as `{type:'Buffer',data:[...]}`; send it top-level).
 */
export const jsonCodec: Codec = {
  encode(data) {
    if (data instanceof Uint8Array) {
      // A copy: the caller may reuse its buffer once publish returns.
      return { body: Buffer.from(data), contentType: BINARY_CONTENT_TYPE };
    }
    if (data === undefined) throw new TypeError('data must not be undefined (use null for "no data")');
    return { body: Buffer.from(JSON.stringify(data), 'utf8'), contentType: JSON_CONTENT_TYPE };
  },
  decode(body, contentType) {
    if (contentType === BINARY_CONTENT_TYPE) return body;
    if (contentType !== undefined && contentType !== JSON_CONTENT_TYPE && !contentType.endsWith('+json')) {
      throw new InvalidMessageError(`cannot decode content-type "${contentType}" with the JSON codec`);
    }
    try {
      return JSON.parse(body.toString('utf8'));
    } catch (error) {
      const preview = body.subarray(0, 64).toString('utf8');
      throw new InvalidMessageError(`payload is not valid JSON (starts with ${JSON.stringify(preview)})`, {
        cause: error,
      });
    }
  },
};
