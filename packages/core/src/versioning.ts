import { EventportError, InvalidMessageError } from './errors.js';
import { formatIssues, type StandardSchemaV1, validateSync } from './standard-schema.js';

type Output<S extends StandardSchemaV1> = StandardSchemaV1.InferOutput<S>;

/** CloudEvents-friendly header carrying the schema version of `data`. */
export const EVENT_VERSION_HEADER = 'event-version';

export type Upcaster = (data: unknown) => unknown;

export interface VersionedEventOptions {
  /** Version assumed for messages without an event-version header (published before versioning). Default 1. */
  unversionedIs?: number;
}

/**
 * One event type across its schema versions. Upcasters are edges between versions; decoding finds a
 * path from the message's version to the wanted one (shortest, breadth-first), applies each step,
 * then validates against the wanted version's schema.
 */
export class VersionedEvent<Latest extends StandardSchemaV1 = StandardSchemaV1> {
  private readonly schemas = new Map<number, StandardSchemaV1>();
  private readonly upcasters = new Map<number, Map<number, Upcaster>>();

  constructor(
    readonly type: string,
    private readonly options: VersionedEventOptions = {},
  ) {}

  /** Declares `schema` (any synchronous Standard Schema) as version `version`; the highest declared version is the latest. */
  version<S extends StandardSchemaV1>(version: number, schema: S): VersionedEvent<S> {
    if (!Number.isInteger(version) || version < 1) {
      throw new EventportError('INVALID_ARGUMENT', `event versions are positive integers (got ${version})`);
    }
    this.schemas.set(version, schema);
    return this as unknown as VersionedEvent<S>;
  }

  /** Registers a conversion of `from` payloads into `to` payloads (usually to = from + 1). */
  upcast(from: number, to: number, upcaster: Upcaster): this {
    const edges = this.upcasters.get(from) ?? new Map<number, Upcaster>();
    edges.set(to, upcaster);
    this.upcasters.set(from, edges);
    return this;
  }

  get latest(): number {
    if (this.schemas.size === 0)
      throw new EventportError('INVALID_ARGUMENT', `event "${this.type}" declares no version`);
    return Math.max(...this.schemas.keys());
  }

  /** Validates `data` as `version` (default latest) and returns it with the header to publish. */
  encode(data: unknown, version = this.latest): { data: Output<Latest>; headers: Record<string, string> } {
    const result = validateSync(this.schemaOf(version), data);
    if (result.issues) {
      throw new EventportError(
        'INVALID_ARGUMENT',
        `"${this.type}" v${version} payload is invalid: ${formatIssues(result.issues)}`,
      );
    }
    return { data: result.value as Output<Latest>, headers: { [EVENT_VERSION_HEADER]: String(version) } };
  }

  /** Upcasts a received payload to `target` (default latest) and validates it; InvalidMessageError otherwise. */
  decode(data: unknown, headers: Record<string, string>, target = this.latest): Output<Latest> {
    const header = headers[EVENT_VERSION_HEADER];
    const from = header === undefined ? (this.options.unversionedIs ?? 1) : Number(header);
    if (!Number.isInteger(from) || !this.schemas.has(from)) {
      throw new InvalidMessageError(
        `"${this.type}" has no version ${header ?? from}; known: ${[...this.schemas.keys()].join(', ')}`,
      );
    }
    const path = this.pathBetween(from, target);
    if (!path) throw new InvalidMessageError(`"${this.type}" has no upcaster path from v${from} to v${target}`);
    let current = data;
    for (let step = 1; step < path.length; step++) {
      const [stepFrom, stepTo] = [path[step - 1] as number, path[step] as number];
      try {
        current = this.upcasters.get(stepFrom)?.get(stepTo)?.(current);
      } catch (error) {
        throw new InvalidMessageError(`"${this.type}" upcaster v${stepFrom}→v${stepTo} failed: ${String(error)}`, {
          cause: error,
        });
      }
    }
    const result = validateSync(this.schemaOf(target), current);
    if (result.issues) {
      throw new InvalidMessageError(
        `"${this.type}" v${from} payload upcast to v${target} is invalid: ${formatIssues(result.issues)}`,
      );
    }
    return result.value as Output<Latest>;
  }

  private schemaOf(version: number): StandardSchemaV1 {
    const schema = this.schemas.get(version);
    if (!schema) throw new EventportError('INVALID_ARGUMENT', `"${this.type}" has no version ${version}`);
    return schema;
  }

  /** Shortest chain of versions from → to through registered upcasters, or undefined. */
  private pathBetween(from: number, to: number): number[] | undefined {
    const previous = new Map<number, number>([[from, from]]);
    const queue = [from];
    while (queue.length > 0) {
      const version = queue.shift() as number;
      if (version === to) {
        const path = [to];
        while (path[0] !== from) path.unshift(previous.get(path[0] as number) as number);
        return path;
      }
      for (const next of this.upcasters.get(version)?.keys() ?? []) {
        if (!previous.has(next)) {
          previous.set(next, version);
          queue.push(next);
        }
      }
    }
    return undefined;
  }
}

export function defineEvent(type: string, options?: VersionedEventOptions): VersionedEvent {
  return new VersionedEvent(type, options);
}
